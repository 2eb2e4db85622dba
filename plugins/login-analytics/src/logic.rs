//! Login analytics state, free of wasm glue so it is unit-tested natively.

use crate::distinct::Distinct;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use weir_plugin::{Aggregator, Counter, Error, Record, Row};

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub top_device_types: usize,
    pub top_locales: usize,
    pub top_app_versions: usize,
    /// How many of the most recent event-time minutes the report lists.
    pub recent_minutes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { top_device_types: 2, top_locales: 3, top_app_versions: 5, recent_minutes: 10 }
    }
}

impl Config {
    pub fn parse(config: &str) -> Result<Self, String> {
        weir_plugin::parse_config(config).map_err(String::from)
    }
}

/// The plugin: one aggregation state and the config its report follows.
pub struct LoginAnalytics {
    config: Config,
    pub counts: Analytics,
}

impl Aggregator for LoginAnalytics {
    type Config = Config;

    fn new(config: &Config) -> Self {
        LoginAnalytics { config: config.clone(), counts: Analytics::default() }
    }

    fn update(&mut self, record: &Record) {
        self.counts.update(record.value);
    }

    fn report(&self) -> weir_plugin::Report {
        self.counts.report(&self.config).into()
    }

    fn snapshot(&self) -> Vec<u8> {
        self.counts.snapshot()
    }

    fn restore(config: &Config, snapshot: &[u8]) -> Result<Self, Error> {
        Ok(LoginAnalytics { config: config.clone(), counts: Analytics::from_snapshot(snapshot)? })
    }

    fn merge(&mut self, other: Self) {
        self.counts.merge(other.counts);
    }
}

/// Everything counted so far. Serialisable, so it can be snapshotted and merged.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analytics {
    pub total: u64,
    /// Values that were not JSON objects; counted, never fatal.
    pub unreadable: u64,
    pub device_types: HashMap<String, u64>,
    pub locales: HashMap<String, u64>,
    pub app_versions: HashMap<String, u64>,
    pub users: Distinct,
    pub devices: Distinct,
    /// Event-time minute ("YYYY-MM-DD HH:MM" or epoch minute) → logins.
    pub per_minute: BTreeMap<String, u64>,
    /// Minutes older than the ones kept in `per_minute`.
    #[serde(default)]
    pub earlier_minutes: u64,
}

/// A report as the contract defines it: counters and ranked tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub counters: Vec<(String, u64)>,
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub title: String,
    pub rows: Vec<(String, u64)>,
}

const MISSING: &str = "(missing)";
/// Where labels past `MAX_LABELS` are counted.
const OTHER: &str = "(other)";
/// Distinct labels kept exactly per table (device types, locales, app versions).
const MAX_LABELS: usize = 1000;
/// Event-time minutes kept (a week).
const MAX_MINUTES: usize = 7 * 24 * 60;

impl Analytics {
    pub fn update(&mut self, value: &[u8]) {
        // Only the six fields counted are read, borrowed from the value.
        let Ok([device_type, locale, app_version, user_id, device_id, timestamp]) =
            weir_plugin::json::fields(
                value,
                ["device_type", "locale", "app_version", "user_id", "device_id", "timestamp"],
            )
        else {
            self.unreadable += 1;
            return;
        };
        self.total += 1;
        count(&mut self.device_types, &label(device_type), 1);
        count(&mut self.locales, &label(locale), 1);
        count(&mut self.app_versions, &label(app_version), 1);
        self.users.insert(&label(user_id));
        self.devices.insert(&label(device_id));
        if let Some(minute) = timestamp.and_then(minute_of) {
            // A minute seen before (most records) costs no allocation.
            match self.per_minute.get_mut(minute.as_ref()) {
                Some(logins) => *logins += 1,
                None => {
                    self.per_minute.insert(minute.into_owned(), 1);
                    self.forget_old_minutes();
                }
            }
        }
    }

    /// Keeps the most recent `MAX_MINUTES`; older ones are counted in `earlier_minutes`.
    fn forget_old_minutes(&mut self) {
        while self.per_minute.len() > MAX_MINUTES {
            self.per_minute.pop_first();
            self.earlier_minutes += 1;
        }
    }

    pub fn merge(&mut self, other: Analytics) {
        self.total += other.total;
        self.unreadable += other.unreadable;
        add_counts(&mut self.device_types, other.device_types);
        add_counts(&mut self.locales, other.locales);
        add_counts(&mut self.app_versions, other.app_versions);
        self.users.merge(&other.users);
        self.devices.merge(&other.devices);
        for (minute, n) in other.per_minute {
            *self.per_minute.entry(minute).or_default() += n;
        }
        self.earlier_minutes += other.earlier_minutes;
        self.forget_old_minutes();
    }

