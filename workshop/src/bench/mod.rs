//! `weir bench`: throughput, latency, start-up and memory, measured in one run on one
//! machine, each against its own baseline so the ratios mean something on a noisy box.
//!
//! 1. `chain`: the plugin chain (validate + transform + aggregate) in wasm vs the same
//!    logic compiled natively into the host; per stage; as values and batches grow;
//! 2. `broker`: the whole pipeline through the embedded broker vs a passthrough (consume
//!    → produce, no plugins) on the same broker, plus end-to-end latency at a steady rate;
//! 3. start-up with a cold and a warm compile cache; peak memory;
//! 4. `cluster` (with `--cluster`): `weir run` processes on the config's brokers, one and
//!    then two in a group, beside a plain librdkafka consume → produce loop on the same
//!    broker (what the client and the broker allow), and the catch-up over a backlog.
//!
//! `render` turns a result into the text table and into the README's section.

pub mod broker;
pub mod chain;
pub mod cluster;
pub mod cpu;
pub mod render;
pub mod tables;

use broker::Watched;
use chain::{BatchCost, NativeChain, SizeCost, StageCost};
use cluster::GroupRun;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weir_core::config::Config;
use weir_core::pipeline::Pipeline;
use weir_core::plugin::cache::CompileCache;
use weir_core::plugin::Runtime;

pub struct BenchOptions {
    /// Events for the plugin-chain measurement.
    pub chain_events: usize,
    /// Events for the broker measurements.
    pub broker_events: usize,
    /// Events per second for the latency measurement.
    pub latency_rate: f64,
    /// `weir run` on the config's brokers, when asked for.
    pub cluster: Option<ClusterOptions>,
    /// Keys of the enrichment table measured (0: not measured).
    pub table_keys: usize,
}

pub struct ClusterOptions {
    /// The config file the `weir run` processes load (a copy of it, renamed topics).
    pub config_path: PathBuf,
    /// Client settings for the config's brokers, security applied.
    pub client: rdkafka::ClientConfig,
    pub events: usize,
}

#[derive(Debug, Serialize, Deserialize, Default, Clone)]
#[serde(default)]
pub struct BenchResult {
    pub weir_version: String,
    pub cores: usize,
    pub batch_size: usize,
    pub chain_wasm_per_s: f64,
    pub chain_native_per_s: f64,
    pub chain_ratio: f64,
    /// The chain with the same plugins as built for contract 0.1 (0: not measured, as
    /// outside a checkout), against the same native baseline.
    pub chain_v1_wasm_per_s: f64,
    pub chain_v1_ratio: f64,
    pub pipeline_per_s: f64,
    pub passthrough_per_s: f64,
    pub pipeline_ratio: f64,
    /// The pipeline again with metrics kept and `/metrics` scraped every second.
    pub pipeline_metrics_per_s: f64,
    /// The pipeline again with the status page open: `/api/status` polled every second.
    #[serde(default)]
    pub pipeline_status_page_per_s: f64,
    /// Bytes of one `/api/status` answer (one refresh of the page), and of the page itself
    /// (HTML and script, loaded once).
    #[serde(default)]
    pub status_refresh_bytes: usize,
    #[serde(default)]
    pub status_page_bytes: usize,
    pub latency_rate_per_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// Records the percentiles are over, and those left out: made before the first
    /// record came out (the consumer's first fetch), start-up rather than steady state.
    pub latency_records: usize,
    pub latency_warm_up_records: usize,
    /// The slowest record, and what the rest of the machine took meanwhile: a tail is
    /// read beside the neighbours that may have made it (0 in runs from before them).
    pub latency_max_ms: f64,
    pub latency_machine: cpu::CpuShare,
    pub start_cold_ms: f64,
    pub start_warm_ms: f64,
    pub peak_memory_mib: f64,
    pub stages: Vec<StageCost>,
    /// The aggregate stage alone in a pipeline, µs per record: one running state per
    /// partition, then tumbling 1-minute event-time windows (a state per window).
    pub aggregate_running_us: f64,
    pub aggregate_windowed_us: f64,
    pub record_sizes: Vec<SizeCost>,
    pub batch_sizes: Vec<BatchCost>,
    /// `weir run` processes on a real broker: one, then two in a group (`--cluster`).
    pub cluster: Vec<GroupRun>,
    /// One `weir run` catching up a backlog of one-record batches and of big ones (`--cluster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<cluster::CatchUp>,
    /// A plain librdkafka consume → produce loop on the same broker, no plugins and no weir
    /// (`--cluster`): what the client and the broker allow one process, records per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_passthrough_per_s: Option<f64>,
    /// Each stage's memory after the plugin chain's run: instances, linear memory, limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_memory: Vec<weir_core::pipeline::StageMemory>,
    /// The bench process's resident set after each part, and its peak so far: which part
    /// made `peak_memory_mib`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_by_part: Vec<MemoryAfter>,
    /// An enrichment table (contract 0.3): rebuilt from a topic, its memory, lookups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<tables::TableCost>,
}

