//! Batches produced and not yet acknowledged, oldest first. A batch's input offsets are
//! released for commit only when every record it produced — and every batch before it —
//! is acknowledged: a later batch acknowledged first waits its turn, so a committed offset
//! never passes an input whose outputs are not on the broker.

use super::produce::{Refused, Ticket};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub struct InFlight<T> {
    queue: VecDeque<(Arc<Ticket>, T)>,
}

/// What the oldest batch in flight has come to.
pub enum Front<T> {
    /// Nothing in flight, or the oldest batch still waits for acknowledgements.
    Waiting,
    /// The broker refused records of the oldest batch: they are to be parked, in that
    /// batch (it then waits for the pointers' acknowledgements).
    Refused(Arc<Ticket>, Vec<Refused>),
    /// The oldest batch is acknowledged and leaves the queue: its offsets, to store.
    Acknowledged(T),
}

impl<T> Default for InFlight<T> {
    fn default() -> Self {
        InFlight { queue: VecDeque::new() }
    }
}

impl<T> InFlight<T> {
    /// A batch whose outputs were handed to the producer with `ticket`.
    pub fn push(&mut self, ticket: Arc<Ticket>, offsets: T) {
        self.queue.push_back((ticket, offsets));
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Records produced and not yet acknowledged.
    pub fn outstanding(&self) -> usize {
        self.queue.iter().map(|(ticket, _)| ticket.outstanding.load(Ordering::Acquire)).sum()
    }

    /// The oldest batch's state. `Err`: a delivery failed that nothing can stand in for
    /// (the batch stays, so nothing past it is ever released).
    pub fn front(&mut self) -> Result<Front<T>, String> {
        let Some((ticket, _)) = self.queue.front() else { return Ok(Front::Waiting) };
        if !ticket.done() {
            return Ok(Front::Waiting);
        }
        if let Some(failure) = ticket.failure.lock().unwrap().clone() {
            return Err(failure);
        }
        let refused = std::mem::take(&mut *ticket.refused.lock().unwrap());
        if !refused.is_empty() {
            return Ok(Front::Refused(ticket.clone(), refused));
        }
        let (_, offsets) = self.queue.pop_front().expect("there is a front");
        Ok(Front::Acknowledged(offsets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Acknowledges one record of `ticket`, as the producer's delivery callback does.
    fn ack(ticket: &Ticket) {
        ticket.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    fn ticket(records: usize) -> Arc<Ticket> {
        let ticket = Arc::new(Ticket::default());
        ticket.expect(records);
        ticket
    }

    proptest! {
        /// Batches of 0–4 outputs, acknowledged one record at a time in a random order:
        /// offsets come out in batch order, each once, only after every output of that
        /// batch and of the batches before it is acknowledged.
        #[test]
        fn offsets_are_released_in_order_once_every_output_is_acknowledged(
            sizes in prop::collection::vec(0usize..5, 1..20),
            order in prop::collection::vec(any::<prop::sample::Index>(), 100),
        ) {
            let mut in_flight = InFlight::default();
            let tickets: Vec<Arc<Ticket>> = sizes.iter().map(|&n| ticket(n)).collect();
            for (batch, ticket) in tickets.iter().enumerate() {
                in_flight.push(ticket.clone(), batch);
            }
            let mut unacked: Vec<usize> = sizes.iter().enumerate().flat_map(|(batch, &n)| std::iter::repeat_n(batch, n)).collect();
            let mut released = Vec::new();
            let mut pick = order.iter().cycle();
            loop {
                while let Front::Acknowledged(batch) = in_flight.front().unwrap() {
                    // Every output of this batch and the ones before is acknowledged.
                    prop_assert!(unacked.iter().all(|&b| b > batch), "batch {} released with {:?} unacknowledged", batch, unacked);
                    released.push(batch);
                }
                if unacked.is_empty() {
                    break;
                }
                let batch = unacked.remove(pick.next().unwrap().index(unacked.len()));
                ack(&tickets[batch]);
            }
            prop_assert_eq!(released, (0..sizes.len()).collect::<Vec<_>>(), "each once, in order");
            prop_assert!(in_flight.is_empty());
        }
    }

    #[test]
    fn a_failure_holds_everything_behind_it() {
        let mut in_flight = InFlight::default();
        let (first, second) = (ticket(1), ticket(0));
        in_flight.push(first.clone(), "first");
        in_flight.push(second, "second");
        *first.failure.lock().unwrap() = Some("producing to out failed".into());
        ack(&first);
        assert_eq!(in_flight.front().err().as_deref(), Some("producing to out failed"));
        assert_eq!(
            in_flight.front().err().as_deref(),
            Some("producing to out failed"),
            "and stays"
        );
        assert_eq!(in_flight.len(), 2, "nothing released past it");
    }

    #[test]
    fn refused_records_are_handed_out_once_and_their_batch_waits_for_the_pointers() {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        let mut in_flight = InFlight::default();
        let batch = ticket(2);
        in_flight.push(batch.clone(), "batch");
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        batch.refused.lock().unwrap().push(Refused::new("out", None, b"huge", None, &too_large));
        ack(&batch);
        assert!(matches!(in_flight.front(), Ok(Front::Waiting)), "one output still unacknowledged");
        ack(&batch);
        let Ok(Front::Refused(ticket, refused)) = in_flight.front() else {
            panic!("the refused record is handed out")
        };
        assert_eq!(refused.len(), 1);
        ticket.expect(1); // its pointer, produced in the batch
        assert!(
            matches!(in_flight.front(), Ok(Front::Waiting)),
            "handed out once; the batch waits for the pointer"
        );
        ack(&ticket);
        assert!(matches!(in_flight.front(), Ok(Front::Acknowledged("batch"))));
    }
}