    pub fn snapshot(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("analytics state always serialises")
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not a login-analytics snapshot: {e}"))
    }

    pub fn report(&self, config: &Config) -> Report {
        let peak = self.per_minute.values().copied().max().unwrap_or(0);
        let counters = vec![
            ("total_logins".to_string(), self.total),
            // Estimates (about 0.8% error) never read above the logins they come from.
            ("distinct_users".to_string(), self.users.count().min(self.total)),
            ("distinct_devices".to_string(), self.devices.count().min(self.total)),
            ("minutes_seen".to_string(), self.per_minute.len() as u64 + self.earlier_minutes),
            ("peak_logins_per_minute".to_string(), peak),
            ("unreadable_records".to_string(), self.unreadable),
        ];
        let recent: Vec<(String, u64)> = self
            .per_minute
            .iter()
            .rev()
            .take(config.recent_minutes)
            .rev()
            .map(|(m, n)| (m.clone(), *n))
            .collect();
        let tables = vec![
            table(
                "device_types",
                "All device types by login count",
                &self.device_types,
                usize::MAX,
            ),
            table(
                "top_device_types",
                &format!("Top {} device types by login count", config.top_device_types),
                &self.device_types,
                config.top_device_types,
            ),
            table(
                "top_locales",
                &format!("Top {} locales by login count", config.top_locales),
                &self.locales,
                config.top_locales,
            ),
            table(
                "top_app_versions",
                &format!("Top {} app versions by login count", config.top_app_versions),
                &self.app_versions,
                config.top_app_versions,
            ),
            Table {
                name: "logins_per_minute".into(),
                title: format!("Logins per minute of event time (last {})", recent.len()),
                rows: recent,
            },
        ];
        Report { counters, tables }
    }
}

impl From<Report> for weir_plugin::Report {
    fn from(report: Report) -> Self {
        let rows = |rows: Vec<(String, u64)>| {
            rows.into_iter().map(|(label, count)| Row { label, count }).collect()
        };
        weir_plugin::Report {
            counters: report
                .counters
                .into_iter()
                .map(|(name, value)| Counter { name, value })
                .collect(),
            tables: report
                .tables
                .into_iter()
                .map(|t| weir_plugin::Table { name: t.name, title: t.title, rows: rows(t.rows) })
                .collect(),
        }
    }
}

fn add_counts(into: &mut HashMap<String, u64>, from: HashMap<String, u64>) {
    for (k, n) in from {
        count(into, &k, n);
    }
}

/// Adds `n` under `label`; past `MAX_LABELS` distinct labels, new ones count as `OTHER`,
/// so a field full of unique values cannot grow the state without bound. A label seen
/// before costs no allocation.
fn count(counts: &mut HashMap<String, u64>, label: &str, n: u64) {
    if let Some(total) = counts.get_mut(label) {
        *total += n;
        return;
    }
    let label = if counts.len() >= MAX_LABELS { OTHER } else { label };
    *counts.entry(label.to_string()).or_default() += n;
}

/// A field as a label: a string as itself, null or absent as `MISSING`, anything else
/// as its compact JSON text.
fn label(raw: Option<&RawValue>) -> Cow<'_, str> {
    match raw {
        None => Cow::Borrowed(MISSING),
        Some(raw) => match weir_plugin::json::as_str(raw) {
            Some(text) => text,
            None if raw.get() == "null" => Cow::Borrowed(MISSING),
            None => Cow::Owned(
                serde_json::from_str::<Value>(raw.get())
                    .map_or_else(|_| raw.get().to_string(), |v| v.to_string()),
            ),
        },
    }
}

/// Highest count first; ties broken by label so reports are deterministic.
fn table(name: &str, title: &str, counts: &HashMap<String, u64>, limit: usize) -> Table {
    let mut rows: Vec<(String, u64)> = counts.iter().map(|(k, n)| (k.clone(), *n)).collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.truncate(limit);
    Table { name: name.into(), title: title.into(), rows }
}

