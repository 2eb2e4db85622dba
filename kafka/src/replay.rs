//! Records replayed into an aggregator's state but not produced again: after an
//! assignment, a partition's state is restored from its last snapshot and brought up to
//! date by reading from there, but the records before the committed offset were produced
//! (and acknowledged) before — their outputs are dropped, and their offsets, committed
//! already, are not stored again (that would move the commit back).

use super::consumed::Positions;
use super::produce::Outgoing;
use weir_core::state::PartitionKey;

#[derive(Debug, Default)]
pub struct Replay {
    /// Per partition, the committed offset: records before it are replayed only.
    until: Vec<(PartitionKey, i64)>,
}

impl Replay {
    /// Partitions assigned, each with its committed offset.
    pub fn assigned(&mut self, until: impl IntoIterator<Item = (PartitionKey, i64)>) {
        self.until.extend(until);
    }

    pub fn revoked(&mut self, keys: &[PartitionKey]) {
        self.until.retain(|(key, _)| !keys.contains(key));
    }

    /// Whether a record is only replayed into the state: its outputs were produced before.
    pub fn covers(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.until.iter().any(|((t, p), until)| *p == partition && offset < *until && t == topic)
    }

    /// Drops from a batch's outputs those of replayed records, and from its positions the
    /// offsets committed already.
    pub fn filter(&self, outgoing: &mut Vec<Outgoing>, positions: &mut Positions) {
        if self.until.is_empty() {
            return;
        }
        outgoing.retain(|record| {
            !record.origin.as_ref().is_some_and(|o| self.covers(&o.topic, o.partition, o.offset))
        });
        positions.0.retain(|(topic, partition, offset)| !self.covers(topic, *partition, *offset));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumed::positions;
    use crate::produce::Origin;
    use proptest::prelude::*;
    use weir_core::record::Record;

    fn message(partition: i32, offset: i64) -> Record {
        Record {
            key: None,
            value: Vec::new(),
            headers: Vec::new(),
            topic: "in".into(),
            partition,
            offset,
            timestamp: None,
        }
    }

    proptest! {
        /// A batch from two partitions, one of them assigned with a committed offset:
        /// exactly the outputs of its records before that offset are dropped, and no
        /// position at or below an offset committed already is stored.
        #[test]
        fn replayed_records_are_not_produced_and_commits_never_go_back(
            offsets in prop::collection::vec((0i32..2, 0i64..40), 1..30),
            committed in 0i64..40,
        ) {
            let mut replay = Replay::default();
            replay.assigned([(("in".to_string(), 0), committed)]);
            let batch: Vec<Record> = offsets.iter().map(|&(p, o)| message(p, o)).collect();
            let mut outgoing: Vec<Outgoing> =
                batch.iter().map(|m| Outgoing::new("out", None, Vec::new(), Vec::new()).from(Origin::of(m))).collect();
            let mut kept = positions(&batch);
            replay.filter(&mut outgoing, &mut kept);
            let expected: Vec<(i32, i64)> = offsets.iter().copied().filter(|&(p, o)| p == 1 || o >= committed).collect();
            let produced: Vec<(i32, i64)> = outgoing.iter().map(|r| r.origin.as_ref().map(|o| (o.partition, o.offset)).unwrap()).collect();
            prop_assert_eq!(produced, expected);
            for (_, partition, offset) in &kept.0 {
                prop_assert!(*partition == 1 || *offset >= committed, "offset {} stored below the commit {}", offset, committed);
            }
        }
    }

    #[test]
    fn a_revoked_partition_is_replayed_no_more() {
        let mut replay = Replay::default();
        replay.assigned([(("in".to_string(), 0), 10), (("in".to_string(), 1), 5)]);
        assert!(
            replay.covers("in", 0, 9)
                && !replay.covers("in", 0, 10)
                && !replay.covers("other", 0, 1)
        );
        replay.revoked(&[("in".to_string(), 0)]);
        assert!(!replay.covers("in", 0, 9) && replay.covers("in", 1, 4));
    }
}
