//! Joining the consumer group: what happens when partitions are assigned or revoked.
//!
//! With aggregator state kept per partition, an assigned partition resumes where its
//! state and its committed offset allow: its latest snapshot is read from the changelog,
//! and consumption starts at the snapshot's offset when that is behind the committed one.
//! The records in between are folded into the state again but not produced again
//! (`replay_until`): their outputs were acknowledged before.

use super::changelog;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use weir_core::ops::Ops;
use weir_core::state::{PartitionKey, Restore, StateChange};

/// Where partition states are checkpointed.
pub struct StateTopic {
    pub client: ClientConfig,
    pub topic: String,
}

/// What a rebalance changed, for the flow to act on in order with the records.
pub enum Rebalanced {
    Assigned {
        restores: Vec<Restore>,
        /// Per partition, the committed offset when it is ahead of where reading starts:
        /// records before it are replayed into the state, not produced.
        replay_until: Vec<(PartitionKey, i64)>,
    },
    Revoked(Vec<PartitionKey>),
    /// The changelog could not be read: weir stops rather than count wrong.
    Failed(String),
}

impl Rebalanced {
    /// What the plugin side must know of it.
    pub fn state_change(&self) -> Option<StateChange> {
        match self {
            Rebalanced::Assigned { restores, .. } => Some(StateChange::Assigned(restores.clone())),
            Rebalanced::Revoked(keys) => Some(StateChange::Revoked(keys.clone())),
            Rebalanced::Failed(_) => None,
        }
    }
}

pub struct GroupContext {
    state: Option<StateTopic>,
    events: Mutex<Vec<Rebalanced>>,
    /// Lag and broker state from librdkafka's statistics; joined on the first assignment.
    ops: Option<Ops>,
    /// Partitions were assigned since the flow last looked (stateful or not).
    assigned: std::sync::atomic::AtomicBool,
}

impl GroupContext {
    pub fn new(state: Option<StateTopic>, ops: Option<Ops>) -> GroupContext {
        GroupContext { state, events: Mutex::new(Vec::new()), ops, assigned: Default::default() }
    }

