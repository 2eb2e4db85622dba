//! Where a bounded read of the input ends (`weir replay`): per partition, the first offset
//! not to process. Records at or past it are left unread (their batch does not hold them),
//! and once every partition has reached its end the input has ended.

use rdkafka::ClientConfig;
use std::collections::HashMap;
use std::time::Duration;
use weir_core::record::Record;
use weir_core::state::PartitionKey;

/// Every record of `topic` from `starts` to `ends` (per partition, the end exclusive;
/// `None`: to the end as the topic holds it now, `tail::read_to_end`'s), handed to `each`.
/// It joins no group and commits nothing: a look at the input that no consumer group sees
/// (`weir shadow`).
pub fn read(
    client: &ClientConfig,
    topic: &str,
    starts: &[(i32, i64)],
    ends: Option<&[(i32, i64)]>,
    timeout: Duration,
    mut each: impl FnMut(Record),
) -> anyhow::Result<()> {
    let ends: Option<HashMap<i32, i64>> = ends.map(|ends| ends.iter().copied().collect());
    let starts: HashMap<i32, i64> = starts.iter().copied().collect();
    crate::tail::read_to_end_from(client, topic, &starts, timeout, &|_| {}, |record| {
        let (partition, offset) =
            (rdkafka::Message::partition(record), rdkafka::Message::offset(record));
        let before_end = match &ends {
            Some(ends) => ends.get(&partition).is_some_and(|end| offset < *end),
            None => true,
        };
        if before_end {
            each(crate::consumed::owned(record));
        }
    })
}

#[derive(Debug, Default)]
pub struct RangeEnd {
    /// Partitions still short of their end, with the end.
    open: HashMap<PartitionKey, i64>,
}

impl RangeEnd {
    /// Ends per partition; a partition whose range is empty (`start >= end`) is left out.
    pub fn new(ends: impl IntoIterator<Item = (PartitionKey, i64, i64)>) -> RangeEnd {
        RangeEnd {
            open: ends
                .into_iter()
                .filter(|(_, start, end)| start < end)
                .map(|(key, _, end)| (key, end))
                .collect(),
        }
    }

    /// Whether to process the record: its partition is open and it is before the end.
    pub fn keeps(&self, m: &Record) -> bool {
        self.open.iter().any(|((t, p), end)| *p == m.partition && *t == m.topic && m.offset < *end)
    }

    /// A kept record was read: the last one before its partition's end closes it.
    pub fn read(&mut self, m: &Record) {
        self.open
            .retain(|(t, p), end| !(*p == m.partition && *t == m.topic && m.offset + 1 >= *end));
    }

    pub fn ended(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, offset: i64) -> Record {
        Record {
            key: None,
            value: vec![],
            headers: vec![],
            topic: "t".into(),
            partition,
            offset,
            timestamp: None,
        }
    }

    #[test]
    fn records_before_each_partitions_end_are_kept_and_then_the_range_has_ended() {
        let mut range = RangeEnd::new([(("t".into(), 0), 5, 7), (("t".into(), 1), 3, 3)]);
        assert!(!range.ended());
        assert!(range.keeps(&at(0, 5)) && range.keeps(&at(0, 6)));
        assert!(!range.keeps(&at(0, 7)), "past the end");
        assert!(!range.keeps(&at(1, 3)), "partition 1's range is empty");
        range.read(&at(0, 5));
        assert!(!range.ended());
        range.read(&at(0, 6));
        assert!(range.ended(), "offset 6 was the last before 7");
    }
}
