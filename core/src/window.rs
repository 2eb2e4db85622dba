//! Event-time windows: which windows a record falls in, and each input partition's clock
//! (its watermark) that says when a window is closed and when a record is too late.
//!
//! Everything here is a function of one partition's records in offset order — never of
//! the wall clock or of other partitions — so a replay after a crash, or another instance
//! taking the partition over, closes the same windows with the same records in them.

use crate::record::Record;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

// The config's types live here (weir.toml's `[aggregate.window]`, re-exported by
// `config`), so that windows need nothing of the config module.

/// `[aggregate.window]`: tumbling (`size`) or hopping (`size` and `step`) windows on event
/// time, closed when the partition's watermark (latest event time − `allowed_lateness`)
/// passes their end.
#[derive(Debug, Deserialize, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// `1m`, `30s`, `1h`…
    pub size: String,
    /// Hopping windows start every `step`; default `size` (tumbling).
    pub step: Option<String>,
    /// `"record"` (the Kafka record timestamp, the default) or `{ field = "timestamp",
    /// unit = "seconds" | "milliseconds" | "text" }`: a top-level field of the JSON value,
    /// a number since the epoch, or text like `2026-11-27 22:05:00` or RFC 3339 (UTC
    /// unless it has an offset).
    #[serde(default)]
    pub time: EventTimeConfig,
    /// How far behind the latest event time a record may come and still count.
    #[serde(default = "no_lateness")]
    pub allowed_lateness: String,
    /// How far ahead of the wall clock an event time may be (`1h` by default): a record
    /// further ahead is late (it would move the partition's watermark, closing every open
    /// window early and making every later record late).
    #[serde(default = "default_max_future")]
    pub max_future: String,
    /// Where window results go; default `<output_topic>-windows`.
    pub topic: Option<String>,
    /// Where late records go; default the dead-letter topic (kind `late`).
    pub late_topic: Option<String>,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            size: "1m".into(),
            step: None,
            time: EventTimeConfig::default(),
            allowed_lateness: no_lateness(),
            max_future: default_max_future(),
            topic: None,
            late_topic: None,
        }
    }
}

fn default_max_future() -> String {
    "1h".into()
}

/// Event times further from the epoch than this (~3,000 years) are refused, whatever
/// their source, so that no window arithmetic nears the ends of an i64.
const MAX_EVENT_TIME_MS: i64 = 100_000_000_000_000_000;

fn no_lateness() -> String {
    "0s".into()
}

#[derive(Debug, Deserialize, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum EventTimeConfig {
    Record(RecordTimestamp),
    Field {
        field: String,
        #[serde(default)]
        unit: TimeUnit,
    },
}

impl Default for EventTimeConfig {
    fn default() -> Self {
        EventTimeConfig::Record(RecordTimestamp::Record)
    }
}

/// `time = "record"`: the Kafka record's timestamp.
#[derive(
    Debug, Deserialize, Clone, Copy, PartialEq, Default, serde::Serialize, schemars::JsonSchema,
)]
pub enum RecordTimestamp {
    #[default]
    #[serde(rename = "record")]
    Record,
}

#[derive(
    Debug, Deserialize, Clone, Copy, PartialEq, Default, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    #[default]
    Seconds,
    Milliseconds,
    Text,
}

/// A stage's windows: their size and step (tumbling when equal), where event time is read,
/// and how late a record may come.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    pub size_ms: i64,
    pub step_ms: i64,
    pub lateness_ms: i64,
    pub max_future_ms: i64,
    pub time: EventTimeConfig,
}

