//! A timestamp field to readable text, with chrono; unit-tested natively.

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;
use weir_plugin::{Emit, Error, Record, Transformer};

/// Stage config; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The field holding the timestamp.
    pub field: String,
    /// What the field holds: epoch `seconds`, epoch `milliseconds`, or `rfc3339` text.
    pub input: Input,
    /// chrono's strftime: every specifier it knows (%Y-%m-%d %H:%M:%S, %A, %B, %z, %Z, ...).
    pub format: String,
    /// A fixed offset from UTC, "+HH:MM" or "-HH:MM".
    pub utc_offset: String,
    /// An IANA time zone, e.g. "America/Chicago" (daylight saving applied); wins over
    /// `utc_offset`.
    pub timezone: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Input {
    Seconds,
    Milliseconds,
    Rfc3339,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            field: "timestamp".into(),
            input: Input::Seconds,
            format: "%Y-%m-%d %H:%M:%S".into(),
            utc_offset: "+00:00".into(),
            timezone: None,
        }
    }
}

/// A configured transform, checked once at init.
#[derive(Debug)]
pub struct Readable {
    field: String,
    input: Input,
    format: Vec<Item<'static>>,
    zone: Zone,
}

#[derive(Debug, Clone, Copy)]
enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

/// Years outside 0..=9999 are refused rather than printed in a form nobody parses.
const YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

impl Transformer for Readable {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let format = StrftimeItems::new(&config.format).parse_to_owned().map_err(|_| {
            format!(
                "format `{}` has a specifier chrono does not know (see chrono's strftime docs)",
                config.format
            )
        })?;
        let zone = match &config.timezone {
            Some(name) => Zone::Named(name.parse().map_err(|_| {
                format!("timezone `{name}` is not an IANA time zone name like Europe/Paris or America/Chicago")
            })?),
            None => Zone::Fixed(parse_offset(&config.utc_offset)?),
        };
        Ok(Readable { field: config.field, input: config.input, format, zone })
    }

    fn transform(&mut self, record: &Record, out: &mut Emit) -> Result<(), Error> {
        out.value(&self.apply(record.value)?);
        Ok(())
    }
}

impl Readable {
    pub fn from_config(config: &str) -> Result<Self, String> {
        <Readable as Transformer>::from_config(config).map_err(String::from)
    }

    /// The value with its timestamp field rewritten in place: every other byte (fields,
    /// their order, spacing) untouched, no tree built.
    pub fn apply(&self, value: &[u8]) -> Result<Vec<u8>, String> {
        let [slot] =
            weir_plugin::json::fields(value, [self.field.as_str()]).map_err(|e| {
                match e.classify() {
                    serde_json::error::Category::Data => "value is not a JSON object".to_string(),
                    _ => format!("value is not valid JSON: {e}"),
                }
            })?;
        let slot = slot.ok_or_else(|| format!("field `{}` is missing", self.field))?;
        let current: Value = serde_json::from_str(slot.get()).map_err(|e| e.to_string())?;
        let instant =
            self.instant(&current).map_err(|why| format!("field `{}` {why}", self.field))?;
        let text = self.format(instant)?;
        let span = weir_plugin::json::span(value, slot);
        let mut out = Vec::with_capacity(value.len() + text.len());
        out.extend_from_slice(&value[..span.start]);
        serde_json::to_writer(&mut out, &text).map_err(|e| e.to_string())?;
        out.extend_from_slice(&value[span.end..]);
        Ok(out)
    }

    /// Epoch seconds in the configured zone and format.
    pub fn format_seconds(&self, seconds: i64) -> Result<String, String> {
        let instant = DateTime::from_timestamp(seconds, 0).ok_or_else(|| outside(seconds))?;
        self.format(instant)
    }

