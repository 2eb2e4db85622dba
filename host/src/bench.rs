//! `weir bench`: throughput, latency, start-up and memory, measured in one run on one
//! machine, each against its own baseline so the ratios mean something on a noisy box.
//!
//! 1. the plugin chain (validate + transform + aggregate) in wasm vs the same logic
//!    compiled natively into the host;
//! 2. the whole pipeline through the embedded broker vs a passthrough (consume → produce,
//!    no plugins) on the same broker, plus end-to-end latency at a steady rate;
//! 3. start-up with a cold and a warm compile cache; peak memory.

use crate::bindings::types::Message;
use crate::config::Config;
use crate::kafka::embedded::EmbeddedBroker;
use crate::kafka::flow::{self, Outgoing};
use crate::kafka::{self, generate::Generator, run, topics};
use crate::ops::Ops;
use crate::pipeline::Pipeline;
use crate::plugin::cache::CompileCache;
use crate::plugin::Runtime;
use crate::report::Format;
use json_schema_validator::logic::SchemaCheck;
use login_analytics::logic::LoginAnalytics;
use readable_timestamp::logic::Readable;
use serde::Serialize;
use weir_plugin::{Aggregator, Message as NativeMessage, Transformer, Validator};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct BenchOptions {
    /// Events for the plugin-chain measurement.
    pub chain_events: usize,
    /// Events for the broker measurements.
    pub broker_events: usize,
    /// Events per second for the latency measurement.
    pub latency_rate: f64,
}

#[derive(Debug, Serialize, Default)]
pub struct BenchResult {
    pub chain_wasm_per_s: f64,
    pub chain_native_per_s: f64,
    pub chain_ratio: f64,
    pub pipeline_per_s: f64,
    pub passthrough_per_s: f64,
    pub pipeline_ratio: f64,
    /// The pipeline again with metrics kept and `/metrics` scraped every second.
    pub pipeline_metrics_per_s: f64,
    pub latency_rate_per_s: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub start_cold_ms: f64,
    pub start_warm_ms: f64,
    pub peak_memory_mib: f64,
    pub batch_size: usize,
    /// Per stage: (name, wasm µs per message, native µs per message).
    pub stages: Vec<(String, f64, f64)>,
}

pub fn bench(config: &Config, options: &BenchOptions) -> anyhow::Result<BenchResult> {
    anyhow::ensure!(
        options.chain_events >= config.pipeline.batch_size && options.broker_events > 0,
        "--events must be at least one batch ({}) and --broker-events at least 1: nothing to measure otherwise",
        config.pipeline.batch_size
    );
    anyhow::ensure!(
        options.latency_rate.is_finite() && options.latency_rate >= 1.0,
        "--latency-rate must be at least 1 event per second"
    );
    let mut result = BenchResult { batch_size: config.pipeline.batch_size, ..Default::default() };

    crate::say!("start-up: cold and warm compile cache ...");
    let cold_dir = tempfile::Builder::new().prefix("weir-bench-cache-").tempdir()?;
    let started = Instant::now();
    let cold = Runtime::new(CompileCache::new(Some(cold_dir.path().to_path_buf())))?;
    Pipeline::from_config(&cold, config)?;
    result.start_cold_ms = ms(started.elapsed());
    let started = Instant::now();
    let warm = Runtime::new(CompileCache::new(Some(cold_dir.path().to_path_buf())))?;
    let mut pipeline = Pipeline::from_config(&warm, config)?;
    result.start_warm_ms = ms(started.elapsed());
    drop(cold_dir);

    crate::say!("plugin chain: {} events, wasm vs native ...", options.chain_events);
    let events = events(options.chain_events);
    let batches: Vec<Vec<Message>> = events.chunks(config.pipeline.batch_size).map(|c| c.to_vec()).collect();
    // Warm up both, then measure.
    pipeline.process(batches[0].clone());
    let started = Instant::now();
    for batch in &batches {
        pipeline.process(batch.clone());
    }
    result.chain_wasm_per_s = per_s(events.len(), started.elapsed());
    let mut native = NativeChain::new(config)?;
    let native_in = native_batches(&batches);
    let started = Instant::now();
    let mut ok = 0usize;
    for batch in &native_in {
        ok += native.run(batch.clone());
    }
    result.chain_native_per_s = per_s(events.len(), started.elapsed());
    result.chain_ratio = result.chain_wasm_per_s / result.chain_native_per_s;
    anyhow::ensure!(ok == events.len(), "native chain rejected {} generated events", events.len() - ok);
    result.stages = per_stage(&warm, config, &batches, &mut native)?;

    crate::say!("embedded broker: {} events through the pipeline and a passthrough ...", options.broker_events);
    let runtime = Runtime::new(CompileCache::new(CompileCache::default_dir()))?;
    result.pipeline_per_s = through_broker(config, Pipeline::from_config(&runtime, config)?, options.broker_events, None)?;
    result.passthrough_per_s = through_broker(config, Pipeline::passthrough(), options.broker_events, None)?;
    crate::say!("embedded broker: the pipeline again, with metrics scraped every second ...");
    let ops = Ops::default();
    result.pipeline_metrics_per_s = through_broker(config, Pipeline::from_config(&runtime, config)?, options.broker_events, Some(&ops))?;
    result.pipeline_ratio = result.pipeline_per_s / result.passthrough_per_s;

    crate::say!("latency at {} events/s ...", options.latency_rate);
    let (p50, p99) = latency(config, Pipeline::from_config(&runtime, config)?, options.latency_rate)?;
    result.latency_rate_per_s = options.latency_rate;
    result.latency_p50_ms = p50;
    result.latency_p99_ms = p99;
    result.peak_memory_mib = peak_memory_mib();
    Ok(result)
}

