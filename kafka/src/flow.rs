//! At-least-once consume → process → produce.
//!
//! A `Flow` consumes a topic in a consumer group and produces each batch's results.
//! The offsets of a batch are stored for commit only once every record it produced
//! (processed or dead letter) is acknowledged by the broker, and only in batch order,
//! so a crash at any moment re-reads, never skips. Batches are pipelined: the next one
//! is processed while the previous ones are still in flight.

use super::after_acks::AfterAcks;
pub use super::consumed::{owned, positions, read, Polled, Positions, Unreadable};
use super::group::{GroupContext, Rebalanced, StateTopic};
use super::in_flight::{Front, InFlight};
use super::park;
use super::produce::{defaults, producer_with, try_produce};
pub use super::produce::{
    detached_ticket, produce, producer, wait_for, Acks, Origin, Outgoing, Refused, Ticket,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::TopicPartitionList;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::ops::Ops;

pub struct Flow {
    /// Closed within a deadline on drop (see `Drop for Flow`): rdkafka's own drop waits
    /// for the broker without end.
    consumer: ManuallyDrop<BaseConsumer<GroupContext>>,
    /// By when the consumer must have left the group; set by `finish` to its deadline.
    close_by: Option<Instant>,
    producer: ThreadedProducer<Acks>,
    /// Where pointers to records the broker refuses go; without one, a refusal stops.
    parked_topic: Option<String>,
    /// Batches produced, with the last offset of each per (topic, partition).
    inflight: InFlight<Vec<(String, i32, i64)>>,
    max_inflight: usize,
    /// Consecutive poll errors, for backoff while a broker is away.
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
    /// Told while the flow waits for acknowledgements: alive, but the broker is away.
    health: Option<Arc<weir_core::ops::Health>>,
    /// Changelog checkpoints, each written once the outputs sent before it are acknowledged.
    checkpoints: AfterAcks<Outgoing>,
}

/// How long a fetch may wait at the broker: librdkafka's and Kafka's own default.
/// Kafka and Redpanda answer as soon as records arrive, so it costs them nothing. tansu
/// waits it out, and answers with what it gathered within it: over a backlog of
/// one-record batches, the 2 ms weir once chose for latency read one record per fetch
/// (3 records/s where 500 ms reads ~90k/s; README, "Latency and catch-up"). The embedded
/// broker keeps its own short wait (`embedded::FETCH_WAIT_MS`).
pub const FETCH_WAIT_MS: &str = "500";

/// The consumer's fetch wait and where it comes from, as `weir check` says it.
pub fn fetch_wait(properties: &std::collections::BTreeMap<String, String>) -> String {
    match properties.get("fetch.wait.max.ms") {
        Some(ms) => format!("fetch.wait.max.ms = {ms} (from [kafka.properties])"),
        None => format!(
            "fetch.wait.max.ms = {FETCH_WAIT_MS} (the default: catches up over any backlog; a broker that waits a fetch out, \
             like tansu, adds up to that much latency — README, \"Latency and catch-up\")"
        ),
    }
}

/// How long a wait for acknowledgements lasts before `/readyz` says the broker is away.
const BROKER_AWAY: Duration = Duration::from_secs(5);

/// How long the consumer may go unpolled while the plugins are busy or hold a batch.
const KEEP_ALIVE: Duration = Duration::from_secs(1);

/// How long closing the consumer may take when no drain deadline is set (an error
/// path), and at least after a drain that used all of its time.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

impl Flow {
    /// Joins `group` on `topic`. Offsets are committed only as `settle` stores them.
    /// With `state`, assigned partitions resume where their checkpointed states allow.
    pub fn new(
        base: &ClientConfig,
        group: &str,
        topic: &str,
        state: Option<StateTopic>,
        ops: Option<&Ops>,
    ) -> anyhow::Result<Flow> {
        let mut config = base.clone();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        defaults(
            &mut config,
            &[
                ("auto.commit.interval.ms", "1000"),
                ("auto.offset.reset", "earliest"),
                ("fetch.wait.max.ms", FETCH_WAIT_MS),
                // A killed member is noticed in seconds, not the default 45 s, so a
                // restarted `weir run` rejoins quickly.
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "1000"),
            ],
        );
        // Also the rebalance timeout a join announces: how long a coordinator may hold the
        // group's next join waiting for a member that was killed (tansu waits it out).
        // weir polls at least every second however busy its plugins (`keep_alive`), so
        // 20 s instead of 300 s costs nothing; librdkafka wants it ≥ the session timeout.
        let session_ms: u64 =
            config.get("session.timeout.ms").and_then(|v| v.parse().ok()).unwrap_or(10_000);
        defaults(&mut config, &[("max.poll.interval.ms", &session_ms.max(20_000).to_string())]);
        if ops.is_some() {
            defaults(&mut config, &[("statistics.interval.ms", crate::statistics::INTERVAL_MS)]);
        }
        let consumer: BaseConsumer<GroupContext> =
            config.create_with_context(GroupContext::new(state, ops.cloned()))?;
        consumer.subscribe(&[topic])?;
        Ok(Flow {
            consumer: ManuallyDrop::new(consumer),
            close_by: None,
            producer: producer_with(base, ops.map(|ops| ops.metrics.clone()))?,
            parked_topic: None,
            inflight: InFlight::default(),
            max_inflight: 64,
            poll_errors: 0,
            last_poll: Instant::now(),
            paused: None,
            held: Polled::default(),
            after_rebalance: Polled::default(),
            health: ops.map(|ops| ops.health.clone()),
            checkpoints: AfterAcks::default(),
        })
    }

    /// Records the broker refuses for good are parked as pointers on `topic`.
    pub fn park_refused_to(mut self, topic: &str) -> Flow {
        self.parked_topic = Some(topic.to_string());
        self
    }

    pub fn producer(&self) -> &ThreadedProducer<Acks> {
        &self.producer
    }

    /// Up to `max` records: waits up to `wait` for the first, then takes what is ready.
    pub fn poll_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Polled> {
        if self.paused.take().is_some() {
            // What is assigned now: a rebalance while paused may have changed it.
            self.resume_assignment();
        }
        self.last_poll = Instant::now();
        let mut batch = std::mem::take(&mut self.held);
        let mut timeout = if batch.is_empty() { wait } else { Duration::ZERO };
        while batch.messages.len() + batch.unreadable.len() < max {
            match self.consumer.poll(timeout) {
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
                    self.poll_errors += 1;
                    if is_fatal(&error) {
                        anyhow::bail!("consumer failed: {error}");
                    }
                    // The broker may be restarting: librdkafka reconnects; wait with backoff.
                    let backoff = Duration::from_millis(100 * u64::from(self.poll_errors.min(20)));
                    tracing::warn!("consumer: {error}; retrying in {} ms", backoff.as_millis());
                    std::thread::sleep(backoff);
                    break;
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
    pub fn take_rebalanced(&mut self) -> Vec<Rebalanced> {
        let events = self.consumer.context().take_events();
        for event in &events {
            if let Rebalanced::Revoked(keys) = event {
                let ours = |m: &weir_core::bindings::types::Message| {
                    !keys.iter().any(|(t, p)| *p == m.partition && *t == m.topic)
                };
                self.held.messages.retain(|m| ours(m));
                self.held.unreadable.retain(|u| ours(&u.message));
            }
        }
        let after = std::mem::take(&mut self.after_rebalance);
        self.held.messages.extend(after.messages);
        self.held.unreadable.extend(after.unreadable);
        // librdkafka keeps a partition's application pause across its revoke and a new
        // assignment (it resets only its own pause flag, rdkafka_assignment.c): a partition
        // `keep_alive` paused, revoked and assigned again would never be fetched. Unless
        // the flow holds the assignment paused now (`poll_batch` resumes it then), what is
        // assigned is fetched.
        if self.paused.is_none() && events.iter().any(|e| matches!(e, Rebalanced::Assigned { .. }))
        {
            self.resume_assignment();
        }
        events
    }

    fn resume_assignment(&self) {
        let resumed =
            self.consumer.assignment().and_then(|assignment| self.consumer.resume(&assignment));
        if let Err(e) = resumed {
            tracing::debug!("resuming consumption: {e}");
        }
    }

    /// Produces the results of a consumed batch (`positions` from [`positions`]); the
    /// batch's offsets are stored once all of them are acknowledged.
    /// Waiting for a slow or absent broker ends when `stop` is raised: what is not
    /// acknowledged then is not committed, and is read again on the next start.
    pub fn send(
        &mut self,
        positions: Positions,
        outgoing: Vec<Outgoing>,
        stop: &AtomicBool,
    ) -> anyhow::Result<()> {
        let ticket = Arc::new(Ticket::default());
        ticket.outstanding.store(outgoing.len(), Ordering::Release);
        for record in &outgoing {
            if let Err(error) = try_produce(&self.producer, record, ticket.clone(), false) {
                if !super::produce::refuses_the_record(&error) {
                    anyhow::bail!("cannot produce to {}: {error}; offsets from this batch on are not committed and will be re-read", record.topic);
                }
                // librdkafka refuses some records before sending them (too large, say).
                let refused = Refused::new(
                    &record.topic,
                    record.key.as_deref(),
                    &record.value,
                    record.origin.clone(),
                    &error,
                );
                self.park(&ticket, refused)?;
            }
        }
        self.inflight.push(ticket, positions.0);
        self.checkpoints.batch_sent();
        let (waiting_since, mut said_away) = (Instant::now(), false);
        while self.inflight.len() > self.max_inflight {
            // Waiting for a broker is not being stuck: `/healthz` stays live (a restart
            // would not bring the broker back), `/readyz` says the broker is away.
            if let Some(health) = &self.health {
                health.io_turned();
                if !said_away && waiting_since.elapsed() > BROKER_AWAY {
                    health.broker_up(false);
                    said_away = true;
                }
            }
            if stop.load(Ordering::Relaxed) {
                anyhow::bail!(
                    "stopped while {} batches waited for the broker's acknowledgements; \
                     their offsets are not committed and they will be read again",
                    self.inflight.len()
                );
            }
            self.store_finished_offsets()?;
            self.keep_alive()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        if let (Some(health), true) = (&self.health, said_away) {
            health.broker_up(true);
        }
        self.store_finished_offsets()
    }

    /// Call while not polling for batches (the plugins busy, or a breaker holding one):
    /// pauses the assignment and polls now and then, so the group membership, heartbeats
    /// and rebalance callbacks go on and no record is fetched meanwhile.
    pub fn keep_alive(&mut self) -> anyhow::Result<()> {
        if self.last_poll.elapsed() < KEEP_ALIVE {
            return Ok(());
        }
        if self.paused.is_none() {
            let assignment = self.consumer.assignment()?;
            self.consumer.pause(&assignment)?;
            self.paused = Some(assignment);
        }
        self.last_poll = Instant::now();
        match self.consumer.poll(Duration::ZERO) {
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

    /// Stores the offsets of every finished batch at the front of the queue.
    /// A permanent delivery failure stops the flow without storing past it.
    pub fn store_finished_offsets(&mut self) -> anyhow::Result<()> {
        loop {
            let front = self.inflight.front().map_err(|failure| {
                anyhow::anyhow!(
                    "{failure}; offsets from this batch on are not committed and will be re-read"
                )
            })?;
            match front {
                Front::Waiting => {
                    self.write_checkpoints();
                    return Ok(());
                }
                // The batch now waits for its pointers.
                Front::Refused(ticket, refused) => {
                    for refused in refused {
                        self.park(&ticket, refused)?;
                    }
                }
                Front::Acknowledged(offsets) => {
                    self.checkpoints.batch_acked();
                    for (topic, partition, offset) in &offsets {
                        // Fails only if the partition was revoked meanwhile: its new owner re-reads.
                        if let Err(e) = self.consumer.store_offset(topic, *partition, *offset) {
                            tracing::debug!(topic, partition, offset, "offset not stored: {e}");
                        }
                    }
                }
            }
        }
    }

    /// A changelog record (`changelog::record`), written once every output sent before it
    /// is acknowledged: a snapshot never claims records whose results are not out.
    pub fn checkpoint(&mut self, record: Outgoing) {
        self.checkpoints.push(record);
        self.write_checkpoints();
    }

    fn write_checkpoints(&mut self) {
        for record in self.checkpoints.ready() {
            if let Err(e) =
                super::produce::produce(&self.producer, &record, super::produce::detached_ticket(1))
            {
                let key = record.key.as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                tracing::error!(
                    "the state of {key} ({} bytes) was not checkpointed: {e:#}. A snapshot is one record: \
                     raise `message.max.bytes` in [kafka.properties] (and the topic's max.message.bytes) \
                     or bound the aggregator's state",
                    record.value.len()
                );
            }
        }
    }

    /// Produces a pointer for a refused record, in its batch; stops when there is no
    /// parked topic or even the pointer cannot be produced.
    fn park(&self, ticket: &Arc<Ticket>, refused: Refused) -> anyhow::Result<()> {
        let Some(parked_topic) = &self.parked_topic else {
            anyhow::bail!(
                "{}; offsets from this batch on are not committed and will be re-read",
                refused.describe()
            );
        };
        tracing::warn!("parking a pointer to {}", refused.describe());
        ticket.expect(1);
        try_produce(&self.producer, &park::pointer(&refused, parked_topic), ticket.clone(), true).map_err(|error| {
            anyhow::anyhow!(
                "cannot park a pointer to {} ({error}); offsets from this batch on are not committed",
                refused.describe()
            )
        })
    }

    /// Waits for everything in flight, then commits. Records not acknowledged within
    /// `timeout` keep their offsets uncommitted: they are re-read on the next start.
    /// Leaving the group (on drop) is bounded by the same deadline, or `CLOSE_TIMEOUT`.
    pub fn finish(mut self, timeout: Duration) -> anyhow::Result<()> {
        // A paused consumer does not close cleanly: resume before committing and leaving.
        if let Some(paused) = self.paused.take() {
            self.consumer.resume(&paused).ok();
        }
        let deadline = Instant::now() + timeout;
        self.close_by = Some(deadline.max(Instant::now() + CLOSE_TIMEOUT));
        self.producer.flush(timeout).ok();
        loop {
            self.store_finished_offsets()?;
            if self.inflight.is_empty() {
                // The last checkpoints, now that everything before them is acknowledged.
                self.write_checkpoints();
                self.producer.flush(deadline.saturating_duration_since(Instant::now())).ok();
                break;
            }
            if Instant::now() > deadline {
                let pending = self.inflight.outstanding();
                // What is safe is committed as the consumer closes (auto commit).
                anyhow::bail!(
                    "{pending} records were not acknowledged by the broker within {} s; \
                     their input offsets are not committed and will be re-read on restart",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // Asynchronous: a broker that is gone cannot hold the stop. Closing the consumer
        // (on drop) waits, within the deadline, for this commit and leaves the group.
        match self.consumer.commit_consumer_state(CommitMode::Async) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(anyhow::anyhow!(
                "final offset commit failed ({e}); some records will be re-read on restart"
            )),
        }
    }
}

impl Drop for Flow {
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
            weir_core::say!(
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
