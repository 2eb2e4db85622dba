//! The processing driver: each batch through the stages, guarded by the circuit breaker,
//! swapped between batches when a plugin changes, reported as it goes and once at the end.

use super::{Done, Flow, Sink, Source, Task};
use crate::bindings::types::Message;
use crate::breaker::{Breaker, Canaries, CANARIES};
use crate::hot_swap::HotSwap;
use crate::stats::Stats;
use crate::pipeline::{Outcome, Pipeline};
use crate::report::Format;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to do when the circuit breaker trips (too many plugin faults in a row).
#[derive(Debug, Clone, Copy)]
pub enum OnTrip {
    /// Stop with an error (files: nothing is waiting to be retried).
    Stop,
    /// Hold the batch back unsent and uncommitted — which pauses consumption — and retry
    /// it on fresh instances after each cooldown (Kafka).
    HoldAndRetry { cooldown: Duration },
}

pub struct Options<'a> {
    pub on_trip: OnTrip,
    pub max_consecutive_faults: u32,
    /// Print (and publish) the report this often while running.
    pub report_every: Option<Duration>,
    pub report_format: Format,
    /// Called after every batch, e.g. to show progress.
    pub on_batch: Option<&'a (dyn Fn(&Stats) + Sync)>,
}

/// The report at the end, computed once: as JSON (published) and as the user asked.
pub struct FinalReport {
    pub json: serde_json::Value,
    pub rendered: String,
}

/// Runs until the source ends or `flow.stop`; the final report is published to the sink
/// (when all went well) before it finishes.
pub fn drive<IO: Source + Sink<Outcome>>(
    io: &mut IO,
    pipeline: &mut Pipeline,
    flow: &Flow,
    options: &Options,
    mut hot_swap: Option<HotSwap>,
) -> anyhow::Result<FinalReport> {
    let mut breaker = Breaker::new(options.max_consecutive_faults);
    let mut canaries = Canaries::default();
    let mut last_report = Instant::now();
    let result = super::drive_batches(io, flow, |task| {
        let batch = match task {
            Task::Batch(batch) => batch,
            Task::State(change) => return Ok(Done::snapshots(pipeline.apply(change))),
            Task::Checkpoint => return Ok(Done::snapshots(pipeline.checkpoint())),
        };
        if let Some(hot_swap) = hot_swap.as_mut() {
            hot_swap.between_batches(pipeline);
        }
        let outcomes = guarded(pipeline, &mut breaker, &mut canaries, batch, options.on_trip, flow.stop, hot_swap.as_mut())?;
        if let Some(on_batch) = options.on_batch {
            on_batch(&pipeline.stats);
        }
        let mut report = None;
        if options.report_every.is_some_and(|every| last_report.elapsed() >= every) {
            last_report = Instant::now();
            let now = pipeline.report(Vec::new())?;
            crate::say!("{}", now.render(options.report_format));
            report = Some(now.json());
        }
        Ok(Done { outputs: Some(outcomes), report, snapshots: Vec::new() })
    });
    let report = pipeline.report(Vec::new()).map(|r| FinalReport { json: r.json(), rendered: r.render(options.report_format) });
    let published = match (&result, &report) {
        (Ok(()), Ok(report)) => io.publish(&report.json),
        _ => Ok(()),
    };
    let finished = io.finish(flow.drain);
    result?;
    published?;
    finished?;
    Ok(report?)
}

/// Processes a batch under the breaker's policy. The breaker weighs the verdicts of
/// validate and transform before anything is counted or folded, so a held batch leaves no
/// trace to roll back: it is judged again from its inputs, and settled once.
fn guarded(
    pipeline: &mut Pipeline,
    breaker: &mut Breaker,
    canaries: &mut Canaries,
    batch: Vec<Message>,
    on_trip: OnTrip,
    stop: &AtomicBool,
    mut hot_swap: Option<&mut HotSwap>,
) -> anyhow::Result<Vec<Outcome>> {
    let last = batch[batch.len().saturating_sub(CANARIES)..].to_vec();
    // Keep the inputs to judge again only when this batch could trip the breaker.
    let held = breaker.could_trip(batch.len()).then(|| batch.clone());
    let mut inputs = Some(batch);
    // The stage whose breaker is open while this batch is held, for `weir_breaker_open`.
    let mut open: Option<String> = None;
    loop {
        let batch = match (inputs.take(), &held) {
            (Some(batch), _) => batch,
            (None, Some(held)) => held.clone(),
            (None, None) => unreachable!("a batch that cannot trip the breaker is judged once"),
        };
        let judged = pipeline.judge(batch);
        let tripped = match breaker.check(judged.verdicts()) {
            Ok(()) => {
                if let (Some(stage), Some(metrics)) = (open, pipeline.metrics()) {
                    metrics.breaker(&stage, false);
                }
                canaries.keep(&last, judged.verdicts());
                return Ok(pipeline.settle(judged));
            }
            Err(tripped) => tripped,
        };
        // Whose fault: recently handled records on a fresh instance (the faulting one
        // was discarded). If they pass, these records are poison: dead letters.
        if canaries.pass(pipeline) {
            tracing::warn!(
                "{} records in a row failed in plugin {} (stage `{}`), yet it still handles recent good records: \
                 the records are poison, not the plugin; they go to the dead letters with their faults (last: {})",
                tripped.consecutive, tripped.plugin, tripped.stage, tripped.last_reason
            );
            breaker.reset();
            if let (Some(stage), Some(metrics)) = (open, pipeline.metrics()) {
                metrics.breaker(&stage, false);
            }
            return Ok(pipeline.settle(judged));
        }
        if let Some(metrics) = pipeline.metrics() {
            metrics.breaker(&tripped.stage, true);
        }
        open = Some(tripped.stage.clone());
        let OnTrip::HoldAndRetry { cooldown } = on_trip else {
            anyhow::bail!("{tripped}; stopping");
        };
        drop(judged);
        tracing::error!("{tripped}. Consumption paused; retrying the held batch every {} s", cooldown.as_secs());
        let resume_at = Instant::now() + cooldown;
        while Instant::now() < resume_at {
            if stop.load(Ordering::Relaxed) {
                anyhow::bail!("stopped while the {tripped}");
            }
            // A fixed (or rolled back) plugin is retried at once, not after the cooldown.
            if let Some(hot_swap) = hot_swap.as_deref_mut() {
                if hot_swap.between_batches(pipeline) {
                    tracing::info!("new plugins swapped in while the breaker was open; retrying the held batch now");
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