    /// Whether partitions were assigned since the last call.
    pub fn take_assigned(&self) -> bool {
        self.assigned.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    pub fn take_events(&self) -> Vec<Rebalanced> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    pub fn has_events(&self) -> bool {
        !self.events.lock().unwrap().is_empty()
    }

    /// `prepare`, tried again on a busy or restarting broker before weir gives up.
    fn prepare_retrying(
        &self,
        state: &StateTopic,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> anyhow::Result<Rebalanced> {
        let mut attempt = 1;
        loop {
            match self.prepare(state, consumer, tpl) {
                Err(e) if attempt < 4 => {
                    tracing::warn!(
                        "reading the partition states from {} (attempt {attempt}): {e:#}; retrying",
                        state.topic
                    );
                    std::thread::sleep(Duration::from_secs(attempt));
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Whether a snapshot's offset lies in 0..=the partition's end. The changelog is
    /// weir's own, but not beyond reach: an offset before 0 would fail every start and one
    /// past the end would skip the partition's analytics for good. Such a snapshot is
    /// refused by name and the partition starts empty, as for a corrupt one.
    fn covers_a_real_offset(
        consumer: &BaseConsumer<Self>,
        snapshot: &weir_core::state::PartitionSnapshot,
    ) -> bool {
        let end = consumer
            .fetch_watermarks(&snapshot.topic, snapshot.partition, Duration::from_secs(10))
            .map(|(_, high)| high);
        match end {
            Ok(end) if valid_snapshot_offset(snapshot.offset, end) => true,
            Ok(end) => {
                tracing::error!(
                    "the state snapshot of {}/{} claims offset {}, outside 0..={end} (the partition's end): refused; \
                     the partition's state starts empty and is rebuilt from its first record",
                    snapshot.topic, snapshot.partition, snapshot.offset
                );
                false
            }
            // The broker cannot say now: trust the snapshot as before rather than rebuild.
            Err(_) => true,
        }
    }

    /// Sets where each assigned partition starts; the restores and replays that go with it.
    fn prepare(
        &self,
        state: &StateTopic,
        consumer: &BaseConsumer<Self>,
        tpl: &mut TopicPartitionList,
    ) -> anyhow::Result<Rebalanced> {
        let mut snapshots = changelog::read_latest(&state.client, &state.topic)?;
        let committed = consumer.committed_offsets(tpl.clone(), Duration::from_secs(10))?;
        let committed: HashMap<PartitionKey, i64> = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                _ => None,
            })
            .collect();
        let (mut restores, mut replay_until, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        for element in tpl.elements() {
            let key = (element.topic().to_string(), element.partition());
            let snapshot =
                snapshots.remove(&key).filter(|s| Self::covers_a_real_offset(consumer, s));
            let commit = committed.get(&key).copied();
            let start = start(snapshot.as_ref().map(|s| s.offset), commit);
            if let Some(start) = start {
                if let Some(commit) = commit {
                    replay_until.push((key.clone(), commit));
                    tracing::info!(topic = key.0, partition = key.1, "partition assigned: its state is brought up to date from {start:?} (replayed, not produced, up to the committed offset {commit})");
                }
                starts.push((key.clone(), start));
            }
            restores.push(Restore { key, snapshot });
        }
        for ((topic, partition), start) in starts {
            tpl.set_partition_offset(&topic, partition, start)?;
        }
        Ok(Rebalanced::Assigned { restores, replay_until })
    }
}

/// Where an assigned partition is read from, given the offset its snapshot covers and
/// its committed offset; `None`: from the committed offset, as usual. The state covers
/// the records before `covered` (none without a snapshot), so reading starts there when
/// the commit is further on.
fn start(covered: Option<i64>, commit: Option<i64>) -> Option<Offset> {
    match (covered, commit) {
        (Some(covered), Some(commit)) if covered >= commit => None,
        (Some(covered), _) => Some(Offset::Offset(covered)),
        (None, _) => Some(Offset::Beginning),
    }
}

/// A snapshot covers the records before its offset: anything from 0 to the partition's end.
fn valid_snapshot_offset(offset: i64, end: i64) -> bool {
    (0..=end).contains(&offset)
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(ops) = &self.ops {
            crate::statistics::consumer(ops, &statistics);
        }
    }
}

impl ConsumerContext for GroupContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        tracing::debug!(?err, partitions = ?tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect::<Vec<_>>(), "rebalance");
        let keys = || {
            tpl.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect::<Vec<_>>()
        };
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Some(state) = &self.state {
                    let event = self.prepare_retrying(state, consumer, tpl).unwrap_or_else(|e| {
                        Rebalanced::Failed(format!(
                            "cannot read the partition states from {}: {e:#}",
                            state.topic
                        ))
                    });
                    self.events.lock().unwrap().push(event);
                }
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if self.state.is_some() {
                    self.events.lock().unwrap().push(Rebalanced::Revoked(keys()));
                }
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!(
                    "consumer group rebalance: {:?}",
                    rdkafka::types::RDKafkaErrorCode::from(other)
                );
                consumer.unassign()
            }
        };
        match result {
            Err(e) => tracing::warn!("consumer group rebalance: {e}"),
            // Joined once partitions are assigned and their states read: ready to work.
            Ok(()) if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.assigned.store(true, std::sync::atomic::Ordering::Release);
                if let Some(ops) = &self.ops {
                    ops.health.group_joined(true);
                }
            }
            Ok(()) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_offsets_outside_the_partition_are_refused() {
        assert!(valid_snapshot_offset(0, 0));
        assert!(valid_snapshot_offset(500, 500));
        assert!(!valid_snapshot_offset(-1, 500));
        assert!(!valid_snapshot_offset(501, 500));
        assert!(!valid_snapshot_offset(i64::MAX, 500));
    }

    #[test]
    fn reading_starts_where_the_state_needs_it() {
        // The snapshot is behind the commit: replay from the snapshot.
        assert_eq!(start(Some(10), Some(50)), Some(Offset::Offset(10)));
        // It is ahead (outputs not yet acknowledged were folded): read from the commit;
        // records before the snapshot's offset are produced but not folded again.
        assert_eq!(start(Some(50), Some(10)), None);
        assert_eq!(start(Some(10), Some(10)), None);
        // No commit yet: from the snapshot.
        assert_eq!(start(Some(10), None), Some(Offset::Offset(10)));
        // No snapshot: the state is empty, so every record is needed.
        assert_eq!(start(None, Some(50)), Some(Offset::Beginning));
    }
}
