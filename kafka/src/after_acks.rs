//! Records that must not reach the broker before the outputs sent ahead of them are
//! acknowledged: changelog checkpoints. A snapshot covering an input offset says the
//! records before it were folded — and, for a windowed aggregator, that the results of
//! the windows they closed are out. Written before those results are acknowledged, a
//! crash would restore a state without the windows and never emit them again.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct AfterAcks<T> {
    /// Batches handed to the producer, and acknowledged whole, since the start.
    sent: u64,
    acked: u64,
    /// Each waiting record with the number of batches sent before it.
    waiting: VecDeque<(u64, T)>,
}

impl<T> Default for AfterAcks<T> {
    fn default() -> Self {
        AfterAcks { sent: 0, acked: 0, waiting: VecDeque::new() }
    }
}

impl<T> AfterAcks<T> {
    /// A batch's outputs were handed to the producer.
    pub fn batch_sent(&mut self) {
        self.sent += 1;
    }

    /// The oldest batch in flight is acknowledged (batches are acknowledged in order).
    pub fn batch_acked(&mut self) {
        self.acked += 1;
    }

    /// A record to write once every batch sent so far is acknowledged.
    pub fn push(&mut self, record: T) {
        self.waiting.push_back((self.sent, record));
    }

    /// The records whose batches ahead are all acknowledged, in order.
    pub fn ready(&mut self) -> Vec<T> {
        let mut ready = Vec::new();
        while self.waiting.front().is_some_and(|(after, _)| *after <= self.acked) {
            ready.push(self.waiting.pop_front().expect("there is a front").1);
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_waits_for_every_batch_sent_before_it_and_no_later_one() {
        let mut after = AfterAcks::default();
        after.push("first");
        assert_eq!(after.ready(), ["first"], "nothing was in flight");
        after.batch_sent();
        after.batch_sent();
        after.push("second");
        after.batch_sent();
        after.batch_acked();
        assert!(after.ready().is_empty(), "one of the two batches before it is still in flight");
        after.batch_acked();
        assert_eq!(after.ready(), ["second"], "the batch sent after it does not hold it");
        assert!(after.waiting.is_empty());
    }
}
