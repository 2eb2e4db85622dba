//! The Prometheus metrics of a running flow. Their names and labels are a contract:
//! `deploy/grafana/weir.json` and `deploy/prometheus/alerts.yml` are built on them.
//!
//! Series that dashboards and alerts compute rates of (faults, dead letters, restarts) are
//! created at zero when a stage starts, so `rate()` has a series before the first event.

use crate::plugin::FaultKind;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageKindLabels {
    pub stage: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: i32,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub stage: String,
    pub plugin: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TableLabels {
    pub table: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub version: String,
}

type Histograms = Family<StageLabels, Histogram, fn() -> Histogram>;

/// Batch durations from 50 µs to ~3 s.
fn batch_duration() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric weir exports, cheap to clone (the values are shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    consumed: TopicCounters,
    produced: TopicCounters,
    pub dead_letters: Family<StageKindLabels, Counter>,
    stage_duration: Histograms,
    stage_records: Family<StageLabels, Counter>,
    plugin_faults: Family<StageKindLabels, Counter>,
    plugin_restarts: Family<StageLabels, Counter>,
    plugin_memory: Family<StageLabels, Gauge>,
    breaker_open: Family<StageLabels, Gauge>,
    pub inflight_batches: Gauge,
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    pub producer_queue: Gauge,
    pub ready: Gauge,
    /// Records `weir dlq redrive` sent back, and records `weir replay` read.
    pub redriven: Counter,
    pub replayed: Counter,
    plugin_info: Family<PluginLabels, Gauge>,
    table_keys: Family<TableLabels, Gauge>,
    table_bytes: Family<TableLabels, Gauge>,
    table_lag: Family<TableLabels, Gauge>,
    table_on_disk: Family<TableLabels, Gauge>,
    table_lookups: Family<TableLabels, Counter>,
    table_misses: Family<TableLabels, Counter>,
    table_refused: Family<TableLabels, Counter>,
    /// The info series of each stage's plugin now.
    plugins: Arc<Mutex<HashMap<String, PluginLabels>>>,
    /// Who is told what the numbers do not carry (the status page).
    events: super::events::Events,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let metrics = Metrics {
            registry: Arc::default(),
            consumed: TopicCounters::default(),
            produced: TopicCounters::default(),
            dead_letters: Family::default(),
            stage_duration: Family::new_with_constructor(batch_duration),
            stage_records: Family::default(),
            plugin_faults: Family::default(),
            plugin_restarts: Family::default(),
            plugin_memory: Family::default(),
            breaker_open: Family::default(),
            inflight_batches: Gauge::default(),
            consumer_lag: Family::default(),
            producer_queue: Gauge::default(),
            ready: Gauge::default(),
            redriven: Counter::default(),
            replayed: Counter::default(),
            plugin_info: Family::default(),
            table_keys: Family::default(),
            table_bytes: Family::default(),
            table_lag: Family::default(),
            table_on_disk: Family::default(),
            table_lookups: Family::default(),
            table_misses: Family::default(),
            table_refused: Family::default(),
            plugins: Arc::default(),
            events: Default::default(),
        };
        let m = &metrics;
        // Counters are registered without `_total`: the encoder adds it.
        registry.register(
            "weir_records_consumed",
            "Records read from each input topic",
            m.consumed.family.clone(),
        );
        registry.register(
            "weir_records_produced",
            "Records acknowledged by the broker, by destination topic (outputs, dead letters, repaired, parked)",
            m.produced.family.clone(),
        );
        registry.register(
            "weir_dead_letters",
            "Dead letters by the stage that rejected them and why (violation or a fault kind)",
            m.dead_letters.clone(),
        );
        registry.register(
            "weir_stage_duration_seconds",
            "Time a stage took per batch",
            m.stage_duration.clone(),
        );
        registry.register(
            "weir_stage_records",
            "Records each stage was handed",
            m.stage_records.clone(),
        );
        registry.register(
            "weir_plugin_faults",
            "Records a plugin failed on, by fault kind",
            m.plugin_faults.clone(),
        );
        registry.register(
            "weir_plugin_restarts",
            "Fresh plugin instances made after a failed one",
            m.plugin_restarts.clone(),
        );
        registry.register(
            "weir_plugin_memory_bytes",
            "Linear memory of the stage's live plugin instance",
            m.plugin_memory.clone(),
        );
        registry.register(
            "weir_breaker_open",
            "1 while the circuit breaker holds a batch back for this stage",
            m.breaker_open.clone(),
        );
        registry.register(
            "weir_inflight_batches",
            "Batches handed to the plugin thread and not yet back",
            m.inflight_batches.clone(),
        );
        registry.register(
            "weir_consumer_lag",
            "Records behind the partition's end (librdkafka statistics)",
            m.consumer_lag.clone(),
        );
        registry.register(
            "weir_producer_queue",
            "Records produced and not yet acknowledged",
            m.producer_queue.clone(),
        );
        registry.register(
            "weir_ready",
            "1 when plugins are loaded, the group is joined and a broker is up",
            m.ready.clone(),
        );
        registry.register(
            "weir_redriven_records",
            "Records `weir dlq redrive` sent back to the input topic",
            m.redriven.clone(),
        );
        registry.register(
            "weir_replayed_records",
            "Records `weir replay` read from its range",
            m.replayed.clone(),
        );
        registry.register(
            "weir_plugin_info",
            "Which plugin (file stem and SHA-256) runs in which stage",
            m.plugin_info.clone(),
        );
        registry.register(
            "weir_table_keys",
            "Keys an enrichment table holds",
            m.table_keys.clone(),
        );
        registry.register(
            "weir_table_bytes",
            "Bytes an enrichment table holds, as counted against its bounds",
            m.table_bytes.clone(),
        );
        registry.register(
            "weir_table_on_disk",
            "1 once an enrichment table has passed its max_memory_mib and lives on disk",
            m.table_on_disk.clone(),
        );
        registry.register(
            "weir_table_lag",
            "Records of a table's topic not yet applied to the table",
            m.table_lag.clone(),
        );
        registry.register(
            "weir_table_lookups",
            "Lookups plugins made in an enrichment table",
            m.table_lookups.clone(),
        );
        registry.register("weir_table_misses", "Lookups that found no key", m.table_misses.clone());
        registry.register(
            "weir_table_refused_updates",
            "Updates refused: the table would pass its last bound, or its disk failed",
            m.table_refused.clone(),
        );
        let build: Family<VersionLabels, Gauge> = Family::default();
        build
            .get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION").to_string() })
            .set(1);
        registry.register("weir_build_info", "weir's version", build);
        Metrics { registry: Arc::new(registry), ..metrics }
    }

    pub fn events(&self) -> &super::events::Events {
        &self.events
    }

    /// The exposition in Prometheus' text format (0.0.4), which every scraper reads.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String");
        text
    }

    /// A stage's handles, its zero series created (dead letters only for a stage that
    /// `rejects` records), and which plugin it runs.
    pub fn stage(&self, stage: &str, plugin: &str, sha256: &str, rejects: bool) -> StageMeter {
        let labels = StageLabels { stage: stage.to_string() };
        for kind in FaultKind::ALL {
            let labels =
                StageKindLabels { stage: stage.to_string(), kind: kind.as_str().to_string() };
            self.plugin_faults.get_or_create_owned(&labels);
            if rejects {
                self.dead_letters.get_or_create_owned(&labels);
            }
        }
        if rejects {
            self.dead_letters.get_or_create_owned(&StageKindLabels {
                stage: stage.to_string(),
                kind: "violation".into(),
            });
        }
        self.breaker_open.get_or_create(&labels).set(0);
        // A hot-swapped plugin replaces its stage's info series rather than adding one.
        let info = PluginLabels {
            stage: stage.to_string(),
            plugin: plugin.to_string(),
            sha256: sha256.to_string(),
        };
        if let Some(previous) = self.plugins.lock().unwrap().insert(stage.to_string(), info.clone())
        {
            self.plugin_info.remove(&previous);
        }
        self.plugin_info.get_or_create(&info).set(1);
        StageMeter {
            stage: stage.to_string(),
            duration: self.stage_duration.get_or_create_owned(&labels),
            records: self.stage_records.get_or_create_owned(&labels),
            restarts: self.plugin_restarts.get_or_create_owned(&labels),
            memory: self.plugin_memory.get_or_create_owned(&labels),
            faults: self.plugin_faults.clone(),
            restarts_seen: 0,
        }
    }

    /// An enrichment table's series as it stands: its size, its lag behind its topic
    /// (records), the lookups and misses it counts, the updates it refused.
    pub fn table(&self, table: &crate::table::Table, lag: u64, refused: u64) {
        let labels = TableLabels { table: table.name().to_string() };
        self.table_keys.get_or_create(&labels).set(table.len() as i64);
        self.table_bytes.get_or_create(&labels).set(table.bytes() as i64);
        self.table_lag.get_or_create(&labels).set(lag as i64);
        self.table_on_disk.get_or_create(&labels).set(i64::from(table.on_disk().is_some()));
        let (lookups, misses) = table.lookups();
        for (family, now) in [
            (&self.table_lookups, lookups),
            (&self.table_misses, misses),
            (&self.table_refused, refused),
        ] {
            let counter = family.get_or_create(&labels);
            counter.inc_by(now.saturating_sub(counter.get()));
        }
    }

    /// A dead letter of `stage` for `kind` (violation, or a fault's kind).
    pub fn dead_letter(&self, stage: &str, kind: &str) {
        self.dead_letters
            .get_or_create(&StageKindLabels { stage: stage.to_string(), kind: kind.to_string() })
            .inc();
    }

    pub fn breaker(&self, stage: &str, open: bool) {
        self.breaker_open
            .get_or_create(&StageLabels { stage: stage.to_string() })
            .set(i64::from(open));
    }

    /// Counts `n` records read from `topic`.
    pub fn consumed(&self, topic: &str, n: usize) {
        self.consumed.add(topic, n as u64);
    }

    /// Counts a record the broker acknowledged on `topic` (once per record: no allocation).
    pub fn produced(&self, topic: &str) {
        self.produced.add(topic, 1);
    }
}

