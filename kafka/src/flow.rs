//! At-least-once consume → process → produce.
//!
//! A `Flow` consumes a topic in a consumer group and produces each batch's results.
//! The offsets of a batch are stored for commit only once every record it produced
//! (processed or dead letter) is acknowledged by the broker, and only in batch order,
//! so a crash at any moment re-reads, never skips. Batches are pipelined: the next one
//! is processed while the previous ones are still in flight. Its two halves: `intake`
//! (the consumer) and `delivery` (the producer and what is in flight).

pub use super::consumed::{owned, positions, read, Polled, Positions, Unreadable};
use super::delivery::Delivery;
use super::group::{Rebalanced, StateTopic};
use super::intake::Intake;
use super::produce::{defaults, producer_with};
pub use super::produce::{
    detached_ticket, produce, producer, wait_for, Acks, Origin, Outgoing, Refused, Ticket,
};
use rdkafka::config::ClientConfig;
use rdkafka::producer::ThreadedProducer;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use weir_core::ops::Ops;

/// Declared in drop order: the consumer leaves its group (within its deadline) before the
/// producer goes.
pub struct Flow {
    intake: Intake,
    delivery: Delivery,
}

/// How long a fetch may wait at the broker: librdkafka's and Kafka's own default.
/// Kafka and Redpanda answer as soon as records arrive, so it costs them nothing. tansu
/// waits it out, and answers with what it gathered within it: over a backlog of
/// one-record batches, the 2 ms weir once chose for latency read one record per fetch
/// (3 records/s where 500 ms reads ~90k/s; docs/guarantees.md, "Latency and catch-up"). The embedded
/// broker keeps its own short wait (`embedded::FETCH_WAIT_MS`).
pub const FETCH_WAIT_MS: &str = "500";

/// The consumer's fetch wait and where it comes from, as `weir check` says it.
pub fn fetch_wait(properties: &std::collections::BTreeMap<String, String>) -> String {
    match properties.get("fetch.wait.max.ms") {
        Some(ms) => format!("fetch.wait.max.ms = {ms} (from [kafka.properties])"),
        None => format!(
            "fetch.wait.max.ms = {FETCH_WAIT_MS} (the default: catches up over any backlog; a broker that waits a fetch out, \
             like tansu, adds up to that much latency — docs/guarantees.md, \"Latency and catch-up\")"
        ),
    }
}

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
        Ok(Flow {
            intake: Intake::new(&config, topic, state, ops)?,
            delivery: Delivery::new(
                producer_with(base, ops.map(|ops| ops.metrics.clone()))?,
                ops.map(|ops| ops.health.clone()),
            ),
        })
    }

    /// Records the broker refuses for good are parked as pointers on `topic`.
    pub fn park_refused_to(mut self, topic: &str) -> Flow {
        self.delivery.parked_topic = Some(topic.to_string());
        self
    }

    pub fn producer(&self) -> &ThreadedProducer<Acks> {
        &self.delivery.producer
    }

    /// Up to `max` records: waits up to `wait` for the first, then takes what is ready.
    pub fn poll_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Polled> {
        self.intake.poll_batch(max, wait)
    }

    /// What rebalances happened since the last call, in order. Records held back from
    /// revoked partitions are dropped: their new owner reads them.
    pub fn take_rebalanced(&mut self) -> Vec<Rebalanced> {
        self.intake.take_rebalanced()
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
        self.delivery.send(&mut self.intake, positions, outgoing, stop)
    }

    /// Call while not polling for batches (the plugins busy, or a breaker holding one):
    /// the group membership goes on and no record is fetched meanwhile.
    pub fn keep_alive(&mut self) -> anyhow::Result<()> {
        self.intake.keep_alive()
    }

    /// Stores the offsets of every finished batch at the front of the queue.
    /// A permanent delivery failure stops the flow without storing past it.
    pub fn store_finished_offsets(&mut self) -> anyhow::Result<()> {
        self.delivery.store_finished_offsets(&self.intake)
    }

    /// A changelog record (`changelog::record`), written once every output sent before it
    /// is acknowledged: a snapshot never claims records whose results are not out.
    pub fn checkpoint(&mut self, record: Outgoing) {
        self.delivery.checkpoint(record);
    }

    /// Waits for everything in flight, then commits. Records not acknowledged within
    /// `timeout` keep their offsets uncommitted: they are re-read on the next start.
    /// Leaving the group (on drop) is bounded by the same deadline, or a few seconds.
    pub fn finish(mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        self.intake.close_by(deadline);
        self.delivery.drain(&self.intake, deadline)?;
        self.intake.commit()
    }
}
