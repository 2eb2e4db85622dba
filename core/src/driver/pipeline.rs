//! The processing driver: each batch through the stages, guarded by the circuit breaker,
//! swapped between batches when a plugin changes, reported as it goes and once at the end.

use super::{Controls, Done, Sink, Source, Task};
use crate::breaker::{Breaker, Canaries, Judge, CANARIES};
use crate::hot_swap::HotSwap;
use crate::ops::Metrics;
use crate::pipeline::{Judged, Outcome, Pipeline, Rejection};
use crate::record::Record;
use crate::report::Report;
use crate::state::{PartitionSnapshot, StateChange};
use crate::stats::Stats;
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

pub struct PipelineOptions<'a> {
    pub on_trip: OnTrip,
    pub max_consecutive_faults: u32,
    /// Show (and publish) the report this often while running.
    pub report_every: Option<Duration>,
    /// How the caller shows a report (the binary: text or JSON, as `--report` asks): each
    /// one while running, and the final one.
    pub show: &'a (dyn Fn(&Report) -> String + Sync),
    /// Where a report shown while running goes (the binary's stderr).
    pub say: &'a (dyn Fn(&str) + Sync),
    /// Called after every batch, e.g. to show progress.
    pub on_batch: Option<&'a (dyn Fn(&Stats) + Sync)>,
}

/// The report at the end, computed once: as JSON (published) and as the caller shows it.
pub struct FinalReport {
    pub json: serde_json::Value,
    pub rendered: String,
}

/// Runs until the source ends or `controls.stop`; the final report is published to the sink
/// (when all went well) before it finishes.
pub fn drive_pipeline<IO: Source<StateChange> + Sink<Outcome, PartitionSnapshot>>(
    io: &mut IO,
    pipeline: &mut Pipeline,
    controls: &Controls,
    options: &PipelineOptions,
    mut hot_swap: Option<HotSwap>,
) -> anyhow::Result<FinalReport> {
    let mut breaker = Breaker::new(options.max_consecutive_faults);
    let mut canaries = Canaries::default();
    let mut last_report = Instant::now();
    let result = super::drive_batches(io, controls, |task| {
        let batch = match task {
            Task::Batch(batch) => batch,
            Task::Event(change) => return Ok(Done::states(pipeline.apply(change))),
            Task::Checkpoint => return Ok(Done::states(pipeline.checkpoint())),
            Task::Ended => {
                let closed = pipeline.close_windows();
                return Ok(if closed.is_empty() {
                    Done::states(Vec::new())
                } else {
                    Done::outputs(vec![Outcome::Processed(closed)])
                });
            }
        };
        if let Some(hot_swap) = hot_swap.as_mut() {
            hot_swap.between_batches(pipeline);
        }
        let mut swapped = |pipeline: &mut Pipeline| {
            hot_swap.as_mut().is_some_and(|hot_swap| hot_swap.between_batches(pipeline))
        };
        let outcomes = guarded(
            pipeline,
            &mut breaker,
            &mut canaries,
            batch,
            options.on_trip,
            controls.stop,
            &mut swapped,
        )?;
        if let Some(on_batch) = options.on_batch {
            on_batch(&pipeline.stats);
        }
        let mut report = None;
        if options.report_every.is_some_and(|every| last_report.elapsed() >= every) {
            last_report = Instant::now();
            let now = pipeline.report(Vec::new())?;
            (options.say)(&(options.show)(&now));
            report = Some(now.json());
        }
        // The status page's bars, while someone watches it. Serving a page never stops
        // the flow: a report that fails is said on the page (and in the log), and the
        // page asks again only after a while (each failure costs the aggregator its
        // instance; its state is put back into the next).
        if let Some(events) =
            pipeline.metrics().map(|m| m.events().clone()).filter(|events| events.report_due())
        {
            let now = pipeline.report(Vec::new());
            if let Err(e) = &now {
                tracing::warn!("the status page's report failed: {e}; the flow goes on, the page asks again later");
            }
            events.report(now.map(|now| now.json()).map_err(|e| e.to_string()));
        }
        Ok(Done { outputs: Some(outcomes), report, states: Vec::new() })
    });
    let report = pipeline
        .report(Vec::new())
        .map(|r| FinalReport { json: r.json(), rendered: (options.show)(&r) });
    let published = match (&result, &report) {
        (Ok(()), Ok(report)) => io.publish(&report.json),
        _ => Ok(()),
    };
    let finished = io.finish(controls.drain);
    result?;
    published?;
    finished?;
    Ok(report?)
}

