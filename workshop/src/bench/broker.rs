//! The whole pipeline through librdkafka's embedded broker: throughput against a
//! passthrough on the same broker, and end-to-end latency at a steady rate.

use super::chain::{events, per_s};
use super::cpu;
use crate::embedded::EmbeddedBroker;
use rdkafka::consumer::{BaseConsumer, Consumer};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weir_core::config::Config;
use weir_core::ops::Ops;
use weir_core::pipeline::Pipeline;
use weir_kafka::flow::{self, Outgoing};
use weir_kafka::{run, topics};

/// The embedded broker keeps at most 100,000 records and 5 MiB per partition and drops
/// the oldest beyond that; 5 MiB is ~35,000 generated logins (lz4 batches). The backlog is
/// spread so that no partition holds more than the 33,334 of 100k over 3 partitions.
const RECORDS_PER_PARTITION: usize = 34_000;

/// A fresh embedded broker, its topics, and `n` events already in the input topic.
fn broker_with_backlog(config: &Config, n: usize) -> anyhow::Result<(EmbeddedBroker, Config)> {
    let broker = EmbeddedBroker::start(1)?;
    let mut config = config.clone();
    config.kafka.brokers = broker.bootstrap_servers().to_string();
    EmbeddedBroker::tune(&mut config.kafka.properties);
    config.kafka.analytics_topic = None;
    config.kafka.partitions = config.kafka.partitions.max(n.div_ceil(RECORDS_PER_PARTITION) as i32);
    for topic in topics::names(&config) {
        broker.create_topic(&topic, config.kafka.partitions, 1)?;
    }
    let client = weir_kafka::client_config(&config.kafka.brokers, &config.kafka.properties);
    send(&client, &config.kafka.input_topic, events(n))?;
    let kept = records_kept(&client, &config.kafka.input_topic, config.kafka.partitions)?;
    anyhow::ensure!(kept == n as i64, "the embedded broker kept {kept} of the {n} records loaded: it drops the oldest beyond 100,000 records or 5 MiB per partition");
    Ok((broker, config))
}

/// Produces `records` (their keys and values) to `topic` and waits until each is
/// delivered (a producer dropped sooner would purge what it still holds).
fn send(
    client: &rdkafka::ClientConfig,
    topic: &str,
    records: Vec<weir_core::record::Record>,
) -> anyhow::Result<()> {
    let producer = flow::producer(client)?;
    let ticket = flow::detached_ticket(records.len());
    for record in records {
        let record = Outgoing::new(topic, record.key, record.value, vec![]);
        flow::produce(&producer, &record, ticket.clone())?;
    }
    flow::wait_for(&ticket, Duration::from_secs(120))
}

/// Records between the low and high watermarks of every partition of `topic`.
fn records_kept(
    client: &rdkafka::ClientConfig,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<i64> {
    let consumer: BaseConsumer = client.create()?;
    let mut kept = 0;
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        kept += high - low;
    }
    Ok(kept)
}

/// Who watches a run while it is measured.
#[derive(Clone, Copy)]
pub enum Watched {
    Not,
    /// `/metrics` scraped every second (Prometheus' default is 15 s).
    ByPrometheus,
    /// The status page open: the page once, then `/api/status` every second as it polls.
    ByStatusPage,
}

