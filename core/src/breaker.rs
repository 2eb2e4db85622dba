//! The circuit breaker: a plugin that fails record after record (a broken new version,
//! say) stops the flow instead of flooding the dead-letter topic.
//!
//! Policy: `pipeline.max_consecutive_faults` (default 50; 0 turns it off) plugin faults in
//! a row — traps, blown limits, broken contracts, not ordinary validation rejections nor
//! records the host refused by itself (oversize) — trip the breaker. Before it holds,
//! the canaries decide whose fault it is: recently handled records run again on a fresh
//! instance. If they still go through, the plugin works and the records are poison: they
//! are dead-lettered with their faults and the flow goes on. If they fail too (or there
//! are none yet), the plugin is broken: the batch is held back, unsent and uncommitted.
//! `weir run` then pauses consumption and retries that batch on fresh instances every
//! `pipeline.fault_cooldown_s` seconds (half-open), resuming when it goes through;
//! `weir process` stops with an error.

use crate::ops::Metrics;
use crate::pipeline::outcome::{Outcome, Rejection};
use crate::record::Record;
use std::collections::VecDeque;

/// What the breaker's policy needs of the stages: verdicts first (validate, transform),
/// with nothing counted or folded, then — once accepted — the settlement. `Pipeline` is
/// the one the product runs; the policy's tests run native stand-ins.
pub trait Judge {
    type Judged;
    fn judge(&mut self, batch: Vec<Record>) -> Self::Judged;
    /// Per input, in order: why it was refused, or `None` if it goes on.
    fn verdicts(judged: &Self::Judged) -> impl ExactSizeIterator<Item = Option<&Rejection>>;
    fn settle(&mut self, judged: Self::Judged) -> Vec<Outcome>;
    fn metrics(&self) -> Option<&Metrics>;
}

#[derive(Debug, Clone)]
pub struct Breaker {
    limit: u32,
    consecutive: u32,
}

/// Why the breaker tripped, for the loud report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tripped {
    pub stage: String,
    pub plugin: String,
    pub consecutive: u32,
    pub last_reason: String,
}

impl std::fmt::Display for Tripped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "circuit breaker open: plugin {} (stage `{}`) failed on {} records in a row (last: {}). \
             Nothing past the last good batch is sent or committed; fix or roll back the plugin",
            self.plugin, self.stage, self.consecutive, self.last_reason
        )
    }
}

impl Breaker {
    pub fn new(limit: u32) -> Breaker {
        Breaker { limit, consecutive: 0 }
    }

    /// Whether a batch of `len` records could trip the breaker (if not, the caller need not
    /// keep a copy of the batch to retry it).
    pub fn could_trip(&self, len: usize) -> bool {
        self.limit != 0 && self.consecutive as usize + len >= self.limit as usize
    }

    /// Counts the faults of a batch from its verdicts (per record, in order: why it was
    /// refused, or `None`). The count carries over between batches; any record the plugins
    /// handled resets it.
    pub fn check<'a>(
        &mut self,
        verdicts: impl IntoIterator<Item = Option<&'a Rejection>>,
    ) -> Result<(), Tripped> {
        if self.limit == 0 {
            return Ok(());
        }
        let before = self.consecutive;
        for verdict in verdicts {
            match verdict {
                Some(rejection) if rejection.blames_plugin() => {
                    self.consecutive += 1;
                    if self.consecutive >= self.limit {
                        let tripped = Tripped {
                            stage: rejection.stage.clone(),
                            plugin: rejection.plugin.clone(),
                            consecutive: self.consecutive,
                            last_reason: rejection.summary(),
                        };
                        // The held batch will be retried: count it afresh then.
                        self.consecutive = before;
                        return Err(tripped);
                    }
                }
                // The record's fault, not the plugin's: it neither counts nor clears.
                Some(rejection) if rejection.is_fault() => {}
                _ => self.consecutive = 0,
            }
        }
        Ok(())
    }

    /// The faults so far were the records' (the canaries passed): count afresh.
    pub fn reset(&mut self) {
        self.consecutive = 0;
    }
}

/// How many recently handled records the canaries keep.
pub const CANARIES: usize = 8;

/// Input records the plugins recently handled (processed, not faulted), replayed when
/// the breaker trips to tell a broken plugin from poison records.
#[derive(Default)]
pub struct Canaries {
    kept: VecDeque<Record>,
}