/// The minute a timestamp falls in: readable "YYYY-MM-DD HH:MM:SS" or epoch seconds.
fn minute_of(timestamp: &RawValue) -> Option<Cow<'_, str>> {
    match weir_plugin::json::as_str(timestamp) {
        Some(Cow::Borrowed(text)) => text.get(..16).map(Cow::Borrowed),
        Some(Cow::Owned(text)) => text.get(..16).map(|minute| Cow::Owned(minute.to_string())),
        None => serde_json::from_str::<i64>(timestamp.get())
            .ok()
            .map(|secs| Cow::Owned(format!("epoch-minute {}", secs.div_euclid(60)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(device: &str, locale: &str, user: &str, ts: &str) -> Vec<u8> {
        format!(
            r#"{{"user_id":"{user}","app_version":"2.3.0","device_type":"{device}","locale":"{locale}","device_id":"d-{user}","timestamp":"{ts}"}}"#
        )
        .into_bytes()
    }

    fn sample() -> Analytics {
        let mut a = Analytics::default();
        a.update(&login("iOS", "VT", "1", "2024-10-29 16:20:23"));
        a.update(&login("iOS", "MT", "2", "2024-10-29 16:20:59"));
        a.update(&login("android", "VT", "1", "2024-10-29 16:21:00"));
        a.update(&login("iOS", "LA", "3", "2024-10-29 16:21:30"));
        a.update(b"not json");
        a
    }

    fn rows<'a>(report: &'a Report, name: &str) -> &'a [(String, u64)] {
        &report.tables.iter().find(|t| t.name == name).unwrap().rows
    }

    fn counter(report: &Report, name: &str) -> u64 {
        report.counters.iter().find(|c| c.0 == name).unwrap().1
    }

    #[test]
    fn counts_what_the_original_printed_and_more() {
        let report = sample().report(&Config::default());
        assert_eq!(counter(&report, "total_logins"), 4);
        assert_eq!(counter(&report, "distinct_users"), 3);
        assert_eq!(counter(&report, "distinct_devices"), 3);
        assert_eq!(counter(&report, "unreadable_records"), 1);
        assert_eq!(counter(&report, "peak_logins_per_minute"), 2);
        assert_eq!(rows(&report, "device_types"), [("iOS".into(), 3), ("android".into(), 1)]);
        assert_eq!(
            rows(&report, "top_locales"),
            [("VT".into(), 2), ("LA".into(), 1), ("MT".into(), 1)]
        );
        assert_eq!(
            rows(&report, "logins_per_minute"),
            [("2024-10-29 16:20".into(), 2), ("2024-10-29 16:21".into(), 2)]
        );
    }

    #[test]
    fn top_n_is_configurable() {
        let config = Config::parse(r#"{"top_locales":1,"top_device_types":1}"#).unwrap();
        let report = sample().report(&config);
        assert_eq!(rows(&report, "top_locales"), [("VT".into(), 2)]);
        assert_eq!(rows(&report, "top_device_types"), [("iOS".into(), 3)]);
        assert!(Config::parse(r#"{"top":1}"#).is_err());
    }

    #[test]
    fn snapshots_round_trip_and_merge_adds_up() {
        let a = sample();
        let restored = Analytics::from_snapshot(&a.snapshot()).unwrap();
        assert_eq!(restored, a);
        let mut merged = sample();
        merged.merge(restored);
        let report = merged.report(&Config::default());
        assert_eq!(counter(&report, "total_logins"), 8);
        assert_eq!(counter(&report, "distinct_users"), 3, "sets union, not add");
        assert!(Analytics::from_snapshot(b"junk").is_err());
    }

    #[test]
    fn missing_fields_are_counted_as_missing() {
        let mut a = Analytics::default();
        a.update(br#"{"user_id":"u","timestamp":1730244200}"#);
        let report = a.report(&Config::default());
        assert_eq!(rows(&report, "device_types"), [("(missing)".into(), 1)]);
        assert_eq!(rows(&report, "logins_per_minute")[0].0, "epoch-minute 28837403");
    }

    #[test]
    fn label_tables_are_bounded_with_an_other_bucket() {
        let mut a = Analytics::default();
        for i in 0..(MAX_LABELS + 500) {
            a.update(
                format!(r#"{{"user_id":"u{i}","locale":"L{i}","timestamp":{}}}"#, i * 60)
                    .as_bytes(),
            );
        }
        assert_eq!(a.locales.len(), MAX_LABELS + 1);
        assert_eq!(a.locales[OTHER], 500);
        assert_eq!(a.per_minute.len(), MAX_MINUTES.min(MAX_LABELS + 500));
        let report = a.report(&Config::default());
        assert_eq!(counter(&report, "distinct_users"), (MAX_LABELS + 500) as u64);
        assert_eq!(counter(&report, "minutes_seen"), (MAX_LABELS + 500) as u64);
    }
}