/// Processes a batch under the breaker's policy. The breaker weighs the verdicts of
/// validate and transform before anything is counted or folded, so a held batch leaves no
/// trace to roll back: it is judged again from its inputs, and settled once.
fn guarded<J: Judge>(
    stages: &mut J,
    breaker: &mut Breaker,
    canaries: &mut Canaries,
    batch: Vec<Record>,
    on_trip: OnTrip,
    stop: &AtomicBool,
    // Swaps in new plugins if there are any; true when it did (the held batch is then
    // retried at once).
    swapped: &mut dyn FnMut(&mut J) -> bool,
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
        let judged = stages.judge(batch);
        let tripped = match breaker.check(J::verdicts(&judged)) {
            Ok(()) => {
                if let (Some(stage), Some(metrics)) = (open, stages.metrics()) {
                    metrics.breaker(&stage, false);
                }
                canaries.keep(&last, J::verdicts(&judged));
                return Ok(stages.settle(judged));
            }
            Err(tripped) => tripped,
        };
        // Whose fault: recently handled records on a fresh instance (the faulting one
        // was discarded). If they pass, these records are poison: dead letters.
        if canaries.pass(stages) {
            tracing::warn!(
                "{} records in a row failed in plugin {} (stage `{}`), yet it still handles recent good records: \
                 the records are poison, not the plugin; they go to the dead letters with their faults (last: {})",
                tripped.consecutive, tripped.plugin, tripped.stage, tripped.last_reason
            );
            breaker.reset();
            if let (Some(stage), Some(metrics)) = (open, stages.metrics()) {
                metrics.breaker(&stage, false);
            }
            return Ok(stages.settle(judged));
        }
        if let Some(metrics) = stages.metrics() {
            metrics.breaker(&tripped.stage, true);
        }
        open = Some(tripped.stage.clone());
        let OnTrip::HoldAndRetry { cooldown } = on_trip else {
            anyhow::bail!("{tripped}; stopping");
        };
        drop(judged);
        tracing::error!(
            "{tripped}. Consumption paused; retrying the held batch every {} s",
            cooldown.as_secs()
        );
        let resume_at = Instant::now() + cooldown;
        while Instant::now() < resume_at {
            if stop.load(Ordering::Relaxed) {
                anyhow::bail!("stopped while the {tripped}");
            }
            // A fixed (or rolled back) plugin is retried at once, not after the cooldown.
            if swapped(stages) {
                tracing::info!("new plugins swapped in while the breaker was open; retrying the held batch now");
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Judge for Pipeline {
    type Judged = Judged;

    fn judge(&mut self, batch: Vec<Record>) -> Judged {
        Pipeline::judge(self, batch)
    }

    fn verdicts(judged: &Judged) -> impl ExactSizeIterator<Item = Option<&Rejection>> {
        judged.verdicts()
    }

    fn settle(&mut self, judged: Judged) -> Vec<Outcome> {
        Pipeline::settle(self, judged)
    }

    fn metrics(&self) -> Option<&Metrics> {
        Pipeline::metrics(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::FaultKind;
    use proptest::prelude::*;

    /// Native stages: a record whose value is `poison` makes the plugin fault, `bad` is
    /// rejected; a `broken` plugin faults on everything. Counts its judgements and what
    /// it settled, batch by batch (as offsets).
    #[derive(Default)]
    struct Native {
        broken: bool,
        judged: usize,
        settled: Vec<Vec<i64>>,
    }

    struct NativeJudged {
        inputs: Vec<Record>,
        verdicts: Vec<Option<Rejection>>,
    }

    fn rejection(fault: Option<FaultKind>) -> Rejection {
        Rejection {
            stage: "transform".into(),
            plugin: "native".into(),
            violations: Vec::new(),
            fault,
            cause: Default::default(),
        }
    }

    impl Judge for Native {
        type Judged = NativeJudged;

        fn judge(&mut self, inputs: Vec<Record>) -> NativeJudged {
            self.judged += 1;
            let verdicts = inputs
                .iter()
                .map(|m| match (self.broken, m.value.as_slice()) {
                    (true, _) | (_, b"poison") => Some(rejection(Some(FaultKind::Trap))),
                    (_, b"bad") => Some(rejection(None)),
                    _ => None,
                })
                .collect();
            NativeJudged { inputs, verdicts }
        }

        fn verdicts(judged: &NativeJudged) -> impl ExactSizeIterator<Item = Option<&Rejection>> {
            judged.verdicts.iter().map(Option::as_ref)
        }

        fn settle(&mut self, judged: NativeJudged) -> Vec<Outcome> {
            self.settled.push(judged.inputs.iter().map(|m| m.offset).collect());
            judged
                .inputs
                .into_iter()
                .zip(judged.verdicts)
                .map(|(m, verdict)| match verdict {
                    None => Outcome::processed(m),
                    Some(rejection) => Outcome::DeadLetter(m, rejection),
                })
                .collect()
        }

        fn metrics(&self) -> Option<&Metrics> {
            None
        }
    }

    fn batch(first: i64, values: &[&str]) -> Vec<Record> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                key: None,
                value: v.as_bytes().to_vec(),
                headers: Vec::new(),
                topic: "in".into(),
                partition: 0,
                offset: first + i as i64,
                timestamp: None,
            })
            .collect()
    }

    const HOLD: OnTrip = OnTrip::HoldAndRetry { cooldown: Duration::from_millis(1) };

    fn processed(outcomes: &[Outcome]) -> usize {
        outcomes.iter().filter(|o| matches!(o, Outcome::Processed(_))).count()
    }

    #[test]
    fn a_broken_plugin_holds_the_batch_until_it_is_fixed_and_it_is_settled_once() {
        let (mut native, mut breaker, mut canaries, stop) =
            (Native::default(), Breaker::new(5), Canaries::default(), AtomicBool::new(false));
        let mut never = |_: &mut Native| false;
        guarded(
            &mut native,
            &mut breaker,
            &mut canaries,
            batch(0, &["ok"; 6]),
            HOLD,
            &stop,
            &mut never,
        )
        .unwrap();
        native.broken = true;
        let mut looks = 0;
        // A fixed plugin swapped in on the third look while the batch is held.
        let mut fixed_on_third_look = |native: &mut Native| {
            looks += 1;
            native.broken = looks < 3;
            !native.broken
        };
        let outcomes = guarded(
            &mut native,
            &mut breaker,
            &mut canaries,
            batch(6, &["ok"; 6]),
            HOLD,
            &stop,
            &mut fixed_on_third_look,
        )
        .unwrap();
        assert_eq!(processed(&outcomes), 6, "the held batch went through whole once fixed");
        assert_eq!(
            native.settled,
            [vec![0, 1, 2, 3, 4, 5], vec![6, 7, 8, 9, 10, 11]],
            "each batch settled once"
        );
        assert!(
            native.judged >= 4,
            "judged again while held, canaries included: {}",
            native.judged
        );
    }

    #[test]
    fn poison_records_pass_the_canaries_and_become_dead_letters_without_a_hold() {
        let (mut native, mut breaker, mut canaries, stop) =
            (Native::default(), Breaker::new(5), Canaries::default(), AtomicBool::new(false));
        let mut no_hold = |_: &mut Native| -> bool { panic!("nothing is held") };
        guarded(
            &mut native,
            &mut breaker,
            &mut canaries,
            batch(0, &["ok"; 3]),
            HOLD,
            &stop,
            &mut no_hold,
        )
        .unwrap();
        let outcomes = guarded(
            &mut native,
            &mut breaker,
            &mut canaries,
            batch(3, &["poison"; 6]),
            HOLD,
            &stop,
            &mut no_hold,
        )
        .unwrap();
        assert_eq!(processed(&outcomes), 0);
        assert_eq!(native.settled.len(), 2);
        // The count started afresh: five more faults do not trip it.
        guarded(
            &mut native,
            &mut breaker,
            &mut canaries,
            batch(9, &["poison"; 4]),
            HOLD,
            &stop,
            &mut no_hold,
        )
        .unwrap();
    }

    #[test]
    fn a_trip_that_stops_settles_nothing() {
        let (mut native, mut breaker, mut canaries, stop) = (
            Native { broken: true, ..Native::default() },
            Breaker::new(5),
            Canaries::default(),
            AtomicBool::new(false),
        );
        let error = guarded(
            &mut native,
            &mut breaker,
            &mut canaries,
            batch(0, &["ok"; 6]),
            OnTrip::Stop,
            &stop,
            &mut |_| false,
        )
        .unwrap_err();
        assert!(error.to_string().contains("circuit breaker open"), "{error}");
        assert!(native.settled.is_empty());
    }

    #[test]
    fn a_stop_while_a_batch_is_held_ends_without_settling_it() {
        let (mut native, mut breaker, mut canaries, stop) = (
            Native { broken: true, ..Native::default() },
            Breaker::new(5),
            Canaries::default(),
            AtomicBool::new(false),
        );
        let mut sigterm = |_: &mut Native| {
            stop.store(true, Ordering::Relaxed);
            false
        };
        let error = guarded(
            &mut native,
            &mut breaker,
            &mut canaries,
            batch(0, &["ok"; 6]),
            HOLD,
            &stop,
            &mut sigterm,
        )
        .unwrap_err();
        assert!(error.to_string().starts_with("stopped while the circuit breaker open"), "{error}");
        assert!(native.settled.is_empty());
    }

    fn value() -> impl Strategy<Value = &'static str> {
        prop_oneof![8 => Just("ok"), 1 => Just("bad"), 1 => Just("poison")]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Random batches of good, rejected and poison records, a plugin broken now and
        /// then (it is fixed at the next look while a batch is held), any breaker limit:
        /// every batch is settled exactly once, in order, one outcome per record.
        #[test]
        fn every_batch_is_settled_once_in_order_whatever_the_faults(
            batches in prop::collection::vec(prop::collection::vec(value(), 1..12), 1..12),
            broken in prop::collection::vec(any::<bool>(), 12),
            limit in 1u32..8,
        ) {
            let (mut native, mut breaker, mut canaries, stop) = (Native::default(), Breaker::new(limit), Canaries::default(), AtomicBool::new(false));
            let mut offset = 0;
            let mut expected = Vec::new();
            // Canaries: one good batch first, so poison can be told from a broken plugin.
            let mut first = vec!["ok"];
            for (i, values) in std::iter::once(&mut first).chain(batches.to_vec().iter_mut()).enumerate() {
                native.broken = i > 0 && broken[i % broken.len()];
                let inputs = batch(offset, values);
                expected.push(inputs.iter().map(|m| m.offset).collect::<Vec<_>>());
                offset += values.len() as i64;
                let mut fix = |native: &mut Native| std::mem::take(&mut native.broken);
                let outcomes = guarded(&mut native, &mut breaker, &mut canaries, inputs, HOLD, &stop, &mut fix).unwrap();
                prop_assert_eq!(outcomes.len(), values.len());
            }
            prop_assert_eq!(&native.settled, &expected);
        }
    }
}
