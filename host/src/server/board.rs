//! The status page's model (`GET /api/status`): the flow as the page draws it. Counts,
//! durations, faults, memory and lag are read back from the metrics' own exposition
//! (`exposition`), so the page and Prometheus never disagree; the board adds what the
//! metrics do not carry, as the flow tells it (`weir_core::ops::events`): which stage runs
//! what, the last dead letters, the aggregator's report and when each partition was last
//! checkpointed; and each topic's role, from the config.
//!
//! Everything here comes from records or plugins as plain JSON strings: the page puts
//! them in the DOM as text, never as markup.

use super::exposition::{self, Sample};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use weir_core::ops::events::{DeadLettered, StageStarted, Watcher};

/// Dead letters kept for the page, newest last.
const RECENT: usize = 8;
/// Distinct (stage, kind, reason) rows counted; past this, rows go to "(other reasons)".
const REASON_ROWS: usize = 40;
/// Characters of a dead letter's key and value shown.
const SHOWN_CHARS: usize = 120;
/// Rates are taken over this much of the recent samples.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// While the page was asked within this, the aggregator's report is refreshed for it.
const WATCHED: Duration = Duration::from_secs(10);
const REPORT_EVERY: Duration = Duration::from_secs(2);
/// After a report failed, how long the page waits before asking for another.
const REPORT_FAILED_WAIT: Duration = Duration::from_secs(60);

#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<Shown>>);

#[derive(Default)]
struct Shown {
    /// Each topic of the flow with its role (`input`, `output`, `dead_letter`…), input first.
    topics: Vec<(String, String)>,
    stages: Vec<Value>,
    reasons: BTreeMap<(String, String, String), u64>,
    recent: VecDeque<Value>,
    report: Option<(Instant, Value)>,
    checkpoints: HashMap<(String, i32), Instant>,
    /// Counter values by series, a second apart: the rates on the page's edges.
    samples: VecDeque<(Instant, HashMap<String, f64>)>,
    asked: Option<Instant>,
}

/// The flow's events, as the page shows them.
impl Watcher for Board {
    /// A stage and its plugin; a hot swap replaces the stage's card.
    fn stage(&self, card: &StageStarted) {
        let value = json!({
            "name": card.name, "kind": card.kind, "plugin": card.plugin, "sha256": card.sha256,
            "contract": card.contract, "memory_limit_bytes": card.memory_limit_bytes,
        });
        let mut shown = self.shown();
        match shown.stages.iter_mut().find(|s| s["name"] == card.name) {
            Some(existing) => *existing = value,
            None => shown.stages.push(value),
        }
    }

    /// Everything is cut and escaped before the board's lock is taken: the probes and
    /// the sampler wait on that lock, never on a record's size.
    fn dead_letter(&self, card: &DeadLettered) {
        // A printed byte is at most 4 characters wide (`\u{1b}` is 6 for a 1-byte
        // control): 8 bytes a shown character are more than it can need.
        let text = |bytes: &[u8]| {
            weir_core::text::prefix(
                &weir_core::text::printable(&bytes[..bytes.len().min(SHOWN_CHARS * 8)]),
                SHOWN_CHARS,
            )
            .to_string()
        };
        let row = (
            card.stage.to_string(),
            card.kind.to_string(),
            weir_core::text::normalised(card.reason),
        );
        let reason =
            weir_core::text::escape_controls(weir_core::text::prefix(card.reason, SHOWN_CHARS * 2));
        let recent = json!({
            "at_ms": now_ms(), "stage": card.stage, "kind": card.kind,
            "reason": weir_core::text::prefix(&reason, SHOWN_CHARS * 2),
            "key": card.key.map(text), "value": text(card.value),
        });
        let mut shown = self.shown();
        let row = if shown.reasons.len() >= REASON_ROWS && !shown.reasons.contains_key(&row) {
            (row.0, row.1, "(other reasons)".to_string())
        } else {
            row
        };
        *shown.reasons.entry(row).or_default() += 1;
        if shown.recent.len() == RECENT {
            shown.recent.pop_front();
        }
        shown.recent.push_back(recent);
    }

    /// Whether the page is watched and its report is stale: the flow then computes one.
    fn report_due(&self) -> bool {
        let shown = self.shown();
        let wait = |report: &Value| {
            if report.get("error").is_some() {
                REPORT_FAILED_WAIT
            } else {
                REPORT_EVERY
            }
        };
        shown.asked.is_some_and(|at| at.elapsed() < WATCHED)
            && shown.report.as_ref().is_none_or(|(at, report)| at.elapsed() >= wait(report))
    }