impl BenchResult {
    pub fn table(&self) -> String {
        format!(
            "\
weir bench (batch size {batch})
  plugin chain, wasm         {wasm:>12.0} msg/s   (one core)
  plugin chain, native       {native:>12.0} msg/s
  ratio wasm / native        {ratio:>12.2}
  pipeline via broker        {pipe:>12.0} msg/s
  passthrough via broker     {pass:>12.0} msg/s
  ratio pipeline / pass      {pratio:>12.2}
  pipeline with /metrics     {metered:>12.0} msg/s   ({metered_ratio:.2} of the pipeline)
  latency p50 / p99          {p50:>8.1} / {p99:.1} ms at {rate:.0} msg/s
  start, cold cache          {cold:>12.0} ms
  start, warm cache          {warm:>12.1} ms
  peak memory                {mem:>12.1} MiB
  per stage, µs per message  (wasm / native){stages}",
            batch = self.batch_size,
            wasm = self.chain_wasm_per_s,
            native = self.chain_native_per_s,
            ratio = self.chain_ratio,
            pipe = self.pipeline_per_s,
            pass = self.passthrough_per_s,
            pratio = self.pipeline_ratio,
            metered = self.pipeline_metrics_per_s,
            metered_ratio = self.pipeline_metrics_per_s / self.pipeline_per_s,
            p50 = self.latency_p50_ms,
            p99 = self.latency_p99_ms,
            rate = self.latency_rate_per_s,
            cold = self.start_cold_ms,
            warm = self.start_warm_ms,
            mem = self.peak_memory_mib,
            stages = self
                .stages
                .iter()
                .map(|(name, wasm, native)| format!("\n    {name:<12} {wasm:>6.2} / {native:.2}  ({:.2}x)", native / wasm))
                .collect::<String>(),
        )
    }
}

/// The default pipeline's three plugins, their own code compiled natively into the host
/// and called through the SDK's traits: the same logic, no wasm in between.
struct NativeChain {
    validate: SchemaCheck,
    transform: Readable,
    aggregate: LoginAnalytics,
}

impl NativeChain {
    fn new(config: &Config) -> anyhow::Result<NativeChain> {
        let validate = config.validate.as_ref().ok_or_else(|| anyhow::anyhow!("bench needs a [validate] stage"))?;
        let transform = config.transform.first().ok_or_else(|| anyhow::anyhow!("bench needs a [transform] stage"))?;
        let aggregate = config.aggregate.as_ref().ok_or_else(|| anyhow::anyhow!("bench needs an [aggregate] stage"))?;
        let aggregate_config = weir_plugin::parse_config(&config.stage_json("aggregate", aggregate)?)?;
        Ok(NativeChain {
            validate: Validator::from_config(&config.stage_json("validate", validate)?)?,
            transform: Transformer::from_config(&config.stage_json("transform", transform)?)?,
            aggregate: Aggregator::new(&aggregate_config),
        })
    }

    /// Validate, transform, aggregate a batch, stage by stage as the pipeline does;
    /// returns how many passed.
    fn run(&mut self, batch: Vec<NativeMessage>) -> usize {
        let verdicts = self.validate.validate_batch(&batch);
        let valid: Vec<NativeMessage> = batch.into_iter().zip(verdicts).filter(|(_, v)| v.is_ok()).map(|(m, _)| m).collect();
        let transformed = self.transformed(valid);
        self.aggregate.update_batch(&transformed);
        transformed.len()
    }

