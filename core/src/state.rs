//! Aggregator state per input partition, as the I/O side and the plugin side exchange it.
//!
//! Each input partition has its own aggregator state. A snapshot of it says which input
//! offset it covers (every record before `offset` is in it), so a state restored from an
//! older snapshot is brought up to date by folding the records since, and records it
//! already covers are never folded twice — whatever was or was not produced or committed.

use std::collections::BTreeMap;

/// An input partition: (topic, partition). Records read from files are `("-", 0)`.
pub type PartitionKey = (String, i32);

/// One aggregator state: a partition's, or (windowed) one window's of a partition, by
/// the window's start in ms.
pub type Slot = (PartitionKey, Option<i64>);

/// One partition's state as the plugin's snapshot bytes, covering the records before `offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionSnapshot {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub state: Vec<u8>,
}

impl PartitionSnapshot {
    pub fn key(&self) -> PartitionKey {
        (self.topic.clone(), self.partition)
    }
}

/// A partition now ours, with its last snapshot (`None`: nothing saved, start empty).
#[derive(Debug, Clone)]
pub struct Restore {
    pub key: PartitionKey,
    pub snapshot: Option<PartitionSnapshot>,
}

/// A change of the partitions this instance holds, in order with the batches around it.
#[derive(Debug, Clone)]
pub enum StateChange {
    Assigned(Vec<Restore>),
    /// Their final snapshots are taken, then their states dropped.
    Revoked(Vec<PartitionKey>),
}

/// Which records of each input partition the aggregator holds: those before `next`. A
/// record at or past it is folded and moves `next` past it; one before it is in the
/// state already (in the snapshot it was restored from, or read again after a seek).
#[derive(Debug, Default, Clone)]
pub struct Coverage {
    partitions: BTreeMap<PartitionKey, Covered>,
    /// Partitions are added by `restored` only (Kafka with checkpoints: a record of a
    /// partition not ours any more is not folded); else on their first record.
    managed: bool,
}

#[derive(Debug, Clone)]
struct Covered {
    next: i64,
    /// Records were folded since the last checkpoint.
    dirty: bool,
}

impl Coverage {
    /// The partition's state was restored from a snapshot covering the records before
    /// `offset` (`None`: no snapshot, the state is empty).
    pub fn restored(&mut self, key: PartitionKey, offset: Option<i64>) {
        self.managed = true;
        self.partitions.insert(key, Covered { next: offset.unwrap_or(i64::MIN), dirty: false });
    }

    pub fn dropped(&mut self, key: &PartitionKey) {
        self.partitions.remove(key);
    }

    /// Whether the aggregator is to fold a record; if so, it is covered from now on.
    pub fn note(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        let covered =
            match self.partitions.iter_mut().find(|((t, p), _)| *p == partition && t == topic) {
                Some((_, covered)) => covered,
                None if self.managed => return false,
                None => self
                    .partitions
                    .entry((topic.to_string(), partition))
                    .or_insert(Covered { next: i64::MIN, dirty: false }),
            };
        if offset < covered.next {
            return false;
        }
        covered.next = offset.saturating_add(1);
        covered.dirty = true;
        true
    }

    /// The partitions `wanted` picks with records folded since the last call, and the
    /// offset their state covers now.
    pub fn take_dirty(
        &mut self,
        wanted: impl Fn(&PartitionKey) -> bool,
    ) -> Vec<(PartitionKey, i64)> {
        self.partitions
            .iter_mut()
            .filter(|(key, _)| wanted(key))
            .filter_map(|(key, c)| std::mem::take(&mut c.dirty).then(|| (key.clone(), c.next)))
            .collect()
    }

    /// The offset `key`'s state covers, if the partition is held.
    pub fn next(&self, key: &PartitionKey) -> Option<i64> {
        self.partitions.get(key).map(|c| c.next)
    }

    pub fn partitions(&self) -> impl Iterator<Item = &PartitionKey> {
        self.partitions.keys()
    }
}

/// Several (slot, bytes) pairs as one blob: an aggregator's states for a replacement
/// instance. Length-prefixed, little-endian; a window start of `i64::MIN` is none.
pub fn encode(states: &[(Slot, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend((states.len() as u32).to_le_bytes());
    for (((topic, partition), window), bytes) in states {
        out.extend((topic.len() as u32).to_le_bytes());
        out.extend(topic.as_bytes());
        out.extend(partition.to_le_bytes());
        out.extend(window.unwrap_or(i64::MIN).to_le_bytes());
        out.extend((bytes.len() as u32).to_le_bytes());
        out.extend(bytes);
    }
    out
}

pub fn decode(mut blob: &[u8]) -> Result<Vec<(Slot, Vec<u8>)>, String> {
    fn take<'a>(blob: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if blob.len() < n {
            return Err("saved states are cut short".into());
        }
        let (head, rest) = blob.split_at(n);
        *blob = rest;
        Ok(head)
    }
    let u32_at = |blob: &mut &[u8]| {
        take(blob, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    let count = u32_at(&mut blob)?;
    let mut states = Vec::new();
    for _ in 0..count {
        let len = u32_at(&mut blob)?;
        let topic = String::from_utf8(take(&mut blob, len)?.to_vec())
            .map_err(|_| "a saved topic name is not UTF-8")?;
        let partition = i32::from_le_bytes(take(&mut blob, 4)?.try_into().unwrap());
        let window = i64::from_le_bytes(take(&mut blob, 8)?.try_into().unwrap());
        let window = (window != i64::MIN).then_some(window);
        let len = u32_at(&mut blob)?;
        states.push((((topic, partition), window), take(&mut blob, len)?.to_vec()));
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_a_cut_blob_is_refused() {
        let states = vec![
            ((("user-login".to_string(), 2), None), b"abc".to_vec()),
            ((("-".to_string(), 0), Some(-60_000)), vec![]),
        ];
        let blob = encode(&states);
        assert_eq!(decode(&blob).unwrap(), states);
        assert_eq!(decode(&blob[..blob.len() - 1]).unwrap_err(), "saved states are cut short");
    }

    #[test]
    fn records_a_snapshot_covers_are_not_folded_again() {
        let mut coverage = Coverage::default();
        coverage.restored(("t".into(), 0), Some(10));
        assert!(!coverage.note("t", 0, 9), "in the snapshot already");
        assert!(coverage.note("t", 0, 10));
        assert!(!coverage.note("t", 0, 10), "read again after a seek: folded once");
        assert_eq!(coverage.take_dirty(|_| true), vec![(("t".into(), 0), 11)]);
        assert!(coverage.take_dirty(|_| true).is_empty(), "nothing new since");
        assert!(!coverage.note("t", 1, 0), "not ours: partitions come with restores only");
        coverage.restored(("t".into(), 1), None);
        assert!(coverage.note("t", 1, 0), "no snapshot: everything is folded");
        coverage.dropped(&("t".into(), 0));
        assert!(!coverage.note("t", 0, 11));
    }

    #[test]
    fn without_restores_every_partition_is_folded_from_its_first_record() {
        let mut coverage = Coverage::default();
        assert!(coverage.note("-", 0, 1));
        assert!(coverage.note("-", 0, 2));
        assert_eq!(coverage.next(&("-".into(), 0)), Some(3));
    }
}
