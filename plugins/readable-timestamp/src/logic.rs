//! Epoch seconds to a readable date, free of wasm glue so it is unit-tested natively.

use serde::Deserialize;
use serde_json::Value;

/// Stage config; every key is optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The field holding epoch seconds.
    pub field: String,
    /// strftime-style: %Y %m %d %H %M %S %j %z %%.
    pub format: String,
    /// Offset from UTC as "+HH:MM" or "-HH:MM".
    pub utc_offset: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            field: "timestamp".into(),
            format: "%Y-%m-%d %H:%M:%S".into(),
            utc_offset: "+00:00".into(),
        }
    }
}

/// A configured transform, checked once at init.
#[derive(Debug)]
pub struct Readable {
    field: String,
    format: Vec<Piece>,
    offset_seconds: i64,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Literal(String),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    DayOfYear,
    Offset,
}

/// Years beyond this are refused rather than printed as nonsense.
const MAX_ABS_SECONDS: i64 = 253_402_300_799; // 9999-12-31 23:59:59

impl Readable {
    pub fn from_config(config: &str) -> Result<Self, String> {
        let config: Config = if config.trim().is_empty() {
            Config::default()
        } else {
            serde_json::from_str(config).map_err(|e| format!("bad config: {e}"))?
        };
        Ok(Readable {
            field: config.field,
            format: parse_format(&config.format)?,
            offset_seconds: parse_offset(&config.utc_offset)?,
        })
    }

    /// The value with its timestamp field rewritten; other fields and their order untouched.
    pub fn apply(&self, value: &[u8]) -> Result<Vec<u8>, String> {
        let mut doc: Value =
            serde_json::from_slice(value).map_err(|e| format!("value is not valid JSON: {e}"))?;
        let object = doc.as_object_mut().ok_or("value is not a JSON object")?;
        let slot = object
            .get_mut(&self.field)
            .ok_or_else(|| format!("field `{}` is missing", self.field))?;
        let seconds = epoch_seconds(slot).map_err(|why| format!("field `{}` {why}", self.field))?;
        *slot = Value::String(self.format_seconds(seconds)?);
        serde_json::to_vec(&doc).map_err(|e| e.to_string())
    }

    pub fn format_seconds(&self, seconds: i64) -> Result<String, String> {
        let local = seconds
            .checked_add(self.offset_seconds)
            .filter(|s| s.abs() <= MAX_ABS_SECONDS)
            .ok_or_else(|| format!("timestamp {seconds} is outside years 0..9999"))?;
        let days = local.div_euclid(86_400);
        let of_day = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return Err(format!("timestamp {seconds} is outside years 0..9999"));
        }
        let mut out = String::with_capacity(24);
        for piece in &self.format {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Year => push_padded(&mut out, year, 4),
                Piece::Month => push_padded(&mut out, month, 2),
                Piece::Day => push_padded(&mut out, day, 2),
                Piece::Hour => push_padded(&mut out, of_day / 3600, 2),
                Piece::Minute => push_padded(&mut out, of_day / 60 % 60, 2),
                Piece::Second => push_padded(&mut out, of_day % 60, 2),
                Piece::DayOfYear => {
                    push_padded(&mut out, days - days_from_civil(year, 1, 1) + 1, 3)
                }
                Piece::Offset => {
                    let sign = if self.offset_seconds < 0 { '-' } else { '+' };
                    let abs = self.offset_seconds.abs();
                    out.push(sign);
                    push_padded(&mut out, abs / 3600, 2);
                    push_padded(&mut out, abs / 60 % 60, 2);
                }
            }
        }
        Ok(out)
    }
}

/// Whole epoch seconds from a JSON number; fractions are truncated toward the past.
fn epoch_seconds(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if let Some(f) = n.as_f64().filter(|f| f.is_finite()) {
                if f.abs() > MAX_ABS_SECONDS as f64 {
                    Err(format!("{n} is outside years 0..9999"))
                } else {
                    Ok(f.floor() as i64)
                }
            } else {
                Err(format!("{n} is outside years 0..9999"))
            }
        }
        other => Err(format!("must be epoch seconds as a number, found {}", kind(other))),
    }
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

fn push_padded(out: &mut String, n: i64, width: usize) {
    use std::fmt::Write;
    let _ = write!(out, "{n:0width$}");
}

fn parse_format(format: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            literal.push(c);
            continue;
        }
        let piece = match chars.next() {
            Some('%') => {
                literal.push('%');
                continue;
            }
            Some('Y') => Piece::Year,
            Some('m') => Piece::Month,
            Some('d') => Piece::Day,
            Some('H') => Piece::Hour,
            Some('M') => Piece::Minute,
            Some('S') => Piece::Second,
            Some('j') => Piece::DayOfYear,
            Some('z') => Piece::Offset,
            Some(other) => {
                return Err(format!(
                    "format `{format}` uses %{other}; supported: %Y %m %d %H %M %S %j %z %%"
                ))
            }
            None => return Err(format!("format `{format}` ends with a lone %")),
        };
        if !literal.is_empty() {
            pieces.push(Piece::Literal(std::mem::take(&mut literal)));
        }
        pieces.push(piece);
    }
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

fn parse_offset(offset: &str) -> Result<i64, String> {
    let bad = || format!("utc_offset `{offset}` must look like +02:00 or -05:30");
    let (sign, rest) = match offset.as_bytes().first() {
        Some(b'+') => (1, &offset[1..]),
        Some(b'-') => (-1, &offset[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i64 = h.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
        assert!(Readable::from_config(r#"{"colour":"red"}"#).unwrap_err().contains("unknown field"));
    }

    #[test]
    fn day_conversion_round_trips() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