/// A counter per topic, found by name without allocating a label set: a flow reads and
/// writes a handful of topics, and acknowledgements are counted one by one.
#[derive(Clone, Default)]
struct TopicCounters {
    family: Family<TopicLabels, Counter>,
    known: Arc<Mutex<Vec<(String, Counter)>>>,
}

impl TopicCounters {
    fn add(&self, topic: &str, n: u64) {
        let mut known = self.known.lock().unwrap();
        if let Some((_, counter)) = known.iter().find(|(t, _)| t == topic) {
            counter.inc_by(n);
            return;
        }
        let counter = self.family.get_or_create_owned(&TopicLabels { topic: topic.to_string() });
        counter.inc_by(n);
        known.push((topic.to_string(), counter));
    }
}

/// What one stage records after each batch.
pub struct StageMeter {
    stage: String,
    duration: Histogram,
    records: Counter,
    restarts: Counter,
    memory: Gauge,
    faults: Family<StageKindLabels, Counter>,
    /// The stage's restart count at the last batch, to add only what is new.
    restarts_seen: u64,
}

impl StageMeter {
    /// A batch of `records` took `elapsed`; `faults` are the kinds of the records it
    /// failed on; `restarts` and `memory_bytes` are the stage's totals now.
    pub fn batch(
        &mut self,
        elapsed: Duration,
        records: usize,
        faults: impl Iterator<Item = FaultKind>,
        restarts: u64,
        memory_bytes: usize,
    ) {
        self.duration.observe(elapsed.as_secs_f64());
        self.records.inc_by(records as u64);
        for kind in faults {
            self.faults
                .get_or_create(&StageKindLabels {
                    stage: self.stage.clone(),
                    kind: kind.as_str().to_string(),
                })
                .inc();
        }
        self.restarts.inc_by(restarts.saturating_sub(self.restarts_seen));
        self.restarts_seen = restarts;
        self.memory.set(memory_bytes as i64);
    }
}
