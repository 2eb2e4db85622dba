//! The end-of-run report: pipeline counts plus the aggregator's counters and tables, as
//! data and as JSON (published to the analytics topic). How a person sees it (text with
//! bars) is the binary crate's `report` module.

use crate::stats::Stats;
use serde_json::{json, Value};

pub struct Report<'a> {
    pub stats: &'a Stats,
    /// Extra pipeline-level counters (e.g. duplicates seen, repairs), shown with the stats.
    pub extra: Vec<(&'static str, u64)>,
    pub analytics: Option<(String, Analytics)>,
    /// The input partitions the analytics cover, when they are kept per partition.
    pub partitions: Vec<String>,
    /// A windowed aggregator's last closed windows (result values, oldest first); its
    /// analytics then cover the windows still open.
    pub windows: Option<Vec<Value>>,
}

impl Report<'_> {
    pub fn json(&self) -> Value {
        let mut pipeline = serde_json::to_value(self.stats).expect("stats serialise");
        for (name, value) in &self.extra {
            pipeline[*name] = json!(value);
        }
        let analytics = self.analytics.as_ref().map(|(plugin, a)| analytics_json(plugin, a));
        let mut report = json!({ "pipeline": pipeline, "analytics": analytics });
        if !self.partitions.is_empty() {
            report["partitions"] = json!(self.partitions);
        }
        if let Some(windows) = &self.windows {
            report["windows"] = json!({ "closed": self.stats.windows_closed, "late": self.stats.window_late, "last": windows });
        }
        report
    }
}

/// What an aggregator reports: its counters and ranked tables.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Analytics {
    pub counters: Vec<Counter>,
    pub tables: Vec<Table>,
}

/// A named number, e.g. `total_logins = 221`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    pub name: String,
    pub value: u64,
}

/// A ranked table, e.g. "top 3 locales"; rows are in the order to display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    pub title: String,
    pub rows: Vec<Row>,
}

/// One row of a ranked table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub label: String,
    pub count: u64,
}

pub fn analytics_json(plugin: &str, a: &Analytics) -> Value {
    json!({
        "plugin": plugin,
        "counters": a.counters.iter().map(|c| (c.name.clone(), json!(c.value))).collect::<serde_json::Map<_, _>>(),
        "tables": a.tables.iter().map(|t| json!({
            "name": t.name,
            "title": t.title,
            "rows": t.rows.iter().map(|r| json!({"label": r.label, "count": r.count})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
