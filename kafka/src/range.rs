//! Where a bounded read of the input ends (`weir replay`): per partition, the first offset
//! not to process. Records at or past it are left unread (their batch does not hold them),
//! and once every partition has reached its end the input has ended.

use std::collections::HashMap;
use weir_core::record::Record;
use weir_core::state::PartitionKey;

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
