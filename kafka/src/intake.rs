//! The consuming half of a flow: a consumer in a group, polled for batches, paused while
//! the plugins hold records (its membership kept alive meanwhile), its offsets stored as the
//! delivering half finds their batches acknowledged, and closed within a deadline.

use super::consumed::{read, Polled};
use super::group::{GroupContext, Rebalanced, StateTopic};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::TopicPartitionList;
use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};
use weir_core::ops::Ops;

pub(crate) struct Intake {
    /// Closed within a deadline on drop (see `Drop for Intake`): rdkafka's own drop waits
    /// for the broker without end.
    consumer: ManuallyDrop<BaseConsumer<GroupContext>>,
    /// By when the consumer must have left the group; set by `close_by`.
    close_by: Option<Instant>,
    /// Consecutive poll errors: the first of a run is said, then every 100th.
    poll_errors: u32,
    /// When the consumer was last polled: librdkafka leaves the group after
    /// `max.poll.interval.ms` without a poll.
    last_poll: Instant,
    /// The assignment paused while the plugins hold batches (see `keep_alive`).
    paused: Option<TopicPartitionList>,
    /// Records a keep-alive poll returned anyway, for the next batch.
    held: Polled,
    /// Records returned by the poll that delivered a rebalance: they belong to the new
    /// assignment, so they wait until the flow has acted on it (`take_rebalanced`).
    after_rebalance: Polled,
}

/// How long the consumer may go unpolled while the plugins are busy or hold a batch.
const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// How long closing the consumer may take when no drain deadline is set (an error
/// path), and at least after a drain that used all of its time.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl Intake {
    /// Subscribes to `topic` with `config` (the group's settings already in it).
    pub(crate) fn new(
        config: &ClientConfig,
        topic: &str,
        state: Option<StateTopic>,
        ops: Option<&Ops>,
    ) -> anyhow::Result<Intake> {
        let consumer: BaseConsumer<GroupContext> =
            config.create_with_context(GroupContext::new(state, ops.cloned()))?;
        consumer.subscribe(&[topic])?;
        Ok(Intake {
            consumer: ManuallyDrop::new(consumer),
            close_by: None,
            poll_errors: 0,
            last_poll: Instant::now(),
            paused: None,
            held: Polled::default(),
            after_rebalance: Polled::default(),
        })
    }

    /// Up to `max` records: waits up to `wait` for the first, then takes what is ready.
    pub(crate) fn poll_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Polled> {
        if self.paused.take().is_some() {
            // What is assigned now: a rebalance while paused may have changed it.
            self.resume_assignment();
        }
        self.last_poll = Instant::now();
        let mut batch = std::mem::take(&mut self.held);
        let deadline = Instant::now() + wait;
        let mut timeout = if batch.is_empty() { wait } else { Duration::ZERO };
        while batch.messages.len() + batch.unreadable.len() < max {
            let polled = self.consumer.poll(timeout);
            self.resume_if_assigned();
            match polled {
                None => break,
                Some(Ok(record)) => {
                    self.poll_errors = 0;
                    // A record after a rebalance waits until the flow has acted on it.
                    let next = if self.consumer.context().has_events() {
                        &mut self.after_rebalance
                    } else {
                        &mut batch
                    };
                    match read(&record) {
                        Ok(message) => next.messages.push(message),
                        Err(unreadable) => next.unreadable.push(*unreadable),
                    }
                }
                Some(Err(error)) => {
                    if is_fatal(&error) {
                        anyhow::bail!("consumer failed: {error}");
                    }
                    // librdkafka reconnects on its own and queues an error event for each
                    // try that fails, so an outage leaves a queue of them. A wait after each
                    // (weir's old backoff, up to 2 s) replayed that queue for minutes after
                    // the broker was back, the backlog unread (#39). Said, not waited on:
                    // the poll's own timeout, within the caller's wait, paces this loop.
                    self.poll_errors += 1;
                    if self.poll_errors == 1 || self.poll_errors.is_multiple_of(100) {
                        tracing::warn!("consumer: {error} ({} in a row)", self.poll_errors);
                    }
                    if self.consumer.context().has_events() || !batch.is_empty() {
                        break;
                    }
                    timeout = deadline.saturating_duration_since(Instant::now());
                    continue;
                }
            }
            if self.consumer.context().has_events() {
                break;
            }
            timeout = Duration::ZERO;
        }
        Ok(batch)
    }

    /// What rebalances happened since the last call, in order. Records held back from
    /// revoked partitions are dropped: their new owner reads them.
    pub(crate) fn take_rebalanced(&mut self) -> Vec<Rebalanced> {
        let events = self.consumer.context().take_events();
        for event in &events {
            if let Rebalanced::Revoked(keys) = event {
                let ours = |m: &weir_core::record::Record| {
                    !keys.iter().any(|(t, p)| *p == m.partition && *t == m.topic)
                };
                self.held.messages.retain(|m| ours(m));
                self.held.unreadable.retain(|u| ours(&u.message));
            }
        }
        let after = std::mem::take(&mut self.after_rebalance);
        self.held.messages.extend(after.messages);
        self.held.unreadable.extend(after.unreadable);
        events
    }

    /// librdkafka keeps a partition's application pause across its revoke and a new
    /// assignment (it resets only its own pause flag, rdkafka_assignment.c). A partition
    /// `keep_alive` paused, lost while the broker was away (the session timed out), and
    /// assigned again after `poll_batch` resumed what was assigned then (nothing) would
    /// never be fetched: a stateless `weir run` stalled so after an outage (#39). So what is
    /// assigned is fetched, unless the flow holds the assignment paused now (`poll_batch`
    /// resumes it then).
    fn resume_if_assigned(&self) {
        if self.consumer.context().take_assigned() && self.paused.is_none() {
            self.resume_assignment();
        }
    }

    fn resume_assignment(&self) {
        let resumed =
            self.consumer.assignment().and_then(|assignment| self.consumer.resume(&assignment));
        if let Err(e) = resumed {
            tracing::debug!("resuming consumption: {e}");
        }
    }

    /// Call while not polling for batches (the plugins busy, or a breaker holding one):
    /// pauses the assignment and polls now and then, so the group membership, heartbeats
    /// and rebalance callbacks go on and no record is fetched meanwhile.
    pub(crate) fn keep_alive(&mut self) -> anyhow::Result<()> {
        if self.last_poll.elapsed() < KEEP_ALIVE {
            return Ok(());
        }
        if self.paused.is_none() {
            let assignment = self.consumer.assignment()?;
            self.consumer.pause(&assignment)?;
            self.paused = Some(assignment);
        }
        self.last_poll = Instant::now();
        let polled = self.consumer.poll(Duration::ZERO);
        self.resume_if_assigned();
        match polled {
            // Fetched before the pause (or, after a rebalance, for the new assignment):
            // kept for the next batch, in order.
            Some(Ok(record)) => {
                let keep = if self.consumer.context().has_events() {
                    &mut self.after_rebalance
                } else {
                    &mut self.held
                };
                match read(&record) {
                    Ok(message) => keep.messages.push(message),
                    Err(unreadable) => keep.unreadable.push(*unreadable),
                }
            }
            Some(Err(error)) => tracing::warn!("consumer: {error}"),
            None => {}
        }
        Ok(())
    }

    /// Stores `offset` for the next commit. Fails only if the partition was revoked
    /// meanwhile: its new owner re-reads.
    pub(crate) fn store_offset(&self, topic: &str, partition: i32, offset: i64) {
        if let Err(e) = self.consumer.store_offset(topic, partition, offset) {
            tracing::debug!(topic, partition, offset, "offset not stored: {e}");
        }
    }

    /// Resumes what `keep_alive` paused (a paused consumer does not close cleanly), and
    /// leaves the group on drop by `deadline`, or within `CLOSE_TIMEOUT`.
    pub(crate) fn close_by(&mut self, deadline: Instant) {
        if let Some(paused) = self.paused.take() {
            self.consumer.resume(&paused).ok();
        }
        self.close_by = Some(deadline.max(Instant::now() + CLOSE_TIMEOUT));
    }

    /// Commits what is stored. Asynchronous: a broker that is gone cannot hold the stop;
    /// closing the consumer (on drop) waits, within the deadline, for this commit.
    pub(crate) fn commit(&self) -> anyhow::Result<()> {
        match self.consumer.commit_consumer_state(CommitMode::Async) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(anyhow::anyhow!(
                "final offset commit failed ({e}); some records will be re-read on restart"
            )),
        }
    }
}

