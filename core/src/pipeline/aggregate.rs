//! The aggregate operator: the one owner of an aggregator's partition states — which
//! records each state covers, when they are checkpointed, how they come (restored on
//! assignment), go (snapshotted and dropped on revocation) and move to new plugins.
//!
//! It folds only what the pipeline has settled: records the circuit breaker may still hold
//! back never reach it, so nothing is ever folded twice or rolled back.

use super::outcome::{plugin_name, Output};
use super::windowed_aggregate::{Emitted, Windows};
use crate::plugin::PluginError;
use crate::record::Record;
use crate::report::Analytics;
use crate::stage::aggregator::Aggregate;
use crate::stage::Stage;
use crate::state::{Coverage, PartitionKey, PartitionSnapshot, StateChange};
use crate::stats::Stats;

pub struct AggregateOperator {
    stage: Stage<Aggregate>,
    /// Which records of each input partition the states hold.
    coverage: Coverage,
    /// Partition states are checkpointed (Kafka with `[state]`), not only kept in memory.
    checkpoints: bool,
    /// Event-time windows (`[aggregate.window]`): a state per window, results as records.
    windows: Option<Windows>,
}

impl AggregateOperator {
    pub fn new(stage: Stage<Aggregate>, windows: Option<Windows>) -> AggregateOperator {
        AggregateOperator { stage, coverage: Coverage::default(), checkpoints: false, windows }
    }

    pub fn stage(&mut self) -> &mut Stage<Aggregate> {
        &mut self.stage
    }

    /// Checkpoint the partition states; partitions are then held only as `apply` assigns them.
    pub fn keep_partition_states(&mut self) {
        self.checkpoints = true;
    }