/// Messages per second from the first batch to the last, and the bytes of the last
/// answer to a watcher's poll (0 unwatched). Watched, the pipeline keeps metrics, served
/// on a local port.
pub fn through_broker(
    config: &Config,
    mut pipeline: Pipeline,
    n: usize,
    watched: Watched,
) -> anyhow::Result<(f64, usize)> {
    let ops = Ops::default();
    let (server, polled) = match watched {
        Watched::Not => (None, ""),
        Watched::ByPrometheus => {
            (Some((crate::host().serve)("127.0.0.1:0", ops.clone())?), "/metrics")
        }
        Watched::ByStatusPage => {
            (Some((crate::host().serve)("127.0.0.1:0", ops.clone())?), "/api/status")
        }
    };
    if server.is_some() {
        pipeline.observe(&ops.metrics);
    }
    let ops = server.as_ref().map(|_| &ops);
    let answer_bytes = std::sync::atomic::AtomicUsize::new(0);
    let (_broker, config) = broker_with_backlog(config, n)?;
    let client = weir_kafka::client_config(&config.kafka.brokers, &config.kafka.properties);
    let stop = AtomicBool::new(false);
    let first = std::sync::Mutex::new(None::<Instant>);
    let on_batch = |stats: &weir_core::pipeline::Stats| {
        first.lock().unwrap().get_or_insert_with(Instant::now);
        if stats.records_in as usize >= n {
            stop.store(true, Ordering::Relaxed);
        }
    };
    let options = run::RunOptions {
        stop: &stop,
        report_every: None,
        show: &|r| (crate::host().render)(r),
        say: &|text| crate::say!("{text}"),
        drain_timeout: Duration::from_secs(60),
        on_batch: Some(&on_batch),
        ops,
    };
    let ended = std::thread::scope(|scope| {
        if let Some(server) = &server {
            let base = format!("http://{}", server.addr);
            if let Watched::ByStatusPage = watched {
                for page in ["/", "/status.js"] {
                    let _ = ureq::get(&format!("{base}{page}")).call().map(|r| r.into_string());
                }
            }
            let url = format!("{base}{polled}");
            let (answer_bytes, stop) = (&answer_bytes, &stop);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(Ok(body)) = ureq::get(&url).call().map(|r| r.into_string()) {
                        answer_bytes.store(body.len(), Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
        // Timed here: the scope then waits for the watcher's last sleep, which is no part of it.
        run::process_topic(&config, &client, &mut pipeline, &options, None).map(|_| Instant::now())
    })?;
    let started = first.lock().unwrap().expect("at least one batch");
    Ok((per_s(n, ended - started), answer_bytes.into_inner()))
}

/// Records through the pipeline before the timed ones (see `latency`).
const PRIMING: usize = 32;

/// p50 and p99 of (output record time − input record time) at a steady input rate.
pub fn latency(config: &Config, mut pipeline: Pipeline, rate: f64) -> anyhow::Result<Latency> {
    let (_broker, config) = broker_with_backlog(config, 0)?;
    let client = weir_kafka::client_config(&config.kafka.brokers, &config.kafka.properties);
    let stop_generating = AtomicBool::new(false);
    let stop_running = AtomicBool::new(false);
    let count = (rate * 3.0) as u64;
    let mut machine = cpu::CpuShare::default();
    // Steady state: events start once the group is joined and the partition states are
    // read, as `/readyz` would say (not after a guessed pause).
    let ops = Ops::default();
    ops.health.plugins_loaded();
    ops.health.broker_up(true);
    // Keyed apart from the timed events (another seed), and left out of the figures.
    let priming = events(PRIMING);
    let records_in = std::sync::atomic::AtomicU64::new(0);
    let counted = |stats: &weir_core::pipeline::Stats| {
        records_in.store(stats.records_in, Ordering::Relaxed);
    };
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let runner = scope.spawn(|| {
            let options = run::RunOptions {
                stop: &stop_running,
                report_every: None,
                show: &|r| (crate::host().render)(r),
                say: &|text| crate::say!("{text}"),
                drain_timeout: Duration::from_secs(30),
                on_batch: Some(&counted),
                ops: Some(&ops),
            };
            run::process_topic(&config, &client, &mut pipeline, &options, None)
        });
        let joining = Instant::now();
        while ops.health.ready().is_err() && !runner.is_finished() {
            anyhow::ensure!(
                joining.elapsed() < Duration::from_secs(60),
                "the latency run did not join its group within 60 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // Joined is not yet flowing: the first fetches take their time. Records sent now
        // and waited for on the output make the timed ones meet a consumer in its stride.
        send(&client, &config.kafka.input_topic, priming.clone())?;
        while records_in.load(Ordering::Relaxed) < PRIMING as u64 && !runner.is_finished() {
            anyhow::ensure!(
                joining.elapsed() < Duration::from_secs(120),
                "the latency run's first {PRIMING} records did not come through within 120 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let options = crate::generate::GenerateOptions {
            rate,
            count: Some(count),
            invalid_ratio: 0.0,
            seed: Some(2),
            manifest: None,
            progress: None,
            stop: &stop_generating,
            users: None,
        };
        let before = cpu::Sample::now();
        crate::generate::produce(&config, &client, &options)?;
        std::thread::sleep(Duration::from_secs(1));
        machine = before.until(&cpu::Sample::now());
        stop_running.store(true, Ordering::Relaxed);
        runner.join().expect("runner thread")?;
        Ok(())
    })?;
    let read = |topic: &str| -> anyhow::Result<HashMap<Vec<u8>, i64>> {
        let consumer = weir_kafka::tail::reader(&client, topic, rdkafka::Offset::Beginning)?;
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
    // Steady state starts when the first record has come out. The priming records see to
    // that before the timed ones start; any timed record made before then still waited
    // for start-up, not for weir, and is counted apart.
    let flowing_from = processed.values().min().copied().unwrap_or_default();
    let primed: std::collections::HashSet<&[u8]> =
        priming.iter().filter_map(|event| event.key.as_deref()).collect();
    let (mut latencies, mut warm_up) = (Vec::new(), 0);
    for (key, out) in processed.iter().filter(|(key, _)| !primed.contains(key.as_slice())) {
        match produced.get(key) {
            Some(input) if *input >= flowing_from => latencies.push(out - input),
            Some(_) => warm_up += 1,
            None => {}
        }
    }
    anyhow::ensure!(
        latencies.len() >= processed.len() / 2,
        "only {} of {} records were produced after the flow started",
        latencies.len(),
        processed.len()
    );
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize] as f64;
    Ok(Latency {
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        machine,
        records: latencies.len(),
        warm_up_records: warm_up,
    })
}

/// Latency at a steady rate, and the records left out as start-up.
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// What the rest of the machine took while the events went through.
    pub machine: cpu::CpuShare,
    pub records: usize,
    pub warm_up_records: usize,
}
