//! The report as a person reads it: counts, the aggregator's counters and tables with bars,
//! the last closed windows — or the report's JSON, as `--report` asks.

use serde_json::Value;
use std::fmt::Write;
use weir_core::report::Analytics;
use weir_core::report::Report;
use weir_core::stats::Stats;

/// How a report is shown (`--report` on the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

const BAR_WIDTH: u64 = 40;

/// `report` as `format` asks.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Json => report.json().to_string(),
    }
}

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let s = report.stats;
    let _ = writeln!(out, "── weir report ─────────────────────────────────────────");
    let _ = write!(
        out,
        "records in {} · processed {} · dead letters {}",
        s.records_in, s.processed, s.dead_letters
    );
    for (name, value) in &report.extra {
        let _ = write!(out, " · {} {}", name.replace('_', " "), value);
    }
    out.push('\n');
    // What went wrong beside the records, said only when it happened ("N …").
    for (count, what) in [
        (s.aggregate_faults, "records the aggregator failed on (delivered, not counted)"),
        (
            s.analytics_resets,
            "times the analytics restarted from empty (the aggregator's state was lost)",
        ),
        (s.state_restore_failures, "partition states could not be restored and started empty"),
        (s.checkpoint_failures, "partition checkpoints failed"),
    ] {
        if count > 0 {
            let _ = writeln!(out, "{count} {what}");
        }
    }
    if let Some(windows) = &report.windows {
        out.push('\n');
        out.push_str(&windows_text(windows, s));
    }
    // A windowed aggregator's results are its windows (the analytics would be those
    // of the windows still open: in the JSON report only).
    if let (Some((plugin, analytics)), None) = (&report.analytics, &report.windows) {
        out.push('\n');
        out.push_str(&analytics_text(plugin, analytics, &report.partitions));
    }
    out
}

/// A plugin's analytics as text: counters, then each table with bars.
pub fn analytics_text(plugin: &str, analytics: &Analytics, partitions: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{plugin}");
    if !partitions.is_empty() {
        let _ = writeln!(out, "  (partitions {})", partitions.join(", "));
    }
    let width = analytics.counters.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for counter in &analytics.counters {
        let _ = writeln!(out, "  {:<width$}  {:>10}", counter.name, counter.value);
    }
    for table in &analytics.tables {
        let _ = writeln!(out, "\n{}:", table.title);
        if table.rows.is_empty() {
            let _ = writeln!(out, "  (none)");
            continue;
        }
        let label_width = table.rows.iter().map(|r| r.label.chars().count()).max().unwrap_or(0);
        let max = table.rows.iter().map(|r| r.count).max().unwrap_or(1).max(1);
        for row in &table.rows {
            let bar = "█".repeat(((row.count * BAR_WIDTH).div_ceil(max)) as usize);
            let _ = writeln!(
                out,
                "  {:<label_width$}  {bar} {}",
                weir_core::text::escape_controls(&row.label),
                row.count
            );
        }
    }
    out
}

/// The last windows closed, one line each: when, where, and the counters.
fn windows_text(windows: &[Value], stats: &Stats) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "windows closed {} · late records {}",
        stats.windows_closed, stats.window_late
    );
    if !windows.is_empty() {
        let _ = writeln!(out, "last closed:");
    }
    for w in windows {
        // The first counters and the first table's leading rows: one line per window.
        let counters = w["counters"].as_object().map(|c| {
            c.iter().take(2).map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(" · ")
        });
        let table = w["tables"].as_object().and_then(|t| t.iter().next()).map(|(name, rows)| {
            let rows = rows.as_array().map(|r| {
                r.iter()
                    .take(3)
                    .map(|r| format!("{} {}", r["label"].as_str().unwrap_or("?"), r["count"]))
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            format!(" · {name}: {}", rows.unwrap_or_default())
        });
        let line = format!(
            "  {} → {}  {}/{}  {}{}",
            w["window"]["start"].as_str().unwrap_or("?"),
            w["window"]["end"].as_str().unwrap_or("?"),
            w["topic"].as_str().unwrap_or("?"),
            w["partition"],
            counters.unwrap_or_default(),
            table.unwrap_or_default()
        );
        let _ = writeln!(out, "{}", weir_core::text::escape_controls(&line));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::report::{Counter, Row, Table};

    /// One report, as people read it and as machines do (core's `json`, tested here with
    /// the same fixture rather than a second copy of it).
    #[test]
    fn text_has_counts_and_proportional_bars_and_json_the_same_figures() {
        let stats = Stats { records_in: 3, processed: 2, dead_letters: 1, ..Stats::default() };
        let analytics = Analytics {
            counters: vec![Counter { name: "total_logins".into(), value: 2 }],
            tables: vec![Table {
                name: "device_types".into(),
                title: "All device types".into(),
                rows: vec![
                    Row { label: "iOS".into(), count: 116 },
                    Row { label: "android".into(), count: 58 },
                ],
            }],
        };
        let report = Report {
            stats: &stats,
            extra: vec![],
            analytics: Some(("login-analytics".into(), analytics)),
            partitions: vec![],
            windows: None,
        };
        let text = text(&report);
        assert!(text.contains("processed 2 · dead letters 1"), "{text}");
        assert!(text.contains(&format!("iOS      {} 116", "█".repeat(40))), "{text}");
        assert!(text.contains(&format!("android  {} 58", "█".repeat(20))), "{text}");
        let json = report.json();
        assert_eq!(json["analytics"]["counters"]["total_logins"], 2);
        assert_eq!(json["analytics"]["tables"][0]["rows"][1]["label"], "android");
        assert_eq!(json["pipeline"]["dead_letters"], 1);
    }
}
