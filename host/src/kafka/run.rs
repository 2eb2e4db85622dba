//! `weir run`: the streaming pipeline, input topic → output and dead-letter topics.

use super::flow::{self, Flow, Outgoing};
use super::headers;
use crate::bindings::types::Message;
use crate::breaker::Breaker;
use crate::config::Config;
use crate::pipeline::{plugin_name, Outcome, Pipeline};
use crate::report::{Format, Report};
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

/// Runs until stopped; returns the final report as JSON.
pub fn run(
    config: &Config,
    client: &ClientConfig,
    pipeline: &mut Pipeline,
    options: &RunOptions,
) -> anyhow::Result<serde_json::Value> {
    let kafka = &config.kafka;
    let mut flow = Flow::new(client, &kafka.group_id, &kafka.input_topic)?;
    tracing::info!(input = kafka.input_topic, output = kafka.output_topic, dead_letters = kafka.dead_letter_topic, "running");
    let mut last_report = Instant::now();
    let mut breaker = Breaker::new(config.pipeline.max_consecutive_faults);
    let cooldown = Duration::from_secs(config.pipeline.fault_cooldown_s.max(1));
    let result = (|| -> anyhow::Result<()> {
        while !options.stop.load(Ordering::Relaxed) {
            let batch = flow.poll_batch(config.pipeline.batch_size, Duration::from_millis(100))?;
            if !batch.is_empty() {
                let positions = flow::positions(&batch);
                let outcomes = process_guarded(pipeline, &mut breaker, &mut flow, batch, options.stop, cooldown)?;
                let outgoing = outcomes.into_iter().map(|o| route(config, o)).collect();
                flow.send(positions, outgoing)?;
                if let Some(on_batch) = options.on_batch {
                    on_batch(&pipeline.stats);
                }
            } else {
                flow.settle()?;
            }
            if let Some(every) = options.report_every {
                if last_report.elapsed() >= every {
                    last_report = Instant::now();
                    let report = report_json(pipeline)?;
                    eprintln!("{}", render(pipeline, options.report_format)?);
                    publish(config, &flow, &report)?;
                }
            }
        }
        Ok(())
    })();
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

/// Processes a batch; while the circuit breaker is open, holds it back (unsent,
/// uncommitted), pauses consumption and retries on fresh instances after each cooldown.
fn process_guarded(
    pipeline: &mut Pipeline,
    breaker: &mut Breaker,
    flow: &mut Flow,
    batch: Vec<Message>,
    stop: &AtomicBool,
    cooldown: Duration,
) -> anyhow::Result<Vec<Outcome>> {
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
            flow.settle()?;
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

fn analytics(pipeline: &mut Pipeline) -> anyhow::Result<Option<(String, crate::bindings::aggregator::exports::weir::plugin::aggregate::Report)>> {
    Ok(match pipeline.aggregator() {
        Some(stage) => Some((plugin_name(stage.plugin_path()), stage.report()?)),
        None => None,
    })
}

fn report_json(pipeline: &mut Pipeline) -> anyhow::Result<serde_json::Value> {
    let analytics = analytics(pipeline)?;
    Ok(Report { stats: &pipeline.stats, extra: vec![], analytics }.json())
}

pub fn render(pipeline: &mut Pipeline, format: Format) -> anyhow::Result<String> {
    let analytics = analytics(pipeline)?;
    Ok(Report { stats: &pipeline.stats, extra: vec![], analytics }.render(format))
}

/// The report as JSON to the analytics topic, if one is configured.
fn publish(config: &Config, flow: &Flow, report: &serde_json::Value) -> anyhow::Result<()> {
    let Some(topic) = &config.kafka.analytics_topic else {
        return Ok(());
    };
    let record = Outgoing { topic: topic.clone(), key: Some(config.kafka.group_id.as_bytes().to_vec()), value: report.to_string().into_bytes(), headers: vec![] };
    flow::produce(flow.producer(), &record, flow::detached_ticket(1))
}