    fn transformed(&mut self, batch: Vec<NativeMessage>) -> Vec<NativeMessage> {
        let outputs = self.transform.transform_batch(&batch);
        batch
            .into_iter()
            .zip(outputs)
            .filter_map(|(m, out)| out.ok().map(|value| NativeMessage { value, ..m }))
            .collect()
    }
}

/// The host's records as the SDK's (the same fields), converted before any clock starts.
fn native_batches(batches: &[Vec<Message>]) -> Vec<Vec<NativeMessage>> {
    batches
        .iter()
        .map(|batch| {
            batch
                .iter()
                .map(|m| NativeMessage {
                    key: m.key.clone(),
                    value: m.value.clone(),
                    headers: Vec::new(),
                    topic: m.topic.clone(),
                    partition: m.partition,
                    offset: m.offset,
                    timestamp: m.timestamp,
                })
                .collect()
        })
        .collect()
}

/// Each stage alone, wasm against native, on the same batches: where the time goes.
fn per_stage(
    runtime: &Runtime,
    config: &Config,
    batches: &[Vec<Message>],
    native: &mut NativeChain,
) -> anyhow::Result<Vec<(String, f64, f64)>> {
    use crate::pipeline::load_stage;
    use crate::stage::{aggregator::Aggregate, transformer::Transform, validator::Validate};
    let n: usize = batches.iter().map(Vec::len).sum();
    let micros = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let native_in = native_batches(batches);
    let native_transformed: Vec<Vec<NativeMessage>> = native_in.iter().map(|b| native.transformed(b.clone())).collect();
    let transformed: Vec<Vec<Message>> = batches
        .iter()
        .zip(&native_transformed)
        .map(|(b, out)| b.iter().zip(out).map(|(m, o)| Message { value: o.value.clone(), ..m.clone() }).collect())
        .collect();
    let mut stages = Vec::new();
    if let Some(v) = &config.validate {
        let mut stage = load_stage::<Validate>(runtime, config, "validate", v)?;
        let t = Instant::now();
        batches.iter().for_each(|b| drop(stage.run(b)));
        let wasm = micros(t.elapsed());
        let t = Instant::now();
        native_in.iter().for_each(|b| drop(native.validate.validate_batch(b)));
        stages.push(("validate".to_string(), wasm, micros(t.elapsed())));
    }
    if let Some(tr) = config.transform.first() {
        let mut stage = load_stage::<Transform>(runtime, config, "transform", tr)?;
        let t = Instant::now();
        batches.iter().for_each(|b| drop(stage.run(b)));
        let wasm = micros(t.elapsed());
        let t = Instant::now();
        native_in.iter().for_each(|b| drop(native.transform.transform_batch(b)));
        stages.push(("transform".to_string(), wasm, micros(t.elapsed())));
    }
    if let Some(a) = &config.aggregate {
        let mut stage = load_stage::<Aggregate>(runtime, config, "aggregate", a)?;
        let t = Instant::now();
        transformed.iter().for_each(|b| drop(stage.run(b)));
        let wasm = micros(t.elapsed());
        let t = Instant::now();
        native_transformed.iter().for_each(|b| native.aggregate.update_batch(b));
        stages.push(("aggregate".to_string(), wasm, micros(t.elapsed())));
    }
    Ok(stages)
}

fn events(n: usize) -> Vec<Message> {
    let mut generator = Generator::new(Some(1), 0.0, 1000.0);
    (0..n)
        .map(|i| {
            let event = generator.next_event();
            Message { key: Some(event.key.into_bytes()), ..Message::read_from("bench", 0, i as i64, event.value) }
        })
        .collect()
}

/// A fresh embedded broker, its topics, and `n` events already in the input topic.
fn broker_with_backlog(config: &Config, n: usize) -> anyhow::Result<(EmbeddedBroker, Config)> {
    let broker = EmbeddedBroker::start(1)?;
    let mut config = config.clone();
    config.kafka.brokers = broker.bootstrap_servers().to_string();
    config.kafka.analytics_topic = None;
    for topic in topics::names(&config) {
        broker.create_topic(&topic, config.kafka.partitions, 1)?;
    }
    let client = kafka::client_config(&config.kafka.brokers, &config.kafka.properties);
    let producer = flow::producer(&client)?;
    let ticket = flow::detached_ticket(n);
    for event in events(n) {
        let record = Outgoing::new(&config.kafka.input_topic, event.key, event.value, vec![]);
        flow::produce(&producer, &record, ticket.clone())?;
    }
    flow::wait_for(&ticket, Duration::from_secs(120))?;
    Ok((broker, config))
}

