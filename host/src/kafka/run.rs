//! `weir run`: the streaming pipeline, input topic → output and dead-letter topics.

use super::flow::{self, Flow, Outgoing};
use super::headers;
use crate::bindings::types::Message;
use crate::breaker::Breaker;
use crate::config::Config;
use crate::hot_swap::HotSwap;
use crate::pipeline::{Outcome, Pipeline};
use crate::report::Format;
use rdkafka::config::ClientConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub struct RunOptions<'a> {
    pub stop: &'a AtomicBool,
    /// Print (and publish) the report this often while running.
    pub report_every: Option<Duration>,
    pub report_format: Format,
    /// How long to wait at stop for in-flight records to be acknowledged.
    pub drain_timeout: Duration,
    /// Called after every batch, e.g. to show progress.
    pub on_batch: Option<&'a (dyn Fn(&crate::pipeline::Stats) + Sync)>,
}

/// Batches handed to the plugin thread and not yet back: enough to keep both the
/// plugins and the broker I/O busy, few enough to bound memory.
const BATCHES_IN_PROCESSING: usize = 2;

/// What the plugin thread hands back for one batch.
struct Processed {
    positions: flow::Positions,
    outgoing: Vec<Outgoing>,
    /// A report to publish, when one is due.
    report: Option<serde_json::Value>,
}