    /// A report that could not be made: the page says why instead.
    fn report(&self, report: Result<Value, String>) {
        let report =
            report.unwrap_or_else(|error| json!({ "error": weir_core::text::cut(&error, 1_000) }));
        self.shown().report = Some((Instant::now(), report));
    }

    fn checkpointed(&self, topic: &str, partition: i32) {
        self.shown().checkpoints.insert((topic.to_string(), partition), Instant::now());
    }
}

impl Board {
    fn shown(&self) -> std::sync::MutexGuard<'_, Shown> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The flow's topics and their roles, input first.
    pub fn topics(&self, roles: Vec<(String, String)>) {
        self.shown().topics = roles;
    }

    /// Keeps the counters of `exposition` for the rates (called about once a second).
    pub fn sample(&self, exposition: &str) {
        self.sample_at(Instant::now(), exposition);
    }

    fn sample_at(&self, now: Instant, exposition: &str) {
        let counters = counters(&exposition::parse(exposition));
        let mut shown = self.shown();
        while shown
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW + Duration::from_secs(1))
        {
            shown.samples.pop_front();
        }
        shown.samples.push_back((now, counters));
    }

    /// `/api/status`: the board and the metrics (`exposition`) as one document.
    pub fn status(&self, exposition: &str, ready: Result<(), Vec<String>>) -> Value {
        self.status_at(Instant::now(), exposition, ready)
    }

    fn status_at(&self, now: Instant, exposition: &str, ready: Result<(), Vec<String>>) -> Value {
        let samples = exposition::parse(exposition);
        let now_counters = counters(&samples);
        let mut shown = self.shown();
        shown.asked = Some(now);
        // The rate base: the oldest sample within the window, at least half a second old.
        let base = shown.samples.iter().find(|(at, _)| {
            now.duration_since(*at) <= RATE_WINDOW + Duration::from_millis(500)
                && now.duration_since(*at) >= Duration::from_millis(500)
        });
        let rate = |series: &str| -> Value {
            let Some((at, old)) = base else { return Value::Null };
            let (Some(new), old) =
                (now_counters.get(series), old.get(series).copied().unwrap_or(0.0))
            else {
                return json!(0.0);
            };
            json!(((new - old) / now.duration_since(*at).as_secs_f64()).max(0.0))
        };
        let value = |name: &str, label: &str, of: &str| -> f64 {
            samples
                .iter()
                .find(|s| s.name == name && s.label(label) == Some(of))
                .map_or(0.0, |s| s.value)
        };

        let input = shown.topics.first().map(|(t, _)| t.clone()).unwrap_or_default();
        let stages: Vec<Value> = shown
            .stages
            .iter()
            .map(|card| {
                let name = card["name"].as_str().unwrap_or_default();
                let buckets: Vec<(f64, f64)> = samples
                    .iter()
                    .filter(|s| {
                        s.name == "weir_stage_duration_seconds_bucket"
                            && s.label("stage") == Some(name)
                    })
                    .filter_map(|s| Some((le(s.label("le")?)?, s.value)))
                    .collect();
                let ms =
                    |q: f64| exposition::quantile(&buckets, q).map(|s| (s * 1e6).round() / 1e3);
                let faults: BTreeMap<&str, f64> = samples
                    .iter()
                    .filter(|s| {
                        s.name == "weir_plugin_faults_total" && s.label("stage") == Some(name)
                    })
                    .filter_map(|s| Some((s.label("kind")?, s.value)))
                    .collect();
                let mut stage = card.clone();
                stage["records"] = json!(value("weir_stage_records_total", "stage", name));
                stage["per_s"] = rate(&series("weir_stage_records_total", "stage", name));
                stage["batch_p50_ms"] = json!(ms(0.5));
                stage["batch_p99_ms"] = json!(ms(0.99));
                stage["faults"] = json!(faults);
                stage["restarts"] = json!(value("weir_plugin_restarts_total", "stage", name));
                stage["memory_bytes"] = json!(value("weir_plugin_memory_bytes", "stage", name));
                stage["breaker"] = json!(if value("weir_breaker_open", "stage", name) > 0.0 {
                    "open"
                } else {
                    "closed"
                });
                stage["dead_letters"] = json!(samples
                    .iter()
                    .filter(
                        |s| s.name == "weir_dead_letters_total" && s.label("stage") == Some(name)
                    )
                    .fold(0.0, |sum, s| sum + s.value));
                stage
            })
            .collect();

        // Every topic written to, with its role if the config names it.
        let mut outputs: Vec<Value> = shown
            .topics
            .iter()
            .skip(1)
            .map(|(topic, role)| json!({ "topic": topic, "role": role }))
            .collect();
        for s in samples.iter().filter(|s| s.name == "weir_records_produced_total") {
            let topic = s.label("topic").unwrap_or_default();
            if !outputs.iter().any(|o| o["topic"] == topic) {
                outputs.push(json!({ "topic": topic, "role": "routed" }));
            }
        }
        for output in &mut outputs {
            let topic = output["topic"].as_str().unwrap_or_default().to_string();
            output["records"] = json!(value("weir_records_produced_total", "topic", &topic));
            output["per_s"] = rate(&series("weir_records_produced_total", "topic", &topic));
        }

        let partitions: Vec<Value> = samples
            .iter()
            .filter(|s| s.name == "weir_consumer_lag")
            .map(|s| {
                let (topic, partition) = (s.label("topic").unwrap_or_default(), s.label("partition").and_then(|p| p.parse::<i32>().ok()).unwrap_or(-1));
                let checkpoint = shown.checkpoints.get(&(topic.to_string(), partition));
                json!({ "topic": topic, "partition": partition, "lag": s.value, "checkpoint_age_s": checkpoint.map(|at| at.elapsed().as_secs_f64()) })
            })
            .collect();
        // Enrichment tables (contract 0.3): their size, lag and lookups, from their series.
        let tables: Vec<Value> = samples
            .iter()
            .filter(|s| s.name == "weir_table_keys")
            .filter_map(|s| s.label("table"))
            .map(|table| {
                json!({
                    "table": table,
                    "keys": value("weir_table_keys", "table", table),
                    "bytes": value("weir_table_bytes", "table", table),
                    "on_disk": value("weir_table_on_disk", "table", table) == 1.0,
                    "lag": value("weir_table_lag", "table", table),
                    "lookups": value("weir_table_lookups_total", "table", table),
                    "lookups_per_s": rate(&series("weir_table_lookups_total", "table", table)),
                    "misses": value("weir_table_misses_total", "table", table),
                    "refused_updates": value("weir_table_refused_updates_total", "table", table),
                })
            })
            .collect();
        let by_reason: Vec<Value> = shown
            .reasons
            .iter()
            .map(|((stage, kind, reason), count)| json!({ "stage": stage, "kind": kind, "reason": reason, "count": count }))
            .collect();
        let ready = match ready {
            Ok(()) => json!({ "ready": true, "missing": [] }),
            Err(missing) => json!({ "ready": false, "missing": missing }),
        };
        json!({
            "weir": env!("CARGO_PKG_VERSION"),
            "at_ms": now_ms(),
            "readiness": ready,
            "input": {
                "topic": input,
                "records": value("weir_records_consumed_total", "topic", &input),
                "per_s": rate(&series("weir_records_consumed_total", "topic", &input)),
            },
            "stages": stages,
            "outputs": outputs,
            "dead_letters": { "by_reason": by_reason, "recent": shown.recent.iter().rev().collect::<Vec<_>>() },
            "partitions": partitions,
            "tables": tables,
            "report": shown.report.as_ref().map(|(at, report)| json!({ "age_s": at.elapsed().as_secs_f64(), "report": report })),
        })
    }
}