/// Messages per second from the first batch to the last. With `ops`, the pipeline keeps
/// metrics, served on a local port and scraped every second (Prometheus' default is 15 s).
fn through_broker(config: &Config, mut pipeline: Pipeline, n: usize, ops: Option<&Ops>) -> anyhow::Result<f64> {
    let server = match ops {
        Some(ops) => {
            pipeline.observe(&ops.metrics);
            Some(crate::ops::server::serve("127.0.0.1:0", ops.clone())?)
        }
        None => None,
    };
    let (_broker, config) = broker_with_backlog(config, n)?;
    let client = kafka::client_config(&config.kafka.brokers, &config.kafka.properties);
    let stop = AtomicBool::new(false);
    let first = std::sync::Mutex::new(None::<Instant>);
    let on_batch = |stats: &crate::pipeline::Stats| {
        first.lock().unwrap().get_or_insert_with(Instant::now);
        if stats.records_in as usize >= n {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let options = run::RunOptions {
        stop: &stop,
        report_every: None,
        report_format: Format::Text,
        drain_timeout: Duration::from_secs(60),
        on_batch: Some(&on_batch),
        ops,
    };
    std::thread::scope(|scope| {
        if let Some(server) = &server {
            let url = format!("http://{}/metrics", server.addr);
            scope.spawn(|| {
                let url = url;
                while !stop.load(Ordering::Relaxed) {
                    let _ = ureq::get(&url).call().map(|r| r.into_string());
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
        run::process_topic(&config, &client, &mut pipeline, &options, None)
    })?;
    let started = first.lock().unwrap().expect("at least one batch");
    Ok(per_s(n, started.elapsed()))
}

/// p50 and p99 of (output record time − input record time) at a steady input rate.
fn latency(config: &Config, mut pipeline: Pipeline, rate: f64) -> anyhow::Result<(f64, f64)> {
    let (_broker, config) = broker_with_backlog(config, 0)?;
    let client = kafka::client_config(&config.kafka.brokers, &config.kafka.properties);
    let stop_generating = AtomicBool::new(false);
    let stop_running = AtomicBool::new(false);
    let count = (rate * 3.0) as u64;
    // Steady state: events start once the group is joined and the partition states are
    // read, as `/readyz` would say (not after a guessed pause).
    let ops = Ops::default();
    ops.health.plugins_loaded();
    ops.health.broker_up(true);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let runner = scope.spawn(|| {
            let options = run::RunOptions {
                stop: &stop_running,
                report_every: None,
                report_format: Format::Text,
                drain_timeout: Duration::from_secs(30),
                on_batch: None,
                ops: Some(&ops),
            };
            run::process_topic(&config, &client, &mut pipeline, &options, None)
        });
        let joining = Instant::now();
        while ops.health.ready().is_err() && !runner.is_finished() {
            anyhow::ensure!(joining.elapsed() < Duration::from_secs(60), "the latency run did not join its group within 60 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        let options = kafka::generate::GenerateOptions {
            rate,
            count: Some(count),
            invalid_ratio: 0.0,
            seed: Some(2),
            manifest: None,
            progress: false,
            stop: &stop_generating,
        };
        kafka::generate::produce(&config, &client, &options)?;
        std::thread::sleep(Duration::from_secs(1));
        stop_running.store(true, Ordering::Relaxed);
        runner.join().expect("runner thread")?;
        Ok(())
    })?;
    let read = |topic: &str| -> anyhow::Result<HashMap<Vec<u8>, i64>> {
        let consumer = kafka::tail::reader(&client, topic, rdkafka::Offset::Beginning)?;
        let mut times = HashMap::new();
        let mut idle = Instant::now();
        while idle.elapsed() < Duration::from_millis(500) {
            if let Some(Ok(record)) = consumer.poll(Duration::from_millis(50)) {
                let m = flow::owned(&record);
                times.insert(m.key.unwrap_or_default(), m.timestamp.unwrap_or_default());
                idle = Instant::now();
            }
        }
        Ok(times)
    };
    let produced = read(&config.kafka.input_topic)?;
    let processed = read(&config.kafka.output_topic)?;
    let mut latencies: Vec<i64> =
        processed.iter().filter_map(|(key, out)| produced.get(key).map(|input| out - input)).collect();
    anyhow::ensure!(!latencies.is_empty(), "no records made it through for the latency measurement");
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64;
    Ok((at(0.5), at(0.99)))
}

fn per_s(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The process's peak resident set (VmHWM), in MiB.
fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
