//! `weir demo`: the whole streaming pipeline with zero set-up. An embedded broker,
//! the topics, and generate + run + repair together, with live progress and a report.
//! Each login is enriched from a `user-profiles` table that changes while the demo runs
//! (`profiles`).

use crate::embedded::EmbeddedBroker;
use crate::generate;
use crate::profiles::{self, Profiles};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::config::Config;
use weir_core::config::WithTables;
use weir_core::pipeline::repair::RepairPipeline;
use weir_core::pipeline::{Pipeline, Stats};
use weir_kafka::{run, run_repair, topics};

pub struct DemoOptions {
    pub duration: Duration,
    pub rate: f64,
    pub invalid_ratio: f64,
    pub seed: Option<u64>,
    /// Where the status page is served while the demo runs (`127.0.0.1:0`: a free port).
    pub status: Option<String>,
}

pub fn demo(
    mut config: Config,
    options: &DemoOptions,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<String> {
    let broker = EmbeddedBroker::start(1)?;
    config.kafka.brokers = broker.bootstrap_servers().to_string();
    EmbeddedBroker::tune(&mut config.kafka.properties);
    profiles::enrich(&mut config)?;
    let mut names = topics::names(&config);
    names.push(profiles::TABLE.to_string());
    for topic in &names {
        broker.create_topic(topic, config.kafka.partitions, 1)?;
    }
    crate::say!(
        "embedded Kafka broker at {} with topics {}",
        config.kafka.brokers,
        names.join(", ")
    );
    let client = weir_kafka::client_config(&config.kafka.brokers, &config.kafka.properties);
    let users = generate::user_pool(options.seed, profiles::USERS);
    let mut owner = Profiles::new(&client, users.clone(), options.seed)?;
    owner.write_all()?;
    let runtime = weir_core::runtime_for(Some(&config))?;
    let tables = config.declared_tables();
    let resolve = WithTables { tables: tables.clone(), inner: crate::host().resolver };
    let mut pipeline = Pipeline::from_config(&runtime, &config, &resolve)?;
    let ops = weir_core::ops::Ops::default();
    pipeline.observe(&ops.metrics);
    ops.health.plugins_loaded();
    let _server = match &options.status {
        // The server says where (the status page's address) as it starts.
        Some(addr) => Some((crate::host().serve)(addr, ops.clone())?),
        None => None,
    };
    let mut repairer = RepairPipeline::from_config(&runtime, &config, &resolve)?;
    let feeds = weir_kafka::table_feed::start(
        &client,
        &config,
        &tables,
        crate::host().resolver,
        Some(&ops),
    )?;

    let stop_generating = AtomicBool::new(false);
    let stop_processing = AtomicBool::new(false);
    let processed = AtomicU64::new(0);
    let dead = AtomicU64::new(0);
    let on_batch = |stats: &Stats| {
        processed.store(stats.processed, Ordering::Relaxed);
        dead.store(stats.dead_letters, Ordering::Relaxed);
    };
    let started = Instant::now();
    let (generated, repair_stats, changed) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let generator = scope.spawn(|| {
            let options = generate::GenerateOptions {
                rate: options.rate,
                count: None,
                invalid_ratio: options.invalid_ratio,
                seed: options.seed,
                manifest: None,
                progress: None,
                stop: &stop_generating,
                users: Some(users.clone()),
            };
            generate::produce(&config, &client, &options)
        });
        let changes =
            scope.spawn(|| owner.keep_changing(Duration::from_millis(100), &stop_generating));
        let runner = scope.spawn(|| {
            let options = run::RunOptions {
                stop: &stop_processing,
                report_every: None,
                show: &|r| (crate::host().render)(r),
                say: &|text| crate::say!("{text}"),
                drain_timeout: Duration::from_secs(10),
                on_batch: Some(&on_batch),
                ops: Some(&ops),
            };
            run::process_topic(&config, &client, &mut pipeline, &options, None)
        });
        let repair = scope.spawn(|| {
            run_repair::repair_topic(
                &config,
                &client,
                &mut repairer,
                &stop_processing,
                Duration::from_secs(10),
                None,
            )
        });

        while started.elapsed() < options.duration
            && !stop.load(Ordering::Relaxed)
            && !runner.is_finished()
        {
            std::thread::sleep(Duration::from_millis(1000));
            crate::say!(
                "[{:>3} s] processed {} · dead letters {}",
                started.elapsed().as_secs(),
                processed.load(Ordering::Relaxed),
                dead.load(Ordering::Relaxed)
            );
        }
        // Stop the source first, let the pipeline catch up (quiet for a second), then stop it.
        stop_generating.store(true, Ordering::Relaxed);
        let generated = generator.join().expect("generator thread")?;
        let changed = changes.join().expect("profiles thread")?;
        let settled = |previous: &mut u64| {
            let now = processed.load(Ordering::Relaxed) + dead.load(Ordering::Relaxed);
            std::mem::replace(previous, now) == now
        };
        let (mut seen, deadline) = (u64::MAX, Instant::now() + Duration::from_secs(10));
        while !settled(&mut seen) && Instant::now() < deadline && !runner.is_finished() {
            std::thread::sleep(Duration::from_millis(1000));
        }
        stop_processing.store(true, Ordering::Relaxed);
        runner.join().expect("runner thread")?;
        let repaired = repair.join().expect("repair thread")?;
        Ok((generated, repaired, changed))
    })?;
    let extra = vec![
        ("generated", generated.generated),
        ("generated_invalid", generated.invalid),
        ("repaired", repair_stats.repaired),
        ("parked", repair_stats.parked),
    ];
    let mut report = (crate::host().render)(&pipeline.report(extra)?);
    drop(feeds);
    if let Some(table) = tables.get(profiles::TABLE) {
        let (lookups, misses) = table.lookups();
        report += &format!(
            "\n{}: {} profiles written, then {} changed and {} deleted while it ran; {} keys now; {lookups} lookups, {misses} found no profile",
            profiles::TABLE,
            changed.written,
            changed.updated,
            changed.deleted,
            table.len()
        );
    }
    drop(broker);
    Ok(report)
}