impl Drop for Intake {
    /// Leaves the group within the deadline. rdkafka's own close (its drop) waits for the
    /// broker without end, so it runs on a thread of its own: when the broker does not
    /// answer in time, weir goes on (to exit) without it. The group then sees the member
    /// leave when its session times out, and offsets stored since the last automatic
    /// commit (about a second's worth) are read again on the next start.
    fn drop(&mut self) {
        let deadline = self.close_by.unwrap_or_else(|| Instant::now() + CLOSE_TIMEOUT);
        // SAFETY: taken once, here; the field is never used again.
        let consumer = unsafe { ManuallyDrop::take(&mut self.consumer) };
        let (closed, done) = std::sync::mpsc::channel();
        let closing =
            std::thread::Builder::new().name("weir-consumer-close".into()).spawn(move || {
                drop(consumer);
                let _ = closed.send(());
            });
        let left = deadline.saturating_duration_since(Instant::now());
        if closing.is_err() || done.recv_timeout(left).is_err() {
            tracing::warn!(
                "weir: the broker did not answer while leaving the consumer group; offsets stored since the \
                 last commit (about a second's worth) are not committed and will be read again on restart"
            );
        }
    }
}

fn is_fatal(error: &KafkaError) -> bool {
    matches!(
        error,
        KafkaError::MessageConsumptionFatal(_)
            | KafkaError::Subscription(_)
            | KafkaError::ClientCreation(_)
            | KafkaError::Global(RDKafkaErrorCode::Fatal)
    )
}