/// The topics `config`'s flow reads and writes, each with its role, input first.
pub fn topic_roles(config: &weir_core::config::Config) -> Vec<(String, String)> {
    let role = |key: &str| match key {
        "kafka.input_topic" => "input",
        "kafka.output_topic" => "output",
        "kafka.dead_letter_topic" => "dead_letter",
        "kafka.parked_topic" => "parked",
        "state.topic" => "state",
        "kafka.analytics_topic" => "analytics",
        "aggregate.window.topic" => "windows",
        _ => "other",
    };
    config.topic_roles().into_iter().map(|(key, topic)| (topic, role(key).to_string())).collect()
}

fn counters(samples: &[Sample]) -> HashMap<String, f64> {
    samples
        .iter()
        .filter(|s| s.name.ends_with("_total"))
        .map(|s| (key(&s.name, &s.labels), s.value))
        .collect()
}

fn key(name: &str, labels: &[(String, String)]) -> String {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{name}{{{}}}", labels.join(","))
}

fn series(name: &str, label: &str, value: &str) -> String {
    key(name, &[(label.to_string(), value.to_string())])
}

fn le(text: &str) -> Option<f64> {
    if text == "+Inf" {
        return Some(f64::INFINITY);
    }
    text.parse().ok()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::ops::Metrics;

    #[test]
    fn the_status_reads_the_metrics_and_adds_the_board() {
        let metrics = Metrics::new();
        let board = Board::default();
        metrics.events().watch(Arc::new(board.clone()));
        board.topics(vec![
            ("in".into(), "input".into()),
            ("out".into(), "output".into()),
            ("dlq".into(), "dead_letter".into()),
        ]);
        let mut meter = metrics.stage("validate", "schema-validator", "abc", true);
        metrics.events().stage(&StageStarted {
            name: "validate",
            kind: "validator",
            plugin: "schema-validator",
            sha256: "abc",
            contract: "0.2.0".into(),
            memory_limit_bytes: 64 << 20,
        });
        metrics.consumed("in", 10);
        let sampled = Instant::now();
        board.sample_at(sampled, &metrics.encode());
        metrics.consumed("in", 30);
        meter.batch(Duration::from_millis(2), 40, std::iter::empty(), 0, 1 << 20);
        for i in 0..12 {
            metrics.produced("out");
            metrics.dead_letter("validate", "violation");
            metrics.events().dead_letter(&DeadLettered {
                stage: "validate",
                kind: "violation",
                reason: &format!("\"v{i}\" is not of type \"integer\""),
                key: Some(b"<b>k</b>"),
                value: b"{\"x\":1}\n",
            });
        }
        let status =
            board.status_at(sampled + Duration::from_millis(600), &metrics.encode(), Ok(()));
        assert_eq!(status["input"]["records"], 40.0);
        let rate = status["input"]["per_s"].as_f64().unwrap();
        assert!(rate > 0.0 && rate <= 30.0 / 0.6, "30 records over at least 0.6 s: {rate}");
        let stage = &status["stages"][0];
        assert_eq!(
            (stage["name"].as_str(), stage["plugin"].as_str(), stage["contract"].as_str()),
            (Some("validate"), Some("schema-validator"), Some("0.2.0"))
        );
        assert_eq!(
            (stage["records"].as_f64(), stage["dead_letters"].as_f64(), stage["breaker"].as_str()),
            (Some(40.0), Some(12.0), Some("closed"))
        );
        assert!(
            stage["batch_p50_ms"].as_f64().unwrap() > 1.0
                && stage["batch_p99_ms"].as_f64().unwrap() <= 3.3,
            "{stage}"
        );
        assert_eq!(status["outputs"][0]["records"], 12.0);
        assert_eq!(status["tables"], json!([]), "no tables, none shown");
        let profiles = weir_core::table::Table::new("user-profiles", 1);
        profiles.put(b"u1", Some(b"{}")).unwrap();
        profiles.get(b"u1").unwrap();
        profiles.get(b"u2").unwrap();
        metrics.table(&profiles, 3, 0);
        let status =
            board.status_at(sampled + Duration::from_millis(700), &metrics.encode(), Ok(()));
        let table = &status["tables"][0];
        assert_eq!(
            (&table["table"], &table["keys"], &table["lag"], &table["lookups"], &table["misses"]),
            (&json!("user-profiles"), &json!(1.0), &json!(3.0), &json!(2.0), &json!(1.0)),
            "{table}"
        );
        assert_eq!(table["on_disk"], false, "{table}");
        assert_eq!(status["outputs"][1]["role"], "dead_letter");
        let rows = status["dead_letters"]["by_reason"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "reasons that differ only in values are one row: {rows:?}");
        assert_eq!(rows[0]["count"], 12);
        let recent = status["dead_letters"]["recent"].as_array().unwrap();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0]["reason"], "\"v11\" is not of type \"integer\"", "newest first");
        assert_eq!(
            (recent[0]["key"].as_str(), recent[0]["value"].as_str()),
            (Some("<b>k</b>"), Some("{\"x\":1}\\n")),
            "text as it came, controls escaped"
        );
        let events = metrics.events();
        assert!(events.report_due(), "asked just now, no report yet");
        events.report(Ok(json!({"analytics": null})));
        assert!(!events.report_due());
        events.report(Err("trapped".into()));
        assert!(!events.report_due(), "a failed report is not asked for again at once");
        board.shown().report.as_mut().unwrap().0 -= REPORT_EVERY;
        assert!(!events.report_due(), "nor after the usual 2 s");
        board.shown().report.as_mut().unwrap().0 -= REPORT_FAILED_WAIT;
        assert!(events.report_due(), "after a while it is");
    }
}