/// Runs until stopped; returns the final report as JSON.
///
/// Two threads: this one polls, produces and commits (librdkafka does the network I/O on
/// its own threads); a plugin thread runs the stages. Batches go through in order.
pub fn run(
    config: &Config,
    client: &ClientConfig,
    pipeline: &mut Pipeline,
    options: &RunOptions,
    hot_swap: Option<HotSwap>,
) -> anyhow::Result<serde_json::Value> {
    let kafka = &config.kafka;
    let mut flow = Flow::new(client, &kafka.group_id, &kafka.input_topic)?;
    tracing::info!(input = kafka.input_topic, output = kafka.output_topic, dead_letters = kafka.dead_letter_topic, "running");
    let (to_plugins, batches) = std::sync::mpsc::sync_channel::<(flow::Positions, Vec<Message>)>(BATCHES_IN_PROCESSING);
    let (to_io, processed) = std::sync::mpsc::channel::<anyhow::Result<Processed>>();
    let result = std::thread::scope(|scope| -> anyhow::Result<()> {
        let plugins = scope.spawn(|| process_batches(config, pipeline, options, hot_swap, batches, to_io));
        let io = (|| -> anyhow::Result<()> {
            let mut in_processing = 0usize;
            loop {
                let stopping = options.stop.load(Ordering::Relaxed);
                if !stopping && in_processing < BATCHES_IN_PROCESSING {
                    let batch = flow.poll_batch(config.pipeline.batch_size, Duration::from_millis(20))?;
                    if !batch.is_empty() {
                        to_plugins.send((flow::positions(&batch), batch)).map_err(|_| anyhow::anyhow!("plugin thread ended"))?;
                        in_processing += 1;
                    }
                }
                if stopping && in_processing == 0 {
                    return Ok(());
                }
                let wait = if in_processing == BATCHES_IN_PROCESSING || stopping { Duration::from_millis(20) } else { Duration::ZERO };
                match processed.recv_timeout(wait) {
                    Ok(done) => {
                        let done = done?;
                        in_processing -= 1;
                        flow.send(done.positions, done.outgoing)?;
                        if let Some(report) = done.report {
                            publish(config, &flow, &report)?;
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => flow.settle()?,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                        anyhow::bail!("plugin thread ended unexpectedly")
                    }
                }
            }
        })();
        drop(to_plugins);
        let plugins = plugins.join().expect("plugin thread does not panic");
        io.and(plugins)
    });
    // Stop fetching, drain what is in flight, commit; even after an error, commit what is safe.
    let report = report_json(pipeline)?;
    if result.is_ok() {
        publish(config, &flow, &report)?;
    }
    let finished = flow.finish(options.drain_timeout);
    result?;
    finished?;
    Ok(report)
}

/// The plugin thread: runs each batch through the stages and routes the outcomes.
fn process_batches(
    config: &Config,
    pipeline: &mut Pipeline,
    options: &RunOptions,
    mut hot_swap: Option<HotSwap>,
    batches: std::sync::mpsc::Receiver<(flow::Positions, Vec<Message>)>,
    to_io: std::sync::mpsc::Sender<anyhow::Result<Processed>>,
) -> anyhow::Result<()> {
    let mut breaker = Breaker::new(config.pipeline.max_consecutive_faults);
    let cooldown = Duration::from_secs(config.pipeline.fault_cooldown_s.max(1));
    let mut last_report = Instant::now();
    for (positions, batch) in batches {
        if let Some(hot_swap) = hot_swap.as_mut() {
            hot_swap.between_batches(pipeline);
        }
        let processed = (|| -> anyhow::Result<Processed> {
            let outcomes = process_guarded(pipeline, &mut breaker, batch, options.stop, cooldown)?;
            let outgoing = outcomes.into_iter().map(|o| route(config, o)).collect();
            if let Some(on_batch) = options.on_batch {
                on_batch(&pipeline.stats);
            }
            let mut report = None;
            if options.report_every.is_some_and(|every| last_report.elapsed() >= every) {
                last_report = Instant::now();
                crate::say!("{}", render(pipeline, options.report_format)?);
                report = Some(report_json(pipeline)?);
            }
            Ok(Processed { positions, outgoing, report })
        })();
        let failed = processed.is_err();
        if to_io.send(processed).is_err() || failed {
            break;
        }
    }
    Ok(())
}

/// Processes a batch; while the circuit breaker is open, holds it back (unsent,
/// uncommitted) — which pauses consumption — and retries on fresh instances after each
/// cooldown.
fn process_guarded(
    pipeline: &mut Pipeline,
    breaker: &mut Breaker,
    batch: Vec<Message>,
    stop: &AtomicBool,
    cooldown: Duration,
) -> anyhow::Result<Vec<Outcome>> {
    // Keep a copy to retry only when this batch could trip the breaker.
    if !breaker.could_trip(batch.len()) {
        let outcomes = pipeline.process(batch);
        breaker.check(&outcomes).expect("a batch this short cannot trip the breaker");
        return Ok(outcomes);
    }
    loop {
        let stats = pipeline.stats.clone();
        let outcomes = pipeline.process(batch.clone());
        let tripped = match breaker.check(&outcomes) {
            Ok(()) => return Ok(outcomes),
            Err(tripped) => tripped,
        };
        pipeline.stats = stats;
        tracing::error!("{tripped}. Consumption paused; retrying the held batch every {} s", cooldown.as_secs());
        let resume_at = Instant::now() + cooldown;
        while Instant::now() < resume_at {
            if stop.load(Ordering::Relaxed) {
                anyhow::bail!("stopped while the {tripped}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A processed record to the output topic; a dead letter, unchanged and with provenance,
/// to the dead-letter topic. Keys are kept.
fn route(config: &Config, outcome: Outcome) -> Outgoing {
    match outcome {
        Outcome::Processed(m) => Outgoing {
            topic: config.kafka.output_topic.clone(),
            headers: headers::user_headers(&m.headers),
            key: m.key,
            value: m.value,
        },
        Outcome::DeadLetter(m, rejection) => Outgoing {
            topic: config.kafka.dead_letter_topic.clone(),
            headers: headers::dead_letter(&m, &rejection),
            key: m.key,
            value: m.value,
        },
    }
}

fn report_json(pipeline: &mut Pipeline) -> anyhow::Result<serde_json::Value> {
    Ok(pipeline.report(Vec::new())?.json())
}

pub fn render(pipeline: &mut Pipeline, format: Format) -> anyhow::Result<String> {
    Ok(pipeline.report(Vec::new())?.render(format))
}

/// The report as JSON to the analytics topic, if one is configured.
fn publish(config: &Config, flow: &Flow, report: &serde_json::Value) -> anyhow::Result<()> {
    let Some(topic) = &config.kafka.analytics_topic else {
        return Ok(());
    };
    let record = Outgoing { topic: topic.clone(), key: Some(config.kafka.group_id.as_bytes().to_vec()), value: report.to_string().into_bytes(), headers: vec![] };
    flow::produce(flow.producer(), &record, flow::detached_ticket(1))
}