impl Canaries {
    /// Keeps the handled ones of `inputs` (the last records of a batch) given the batch's
    /// verdicts, which end with theirs.
    pub fn keep<'a>(
        &mut self,
        inputs: &[Record],
        verdicts: impl ExactSizeIterator<Item = Option<&'a Rejection>>,
    ) {
        let Some(first) = verdicts.len().checked_sub(inputs.len()) else { return };
        for (input, verdict) in inputs.iter().zip(verdicts.skip(first)) {
            if verdict.is_none() {
                if self.kept.len() == CANARIES {
                    self.kept.pop_front();
                }
                self.kept.push_back(input.clone());
            }
        }
    }

    /// Whether the plugins still handle the canaries, judged on `pipeline` (no count or
    /// state is touched): true says the plugin works, so the records that tripped the
    /// breaker are poison. False when there are none to run: then no one can tell.
    pub fn pass<J: Judge>(&self, stages: &mut J) -> bool {
        if self.kept.is_empty() {
            return false;
        }
        let judged = stages.judge(self.kept.iter().cloned().collect());
        let pass =
            J::verdicts(&judged).all(|verdict| !verdict.is_some_and(Rejection::blames_plugin));
        pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Record;

    fn verdicts(outcomes: &[Outcome]) -> impl ExactSizeIterator<Item = Option<&Rejection>> {
        outcomes.iter().map(Outcome::rejection)
    }

    fn message() -> Record {
        Record {
            key: None,
            value: vec![],
            headers: vec![],
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp: None,
        }
    }

    fn fault() -> Outcome {
        let rejection = Rejection {
            stage: "transform".into(),
            plugin: "p".into(),
            violations: vec![],
            fault: Some(crate::plugin::FaultKind::Trap),
            cause: Default::default(),
        };
        Outcome::DeadLetter(message(), rejection)
    }

    fn invalid() -> Outcome {
        let rejection = Rejection {
            stage: "validate".into(),
            plugin: "v".into(),
            violations: vec![],
            fault: None,
            cause: Default::default(),
        };
        Outcome::DeadLetter(message(), rejection)
    }

    #[test]
    fn trips_on_consecutive_faults_across_batches() {
        let mut b = Breaker::new(3);
        assert!(b.check(verdicts(&[fault(), fault()])).is_ok());
        let tripped = b.check(verdicts(&[fault()])).unwrap_err();
        assert_eq!(tripped.consecutive, 3);
        assert!(tripped.to_string().contains("failed on 3 records in a row"));
    }

    #[test]
    fn knows_when_a_batch_cannot_trip_it() {
        let mut b = Breaker::new(5);
        assert!(!b.could_trip(4));
        assert!(b.could_trip(5));
        b.check(verdicts(&[fault(), fault()])).unwrap();
        assert!(b.could_trip(3));
        assert!(!Breaker::new(0).could_trip(1000));
    }

    fn oversize() -> Outcome {
        let rejection = Rejection {
            stage: "validate".into(),
            plugin: "v".into(),
            violations: vec![],
            fault: Some(crate::plugin::FaultKind::Oversize),
            cause: Default::default(),
        };
        Outcome::DeadLetter(message(), rejection)
    }

    #[test]
    fn records_the_host_refused_by_itself_never_trip_it() {
        let mut b = Breaker::new(3);
        assert!(b.check(verdicts(&(0..100).map(|_| oversize()).collect::<Vec<_>>())).is_ok());
        // Nor do they clear the plugin's own faults around them.
        assert!(b.check(verdicts(&[fault(), oversize(), fault()])).is_ok());
        assert!(b.check(verdicts(&[oversize(), fault()])).is_err());
    }

    #[test]
    fn canaries_keep_the_last_handled_inputs_of_a_batch() {
        let mut canaries = Canaries::default();
        let inputs: Vec<Record> = (0..3).map(|i| Record { offset: i, ..message() }).collect();
        // Five outcomes; the three inputs are the last three records: one processed, one faulted, one processed.
        let outcomes = vec![
            fault(),
            fault(),
            Outcome::processed(message()),
            fault(),
            Outcome::processed(message()),
        ];
        canaries.keep(&inputs, verdicts(&outcomes));
        assert_eq!(canaries.kept.iter().map(|m| m.offset).collect::<Vec<_>>(), [0, 2]);
        for _ in 0..10 {
            canaries.keep(&inputs, verdicts(&outcomes));
        }
        assert_eq!(canaries.kept.len(), CANARIES, "bounded");
    }

    #[test]
    fn handled_records_and_rejections_reset_the_count() {
        let mut b = Breaker::new(3);
        assert!(b.check(verdicts(&[fault(), fault(), invalid(), fault(), fault()])).is_ok());
        assert!(b.check(verdicts(&[Outcome::processed(message()), fault(), fault()])).is_ok());
        assert!(Breaker::new(0)
            .check(verdicts(&(0..100).map(|_| fault()).collect::<Vec<_>>()))
            .is_ok());
    }
}