impl WindowSpec {
    pub fn from_config(config: &WindowConfig) -> Result<WindowSpec, String> {
        let ms = |key: &str, text: &str| -> Result<i64, String> {
            let d = parse_duration(text).map_err(|e| format!("`{key}`: {e}"))?;
            Ok(d.as_millis().min(i64::MAX as u128) as i64)
        };
        let size_ms = ms("size", &config.size)?;
        let step_ms = match &config.step {
            Some(step) => ms("step", step)?,
            None => size_ms,
        };
        let lateness_ms = ms("allowed_lateness", &config.allowed_lateness)?;
        let max_future_ms = ms("max_future", &config.max_future)?;
        if size_ms <= 0 || step_ms <= 0 {
            return Err("`size` and `step` must be at least 1ms".into());
        }
        if step_ms > size_ms {
            return Err(format!("`step` ({step_ms} ms) is longer than `size` ({size_ms} ms): records between windows would be in none"));
        }
        if size_ms / step_ms > MAX_WINDOWS_PER_RECORD {
            return Err(format!("`size` / `step` puts each record in over {MAX_WINDOWS_PER_RECORD} windows; use a longer step"));
        }
        // A window is open while its end is past the watermark and its start not past the
        // latest event time: so at most this many per partition, whatever the records.
        let open = size_ms.saturating_add(lateness_ms) / step_ms + 1;
        if open > MAX_OPEN_WINDOWS {
            return Err(format!(
                "`size` ({size_ms} ms) + `allowed_lateness` ({lateness_ms} ms) over `step` ({step_ms} ms) keeps up to {open} windows \
                 open per partition, over weir's limit of {MAX_OPEN_WINDOWS}: use a longer step or less lateness"
            ));
        }
        Ok(WindowSpec { size_ms, step_ms, lateness_ms, max_future_ms, time: config.time.clone() })
    }