    fn instant(&self, value: &Value) -> Result<DateTime<Utc>, String> {
        match (self.input, value) {
            (Input::Rfc3339, Value::String(text)) => DateTime::parse_from_rfc3339(text)
                .map(|t| t.to_utc())
                .map_err(|e| format!("is not an RFC 3339 timestamp ({e})")),
            (Input::Rfc3339, other) => {
                Err(format!("must be an RFC 3339 string, found {}", kind(other)))
            }
            (Input::Seconds, Value::Number(n)) => from_epoch(n, 1),
            (Input::Milliseconds, Value::Number(n)) => from_epoch(n, 1000),
            (_, other) => {
                Err(format!("must be epoch {} as a number, found {}", self.unit(), kind(other)))
            }
        }
    }

    fn unit(&self) -> &'static str {
        if self.input == Input::Milliseconds {
            "milliseconds"
        } else {
            "seconds"
        }
    }

    fn format(&self, instant: DateTime<Utc>) -> Result<String, String> {
        let text = match self.zone {
            Zone::Fixed(offset) => render(&instant.with_timezone(&offset), &self.format),
            Zone::Named(tz) => render(&instant.with_timezone(&tz), &self.format),
        };
        text.ok_or_else(|| outside(instant.timestamp()))
    }
}

/// The formatted text, or None outside years 0..=9999.
fn render<Tz: TimeZone>(time: &DateTime<Tz>, format: &[Item<'static>]) -> Option<String>
where
    Tz::Offset: std::fmt::Display,
{
    YEARS.contains(&time.year()).then(|| time.format_with_items(format.iter()).to_string())
}

/// Whole epoch units to an instant; fractions are truncated toward the past.
fn from_epoch(n: &serde_json::Number, per_second: i64) -> Result<DateTime<Utc>, String> {
    let units = match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i,
        (None, Some(f)) if f.is_finite() && f.abs() < 1e18 => f.floor() as i64,
        _ => return Err(format!("{n} is outside years 0..9999")),
    };
    let seconds = units.div_euclid(per_second);
    let nanos = (units.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32;
    DateTime::from_timestamp(seconds, nanos).ok_or_else(|| outside(seconds))
}

fn outside(seconds: i64) -> String {
    format!("timestamp {seconds} is outside years 0..9999")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_offset(offset: &str) -> Result<FixedOffset, String> {
    let bad = || format!("utc_offset `{offset}` must look like +02:00 or -05:30");
    let (sign, rest) = match offset.as_bytes().first() {
        Some(b'+') => (1, &offset[1..]),
        Some(b'-') => (-1, &offset[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Readable {
        Readable::from_config("{}").unwrap()
    }

    #[test]
    fn formats_the_exercise_example() {
        assert_eq!(default().format_seconds(1_730_244_200).unwrap(), "2024-10-29 23:23:20");
    }

    #[test]
    fn keeps_other_fields_and_their_order() {
        let input = br#"{"user_id":"a","timestamp":1730244200,"device_type":"iOS"}"#;
        let output = default().apply(input).unwrap();
        assert_eq!(
            String::from_utf8(output).unwrap(),
            r#"{"user_id":"a","timestamp":"2024-10-29 23:23:20","device_type":"iOS"}"#
        );
        // Only the field's bytes change: spacing, nesting and escapes elsewhere stay as sent.
        let spaced = br#"{ "n": {"timestamp": 1}, "t\u00e9": [1, 2],  "timestamp" : 1730244200 }"#;
        assert_eq!(
            String::from_utf8(default().apply(spaced).unwrap()).unwrap(),
            r#"{ "n": {"timestamp": 1}, "t\u00e9": [1, 2],  "timestamp" : "2024-10-29 23:23:20" }"#
        );
        assert_eq!(default().apply(b"[1]").unwrap_err(), "value is not a JSON object");
        assert!(default()
            .apply(b"{\"timestamp\": 1")
            .unwrap_err()
            .starts_with("value is not valid JSON"));
    }

    #[test]
    fn honours_field_format_and_offset() {
        let r = Readable::from_config(
            r#"{"field":"ts","format":"%d/%m/%Y %H:%M %z (day %j)","utc_offset":"-05:30"}"#,
        )
        .unwrap();
        let out = r.apply(br#"{"ts":1730244200}"#).unwrap();
        assert_eq!(out, br#"{"ts":"29/10/2024 17:53 -0530 (day 303)"}"#);
    }

    #[test]
    fn handles_epoch_edges_and_fractions() {
        let r = default();
        assert_eq!(r.format_seconds(0).unwrap(), "1970-01-01 00:00:00");
        assert_eq!(r.format_seconds(-1).unwrap(), "1969-12-31 23:59:59");
        assert_eq!(r.format_seconds(951_782_400).unwrap(), "2000-02-29 00:00:00");
        let out = r.apply(br#"{"timestamp":1730244200.9}"#).unwrap();
        assert_eq!(out, br#"{"timestamp":"2024-10-29 23:23:20"}"#);
    }

    #[test]
    fn refuses_what_it_cannot_format() {
        let r = default();
        assert!(r.apply(br#"{"timestamp":"1730244200"}"#).unwrap_err().contains("found a string"));
        assert!(r.apply(br#"{"timestamp":1e300}"#).unwrap_err().contains("outside years"));
        assert!(r.apply(br#"{"timestamp":99999999999999}"#).unwrap_err().contains("outside years"));
        assert!(r.apply(br#"{"timestamp":-62167219201}"#).unwrap_err().contains("outside years"));
        assert_eq!(r.format_seconds(-62167219200).unwrap(), "0000-01-01 00:00:00");
        assert!(r.apply(br#"{"other":1}"#).unwrap_err().contains("missing"));
        assert!(r.apply(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(r.apply(b"nope").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn refuses_a_bad_config() {
        assert!(Readable::from_config(r#"{"format":"%Q"}"#).unwrap_err().contains("%Q"));
        assert!(Readable::from_config(r#"{"utc_offset":"5"}"#).unwrap_err().contains("utc_offset"));
        assert!(Readable::from_config(r#"{"colour":"red"}"#)
            .unwrap_err()
            .contains("unknown field"));
        assert!(Readable::from_config(r#"{"timezone":"Mars/Olympus"}"#)
            .unwrap_err()
            .contains("Mars/Olympus"));
        assert!(Readable::from_config(r#"{"input":"days"}"#)
            .unwrap_err()
            .contains("unknown variant"));
    }

    #[test]
    fn named_zones_follow_daylight_saving() {
        let chicago =
            Readable::from_config(r#"{"timezone":"America/Chicago","format":"%Y-%m-%d %H:%M %Z"}"#)
                .unwrap();
        // 2024-07-01 12:00 UTC is CDT (-5), 2024-01-15 12:00 UTC is CST (-6).
        assert_eq!(chicago.format_seconds(1_719_835_200).unwrap(), "2024-07-01 07:00 CDT");
        assert_eq!(chicago.format_seconds(1_705_320_000).unwrap(), "2024-01-15 06:00 CST");
    }

    #[test]
    fn every_chrono_specifier_and_other_inputs() {
        let r =
            Readable::from_config(r#"{"format":"%A %e %B %Y, %I:%M %p","input":"milliseconds"}"#)
                .unwrap();
        assert_eq!(
            r.apply(br#"{"timestamp":1730244200123}"#).unwrap(),
            br#"{"timestamp":"Tuesday 29 October 2024, 11:23 PM"}"#
        );
        let r = Readable::from_config(r#"{"input":"rfc3339","format":"%Y-%m-%d %H:%M:%S%.3f"}"#)
            .unwrap();
        assert_eq!(
            r.apply(br#"{"timestamp":"2024-10-30T01:23:20.5+02:00"}"#).unwrap(),
            br#"{"timestamp":"2024-10-29 23:23:20.500"}"#
        );
        assert!(r.apply(br#"{"timestamp":"yesterday"}"#).unwrap_err().contains("RFC 3339"));
    }
}