    /// Folds the records the pipeline delivers (`delivered`, in input order) into their
    /// partitions' states, skipping those a state covers already; `refused` (dead letters)
    /// only move the coverage past them. Faults are counted: the records are delivered
    /// anyway, not counted in the analytics. With windows: the results of the windows
    /// closed and the late records' dead letters, each after the delivered record it
    /// comes with.
    pub fn fold<'a>(
        &mut self,
        delivered: &[Record],
        refused: impl Iterator<Item = &'a Record>,
        stats: &mut Stats,
    ) -> Emitted {
        // Records one input became (a fan-out) share its offset: one decision for them all.
        let mut last: Option<(&Record, bool)> = None;
        let fold: Vec<bool> = delivered
            .iter()
            .map(|m| match last {
                Some((prev, decided))
                    if prev.offset == m.offset
                        && prev.partition == m.partition
                        && prev.topic == m.topic =>
                {
                    decided
                }
                _ => {
                    let decided = self.coverage.note(&m.topic, m.partition, m.offset);
                    last = Some((m, decided));
                    decided
                }
            })
            .collect();
        for m in refused {
            self.coverage.note(&m.topic, m.partition, m.offset);
        }
        if let Some(windows) = &mut self.windows {
            return windows.fold(&mut self.stage, delivered, &fold, stats);
        }
        let faults: usize = runs_of_true(&fold)
            .map(|run| self.stage.run(&delivered[run]).iter().filter(|r| r.is_err()).count())
            .sum();
        stats.analytics_resets += self.stage.take_lost_states();
        if faults > 0 {
            stats.aggregate_faults += faults as u64;
            tracing::warn!(
                stage = self.stage.name(),
                faults,
                "aggregator failed on records; they are delivered but not counted"
            );
        }
        Vec::new()
    }

    /// The input ended (files): every open window closes, its result out.
    pub fn close_windows(&mut self, stats: &mut Stats) -> Vec<Output> {
        match &mut self.windows {
            Some(windows) => windows.close_all(&mut self.stage, stats),
            None => Vec::new(),
        }
    }

    /// The last windows closed (their result values), for reports.
    pub fn last_windows(&self) -> Option<Vec<serde_json::Value>> {
        self.windows.as_ref().map(Windows::last_closed)
    }

    /// Partitions assigned (their states restored) or revoked (their final snapshots
    /// returned, their states dropped).
    pub fn apply(&mut self, change: StateChange, stats: &mut Stats) -> Vec<PartitionSnapshot> {
        match change {
            StateChange::Assigned(restores) => {
                for restore in restores {
                    let snapshot = restore.snapshot.as_ref();
                    let offset = snapshot.map(|s| s.offset);
                    let state = snapshot.map(|s| s.state.as_slice());
                    let failure = match &mut self.windows {
                        Some(windows) => {
                            windows.restore(&mut self.stage, &restore.key, state).err()
                        }
                        None => {
                            match self.stage.restore_slot(&(restore.key.clone(), None), state) {
                                Ok(Ok(())) => None,
                                Ok(Err(reason)) => Some(reason),
                                Err(e) => Some(e.to_string()),
                            }
                        }
                    };
                    if let Some(reason) = failure {
                        stats.state_restore_failures += 1;
                        tracing::error!(
                            "the saved state of {}/{} (to offset {}) was refused: {reason}; its analytics start empty there",
                            restore.key.0, restore.key.1, offset.unwrap_or(0)
                        );
                    }
                    self.coverage.restored(restore.key, offset);
                }
                self.stage.saved(); // a replacement instance starts from here
                Vec::new()
            }
            StateChange::Revoked(keys) => {
                let snapshots = self.snapshots(|key| keys.contains(key), stats);
                for key in &keys {
                    if let Err(e) = self.stage.drop_partition(key) {
                        tracing::warn!("dropping the state of {}/{}: {e}", key.0, key.1);
                    }
                    if let Some(windows) = &mut self.windows {
                        windows.dropped(key);
                    }
                    self.coverage.dropped(key);
                }
                snapshots
            }
        }
    }

    /// The snapshots of the partitions changed since the last checkpoint.
    pub fn checkpoint(&mut self, stats: &mut Stats) -> Vec<PartitionSnapshot> {
        match self.checkpoints {
            true => self.snapshots(|_| true, stats),
            false => Vec::new(),
        }
    }

    /// Snapshots of the changed partitions `wanted` picks; a failure is counted and said.
    fn snapshots(
        &mut self,
        wanted: impl Fn(&PartitionKey) -> bool,
        stats: &mut Stats,
    ) -> Vec<PartitionSnapshot> {
        let mut snapshots = Vec::new();
        for (key, offset) in self.coverage.take_dirty(&wanted) {
            let snapshot = match &self.windows {
                Some(windows) => windows.snapshot(&mut self.stage, &key),
                None => self.stage.partition_snapshot(&key),
            };
            match snapshot {
                Ok(state) => snapshots.push(PartitionSnapshot {
                    topic: key.0,
                    partition: key.1,
                    offset,
                    state,
                }),
                Err(e) => {
                    stats.checkpoint_failures += 1;
                    tracing::error!(
                        "no checkpoint of {}/{}: {e}; it is retried at the next one",
                        key.0,
                        key.1
                    );
                }
            }
        }
        snapshots
    }

    /// The plugin's name and its report over every partition held.
    pub fn report(&mut self) -> Result<(String, Analytics), PluginError> {
        Ok((plugin_name(self.stage.plugin_path()), self.stage.report()?))
    }

    /// The partitions held (`topic/partition`), when they are checkpointed.
    pub fn partitions(&self) -> Vec<String> {
        match self.checkpoints {
            true => self
                .coverage
                .partitions()
                .map(|(topic, partition)| format!("{topic}/{partition}"))
                .collect(),
            false => Vec::new(),
        }
    }

    /// Moves everything to `next` (a hot swap): the partitions held, how they are
    /// checkpointed, and the states if the new plugin can read the old snapshot.
    pub fn hand_over(&mut self, next: &mut AggregateOperator) {
        next.coverage = std::mem::take(&mut self.coverage);
        next.checkpoints = self.checkpoints;
        if let (Some(old), Some(new)) = (&mut self.windows, &mut next.windows) {
            old.hand_over(new);
        }
        let snapshot = match self.stage.snapshot() {
            Ok(snapshot) => snapshot,
            Err(e) => {
                return tracing::warn!(
                    "the old aggregator's state could not be read ({e}); the new one starts empty"
                )
            }
        };
        match next.stage.restore(&snapshot) {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => tracing::warn!(
                "the new aggregator cannot read the old state ({reason}); it starts empty"
            ),
            Err(e) => tracing::warn!(
                "the new aggregator failed to restore the old state ({e}); it starts empty"
            ),
        }
    }
}

/// The ranges where `flags` is true, in order.
fn runs_of_true(flags: &[bool]) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < flags.len() && !flags[start] {
            start += 1;
        }
        if start == flags.len() {
            return None;
        }
        let end = flags[start..].iter().position(|f| !f).map_or(flags.len(), |n| start + n);
        let run = start..end;
        start = end;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::runs_of_true;

    #[test]
    #[allow(clippy::single_range_in_vec_init)] // lists of ranges, one of them here
    fn runs_of_true_cover_exactly_the_true_flags_in_order() {
        let runs = |flags: &[bool]| runs_of_true(flags).collect::<Vec<std::ops::Range<usize>>>();
        let none: Vec<std::ops::Range<usize>> = Vec::new();
        assert_eq!(runs(&[]), none);
        assert_eq!(runs(&[false, false]), none);
        assert_eq!(runs(&[true, true, false, true]), [0..2, 3..4]);
        assert_eq!(runs(&[false, true, true]), [1..3]);
    }
}