    /// The starts of the windows `t` falls in, earliest first: every multiple of the step
    /// `s` with `s <= t < s + size`.
    pub fn starts(&self, t: i64) -> impl Iterator<Item = i64> + '_ {
        let last = t.div_euclid(self.step_ms) * self.step_ms;
        let count = (self.size_ms + self.step_ms - 1) / self.step_ms;
        (0..count).rev().map(move |k| last - k * self.step_ms).filter(move |s| t < s + self.size_ms)
    }

    pub fn end(&self, start: i64) -> i64 {
        start.saturating_add(self.size_ms)
    }

    /// Why a record of event time `t` may not move its partition's clock when the wall
    /// clock reads `now` (ms): `None` if it may.
    pub fn too_far_ahead(&self, t: i64, now: i64) -> Option<String> {
        (t > now.saturating_add(self.max_future_ms)).then(|| {
            format!(
                "event time {} is more than max_future ({} ms) ahead of the wall clock ({}): it would close the open windows early",
                rfc3339(t), self.max_future_ms, rfc3339(now)
            )
        })
    }

    /// The record's event time in milliseconds since the epoch, or why it has none.
    pub fn event_time(&self, m: &Record) -> Result<i64, String> {
        match &self.time {
            EventTimeConfig::Record(_) => match m.timestamp {
                None => Err("the record has no Kafka timestamp".to_string()),
                Some(t) if !(-MAX_EVENT_TIME_MS..=MAX_EVENT_TIME_MS).contains(&t) => {
                    Err(format!("the Kafka timestamp {t} is out of range for a time"))
                }
                Some(t) => Ok(t),
            },
            EventTimeConfig::Field { field, unit } => {
                let [raw] =
                    weir_plugin::json::fields(&m.value, [field.as_str()]).map_err(|_| {
                        format!("the value is not a JSON object, so it has no `{field}`")
                    })?;
                let raw = raw.ok_or_else(|| format!("the value has no `{field}`"))?;
                let shown = || raw.get().chars().take(40).collect::<String>();
                if *unit == TimeUnit::Text {
                    let text: String = serde_json::from_str(raw.get())
                        .map_err(|_| format!("`{field}` is {}, not text", shown()))?;
                    return parse_time(&text).ok_or_else(|| {
                        format!(
                            "`{field}` = {} is not a time like 2026-11-27 22:05:00 or RFC 3339",
                            shown()
                        )
                    });
                }
                let number: f64 = serde_json::from_str(raw.get())
                    .map_err(|_| format!("`{field}` is {}, not a number", shown()))?;
                let ms = match unit {
                    TimeUnit::Milliseconds => number,
                    _ => number * 1000.0,
                };
                if !ms.is_finite() || ms.abs() > MAX_EVENT_TIME_MS as f64 {
                    return Err(format!("`{field}` = {number} is out of range for a time"));
                }
                Ok(ms.floor() as i64)
            }
        }
    }
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|±HH:MM]` as ms since the epoch (UTC without an offset).
pub fn parse_time(text: &str) -> Option<i64> {
    let b = text.trim().as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"T t") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day, hour, minute, second) =
        (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut ms = 0;
    if sep(i, b".") {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let frac = &b[i + 1..i + 1 + digits.min(3)];
        ms = frac.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0'))
            * 10i64.pow(3 - frac.len() as u32);
        i += 1 + digits;
    }
    let offset_minutes = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && sep(i + 3, b":") => {
            let minutes = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    // Days since 1970-01-01 from the civil date (H. Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute - offset_minutes) * 60_000 + second * 1000 + ms)
}

/// Windows a record may fall in at most (size / step).
const MAX_WINDOWS_PER_RECORD: i64 = 1000;

/// Windows open at once per input partition at most (each holds a plugin state): a config
/// that could open more is refused at load.
pub const MAX_OPEN_WINDOWS: i64 = 10_000;

/// `500ms`, `10s`, `2m`, `1h`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) =
        text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let value: f64 =
        number.parse().map_err(|_| format!("`{text}` is not a duration like 500ms, 10s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86400.0,
        _ => return Err(format!("`{text}`: unit must be ms, s, m, h or d")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a valid duration"))
}

/// One input partition's windows: the latest event time seen (its watermark is that less
/// the allowed lateness) and the windows open (folded into, not yet closed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionClock {
    pub max_event: Option<i64>,
    pub open: BTreeSet<i64>,
}

/// Where one record goes.
#[derive(Debug, PartialEq)]
pub struct Placed {
    /// The windows (starts) to fold it into.
    pub into: Vec<i64>,
    /// Windows it belongs to that had closed already: it is late for them.
    pub missed: Vec<i64>,
}

impl PartitionClock {
    /// Every record up to here with event time at or below the watermark has had its
    /// chance: a window ending at or before it is closed.
    pub fn watermark(&self, spec: &WindowSpec) -> Option<i64> {
        self.max_event.map(|t| t.saturating_sub(spec.lateness_ms))
    }

    /// Places a record of event time `t`, then moves the clock: the windows it opens are
    /// open from now on. Late is judged by the watermark before this record.
    pub fn place(&mut self, spec: &WindowSpec, t: i64) -> Placed {
        let watermark = self.watermark(spec);
        let (mut into, mut missed) = (Vec::new(), Vec::new());
        for start in spec.starts(t) {
            match watermark {
                Some(w) if spec.end(start) <= w => missed.push(start),
                _ => {
                    self.open.insert(start);
                    into.push(start);
                }
            }
        }
        self.max_event = Some(self.max_event.map_or(t, |m| m.max(t)));
        Placed { into, missed }
    }

    /// The open windows the watermark has passed, earliest first; they are no longer open.
    pub fn close_due(&mut self, spec: &WindowSpec) -> Vec<i64> {
        let Some(w) = self.watermark(spec) else { return Vec::new() };
        let due: Vec<i64> = self.open.iter().copied().take_while(|s| spec.end(*s) <= w).collect();
        for start in &due {
            self.open.remove(start);
        }
        due
    }

    /// Every open window, earliest first (the input ended); none is open after.
    pub fn close_all(&mut self) -> Vec<i64> {
        std::mem::take(&mut self.open).into_iter().collect()
    }
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2026-11-27T22:05:00.000Z`).
pub fn rfc3339(ms: i64) -> String {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) =
        (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(size: i64, step: i64, lateness: i64) -> WindowSpec {
        WindowSpec {
            size_ms: size,
            step_ms: step,
            lateness_ms: lateness,
            max_future_ms: 3_600_000,
            time: EventTimeConfig::Record(Default::default()),
        }
    }

    #[test]
    fn a_time_falls_in_one_tumbling_window_and_in_size_over_step_hopping_ones() {
        assert_eq!(spec(60, 60, 0).starts(125).collect::<Vec<_>>(), [120]);
        assert_eq!(spec(60, 60, 0).starts(-1).collect::<Vec<_>>(), [-60]);
        assert_eq!(spec(60, 20, 0).starts(125).collect::<Vec<_>>(), [80, 100, 120]);
        assert_eq!(
            spec(50, 20, 0).starts(125).collect::<Vec<_>>(),
            [80, 100, 120],
            "80 + 50 > 125"
        );
        assert_eq!(spec(50, 20, 0).starts(131).collect::<Vec<_>>(), [100, 120], "80 + 50 <= 131");
    }

    #[test]
    fn windows_close_when_the_watermark_passes_their_end_and_later_records_are_late() {
        let spec = spec(60, 60, 30);
        let mut clock = PartitionClock::default();
        assert_eq!(clock.place(&spec, 10), Placed { into: vec![0], missed: vec![] });
        assert_eq!(clock.place(&spec, 70), Placed { into: vec![60], missed: vec![] });
        assert!(clock.close_due(&spec).is_empty(), "watermark 40 < 60");
        assert_eq!(
            clock.place(&spec, 50),
            Placed { into: vec![0], missed: vec![] },
            "within the lateness"
        );
        clock.place(&spec, 95);
        assert_eq!(clock.close_due(&spec), [0], "watermark 65 passed 60");
        assert_eq!(
            clock.place(&spec, 59),
            Placed { into: vec![], missed: vec![0] },
            "its window closed"
        );
        assert_eq!(clock.close_all(), [60]);
        assert!(clock.open.is_empty());
    }

    #[test]
    fn event_time_from_a_field_in_seconds_or_from_the_record() {
        let m = |value: &str, timestamp| Record {
            key: None,
            value: value.as_bytes().to_vec(),
            headers: vec![],
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp,
        };
        let field = WindowSpec {
            time: EventTimeConfig::Field { field: "timestamp".into(), unit: TimeUnit::Seconds },
            ..spec(1, 1, 0)
        };
        assert_eq!(
            field.event_time(&m(r#"{"timestamp": 1700000000}"#, None)),
            Ok(1_700_000_000_000)
        );
        assert_eq!(field.event_time(&m(r#"{"timestamp": 1.5}"#, None)), Ok(1500));
        assert!(field
            .event_time(&m(r#"{"timestamp": "soon"}"#, None))
            .unwrap_err()
            .contains("not a number"));
        assert!(field.event_time(&m(r#"{}"#, None)).unwrap_err().contains("has no `timestamp`"));
        assert!(field.event_time(&m("[1]", None)).unwrap_err().contains("not a JSON object"));
        assert_eq!(spec(1, 1, 0).event_time(&m("x", Some(42))), Ok(42));
        assert!(spec(1, 1, 0).event_time(&m("x", None)).is_err());
    }

    #[test]
    fn times_read_as_text_in_utc_or_with_their_offset() {
        assert_eq!(parse_time("2023-11-14 22:13:20"), Some(1_700_000_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20.5Z"), Some(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1969-12-31T23:59:59.999Z"), Some(-1));
        for bad in [
            "2023-11-14",
            "2023-13-14 00:00:00",
            "2023-11-14 22:13:20 UTC",
            "yesterday",
            "2023-11-14T22:13:20.",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        for ms in [0, 951_782_400_000, 1_700_000_000_123, -86_400_001] {
            assert_eq!(parse_time(&rfc3339(ms)), Some(ms), "round trip of {ms}");
        }
    }

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn an_event_time_far_ahead_of_the_wall_clock_may_not_move_the_clock() {
        let spec = spec(10, 10, 0);
        let now = 1_764_800_000_000;
        assert_eq!(
            spec.too_far_ahead(now + 3_600_000, now),
            None,
            "up to max_future ahead is fine"
        );
        let reason = spec.too_far_ahead(99_999_999_999_999_000, now).unwrap();
        assert!(
            reason.contains("max_future (3600000 ms)") && reason.contains("wall clock (2025-12-03"),
            "{reason}"
        );
        // Extreme Kafka timestamps have no event time (no arithmetic near the ends of an i64).
        for t in [i64::MAX, i64::MIN, MAX_EVENT_TIME_MS + 1] {
            let m = Record {
                key: None,
                value: vec![],
                headers: vec![],
                topic: "t".into(),
                partition: 0,
                offset: 0,
                timestamp: Some(t),
            };
            assert!(spec.event_time(&m).unwrap_err().contains("out of range"), "{t}");
        }
        // At the bounds, placing and closing do not wrap.
        let mut clock = PartitionClock::default();
        for t in [-MAX_EVENT_TIME_MS, MAX_EVENT_TIME_MS] {
            clock.place(&spec, t);
        }
        assert_eq!(clock.close_due(&spec), [-MAX_EVENT_TIME_MS]);
    }

    #[test]
    fn bad_window_configs_are_refused_with_the_key() {
        let config = |size: &str, step: Option<&str>| WindowConfig {
            size: size.into(),
            step: step.map(Into::into),
            ..WindowConfig::default()
        };
        assert!(WindowSpec::from_config(&config("1m", Some("2m")))
            .unwrap_err()
            .contains("longer than `size`"));
        assert!(WindowSpec::from_config(&config("soon", None)).unwrap_err().starts_with("`size`"));
        assert!(WindowSpec::from_config(&config("0s", None)).is_err());
        assert!(WindowSpec::from_config(&config("1h", Some("1ms")))
            .unwrap_err()
            .contains("over 1000 windows"));
        let ok = WindowSpec::from_config(&config("1m", Some("30s"))).unwrap();
        assert_eq!((ok.size_ms, ok.step_ms), (60_000, 30_000));
        // The issue's config: 600 records opened 600,000 windows (765 MB) before.
        let late = WindowConfig { allowed_lateness: "1h".into(), ..config("1s", Some("1ms")) };
        let err = WindowSpec::from_config(&late).unwrap_err();
        assert!(
            err.contains(
                "keeps up to 3601001 windows open per partition, over weir's limit of 10000"
            ),
            "{err}"
        );
    }

    proptest::proptest! {
        /// Event times at the ends of what is accepted, and a wall clock anywhere: each
        /// record's windows hold it (no arithmetic wraps), and the far-future check answers.
        #[test]
        fn extreme_event_times_fall_in_windows_that_hold_them(
            size in 1i64..100_000, step_div in 1i64..20,
            t in proptest::prop_oneof![proptest::strategy::Just(-MAX_EVENT_TIME_MS), proptest::strategy::Just(MAX_EVENT_TIME_MS), -MAX_EVENT_TIME_MS..=MAX_EVENT_TIME_MS],
            now in proptest::num::i64::ANY,
        ) {
            let step = (size / step_div).max(1);
            let config = WindowConfig { size: format!("{size}ms"), step: Some(format!("{step}ms")), ..WindowConfig::default() };
            let Ok(spec) = WindowSpec::from_config(&config) else { return Ok(()) };
            let starts: Vec<i64> = spec.starts(t).collect();
            proptest::prop_assert!(!starts.is_empty() && starts.len() as i64 <= (size + step - 1) / step);
            for s in &starts {
                proptest::prop_assert!(*s <= t && t < spec.end(*s) && s.rem_euclid(step) == 0, "{t} in [{s}, {})", spec.end(*s));
            }
            let _ = spec.too_far_ahead(t, now);
            let mut clock = PartitionClock::default();
            let placed = clock.place(&spec, t);
            proptest::prop_assert_eq!(placed.into, starts);
        }

        /// Whatever the event times, an accepted config never has more windows open in a
        /// partition than the bound it was accepted under.
        #[test]
        fn open_windows_stay_within_the_bound_checked_at_load(
            size in 1i64..5_000, step_div in 1i64..50, lateness in 0i64..20_000,
            times in proptest::collection::vec(0i64..1_000_000, 1..300),
        ) {
            let step = (size / step_div).max(1);
            let config = WindowConfig { size: format!("{size}ms"), step: Some(format!("{step}ms")), allowed_lateness: format!("{lateness}ms"), ..WindowConfig::default() };
            let Ok(spec) = WindowSpec::from_config(&config) else { return Ok(()) };
            let bound = (size + lateness) / step + 1;
            proptest::prop_assert!(bound <= MAX_OPEN_WINDOWS);
            let mut clock = PartitionClock::default();
            for t in times {
                clock.place(&spec, t);
                clock.close_due(&spec);
                proptest::prop_assert!(clock.open.len() as i64 <= bound, "{} open, bound {bound}", clock.open.len());
            }
        }
    }
}