/// The process's memory once a part of the bench is done.
#[derive(Debug, Serialize, Deserialize, Default, Clone)]
pub struct MemoryAfter {
    pub part: String,
    /// Resident now (VmRSS).
    pub rss_mib: f64,
    /// Resident at most so far (VmHWM).
    pub peak_mib: f64,
}

impl MemoryAfter {
    fn now(part: &str) -> MemoryAfter {
        MemoryAfter {
            part: part.to_string(),
            rss_mib: status_mib("/proc/self/status", "VmRSS:"),
            peak_mib: peak_memory_mib("/proc/self/status"),
        }
    }
}

/// Timed passes of the whole chain (each side), after an untimed one.
const CHAIN_ROUNDS: usize = 3;

pub fn bench(config: &Config, options: &BenchOptions) -> anyhow::Result<BenchResult> {
    let batch_size = config.pipeline.batch_size;
    anyhow::ensure!(
        options.chain_events >= batch_size && options.broker_events > 0,
        "--events must be at least one batch ({batch_size}) and --broker-events at least 1: nothing to measure otherwise"
    );
    anyhow::ensure!(
        options.latency_rate.is_finite() && options.latency_rate >= 1.0,
        "--latency-rate must be at least 1 event per second"
    );
    let mut result = BenchResult {
        weir_version: env!("CARGO_PKG_VERSION").to_string(),
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        batch_size,
        ..Default::default()
    };

    crate::say!("start-up: cold and warm compile cache ...");
    let cold_dir = tempfile::Builder::new().prefix("weir-bench-cache-").tempdir()?;
    let started = Instant::now();
    let cold = Runtime::new(CompileCache::new(Some(cold_dir.path().to_path_buf())))?;
    Pipeline::from_config(&cold, config, crate::host().resolver)?;
    result.start_cold_ms = ms(started.elapsed());
    let started = Instant::now();
    let warm = Runtime::new(CompileCache::new(Some(cold_dir.path().to_path_buf())))?;
    let mut pipeline = Pipeline::from_config(&warm, config, crate::host().resolver)?;
    result.start_warm_ms = ms(started.elapsed());
    drop(cold_dir);
    result.memory_by_part.push(MemoryAfter::now("start-up (two runtimes, the plugins compiled)"));

    crate::say!("plugin chain: {} events, wasm vs native ...", options.chain_events);
    let events = chain::events(options.chain_events);
    let mut native = NativeChain::new(config)?;
    let throughput = chain::measure(&mut pipeline, &mut native, &events, batch_size, CHAIN_ROUNDS)?;
    (result.chain_wasm_per_s, result.chain_native_per_s) =
        (throughput.wasm_per_s, throughput.native_per_s);
    result.chain_ratio = throughput.ratio();
    result.stage_memory = pipeline.memory();
    result.memory_by_part.push(MemoryAfter::now("plugin chain, wasm and native"));
    result.stages = chain::per_stage(&warm, config, &events, &mut native)?;
    if let Some(old) = chain::contract_0_1(config) {
        crate::say!("plugin chain: the same plugins built for contract 0.1 ...");
        let mut pipeline = Pipeline::from_config(&warm, &old, crate::host().resolver)?;
        let throughput =
            chain::measure(&mut pipeline, &mut native, &events, batch_size, CHAIN_ROUNDS)?;
        (result.chain_v1_wasm_per_s, result.chain_v1_ratio) =
            (throughput.wasm_per_s, throughput.ratio());
        for (stage, old) in
            result.stages.iter_mut().zip(chain::per_stage(&warm, &old, &events, &mut native)?)
        {
            stage.wasm_v1_us = old.wasm_us;
        }
    }
    if config.aggregate.is_some() {
        crate::say!("aggregate stage: a running state vs 1-minute windows ...");
        (result.aggregate_running_us, result.aggregate_windowed_us) =
            chain::windowed_aggregate(&warm, config, &events, &mut native)?;
    }
    crate::say!("plugin chain: values of {:?} bytes ...", chain::VALUE_SIZES);
    result.record_sizes = chain::record_sizes(&warm, config, options.chain_events)?;
    crate::say!("plugin chain: batches of {:?} ...", chain::BATCH_SIZES);
    result.batch_sizes = chain::batch_sizes(&warm, config, &events)?;
    drop(events);
    result.memory_by_part.push(MemoryAfter::now("per stage, the 0.1 builds, values and batches"));

    crate::say!(
        "embedded broker: {} events through the pipeline and a passthrough ...",
        options.broker_events
    );
    let runtime = Runtime::new(CompileCache::new(CompileCache::default_dir()))?;
    let pipeline = || Pipeline::from_config(&runtime, config, crate::host().resolver);
    (result.pipeline_per_s, _) =
        broker::through_broker(config, pipeline()?, options.broker_events, Watched::Not)?;
    (result.passthrough_per_s, _) = broker::through_broker(
        config,
        Pipeline::passthrough(),
        options.broker_events,
        Watched::Not,
    )?;
    crate::say!("embedded broker: the pipeline again, with metrics scraped every second ...");
    (result.pipeline_metrics_per_s, _) =
        broker::through_broker(config, pipeline()?, options.broker_events, Watched::ByPrometheus)?;
    crate::say!(
        "embedded broker: the pipeline again, with the status page open (polling every second) ..."
    );
    (result.pipeline_status_page_per_s, result.status_refresh_bytes) =
        broker::through_broker(config, pipeline()?, options.broker_events, Watched::ByStatusPage)?;
    result.status_page_bytes = crate::host().status_page_bytes;
    result.pipeline_ratio = result.pipeline_per_s / result.passthrough_per_s;
    result.memory_by_part.push(MemoryAfter::now("embedded broker (four runs)"));

    crate::say!("latency at {} events/s ...", options.latency_rate);
    let latency = broker::latency(
        config,
        Pipeline::from_config(&runtime, config, crate::host().resolver)?,
        options.latency_rate,
    )?;
    result.latency_rate_per_s = options.latency_rate;
    (result.latency_p50_ms, result.latency_p99_ms) = (latency.p50_ms, latency.p99_ms);
    (result.latency_max_ms, result.latency_machine) = (latency.max_ms, latency.machine);
    (result.latency_records, result.latency_warm_up_records) =
        (latency.records, latency.warm_up_records);
    result.peak_memory_mib = peak_memory_mib("/proc/self/status");
    result.memory_by_part.push(MemoryAfter::now("latency"));

    if options.table_keys > 0 {
        crate::say!(
            "an enrichment table of {} keys: rebuilt from a topic, lookups ...",
            options.table_keys
        );
        let events = chain::events(options.chain_events.min(100_000));
        result.table = Some(tables::measure(
            &runtime,
            config,
            options.table_keys,
            &events,
            &mut result.memory_by_part,
        )?);
    }

    if let Some(cluster) = &options.cluster {
        crate::say!(
            "weir run on {}: {} events, one process then two in a group ...",
            config.kafka.brokers,
            cluster.events
        );
        result.cluster =
            cluster::measure(&cluster.config_path, config, &cluster.client, cluster.events)?;
        crate::say!(
            "a plain consume → produce on {} (librdkafka, no weir): {} events ...",
            config.kafka.brokers,
            cluster.events
        );
        result.plain_passthrough_per_s =
            Some(cluster::plain_passthrough(config, &cluster.client, cluster.events)?);
        crate::say!(
            "catch-up on {}: a backlog of one-record batches, then of big batches ...",
            config.kafka.brokers
        );
        result.catch_up =
            Some(cluster::catch_up(&cluster.config_path, config, &cluster.client, cluster.events)?);
    }
    Ok(result)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A process's peak resident set (VmHWM) from its `/proc/…/status`, in MiB.
fn peak_memory_mib(status: &str) -> f64 {
    status_mib(status, "VmHWM:")
}

/// One `kB` field of a process's `/proc/…/status`, in MiB (0 where there is none).
fn status_mib(status: &str, field: &str) -> f64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
