//! The delivering half of a flow: each batch's results produced, batches in flight in
//! order, a batch's input offsets handed to the consuming half once every record it
//! produced is acknowledged, records the broker refuses parked as pointers, and changelog
//! checkpoints written only after the outputs before them.

use super::after_acks::AfterAcks;
use super::consumed::Positions;
use super::in_flight::{Front, InFlight};
use super::intake::Intake;
use super::park;
use super::produce::{try_produce, Acks, Outgoing, Refused, Ticket};
use rdkafka::producer::{Producer, ThreadedProducer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct Delivery {
    pub(crate) producer: ThreadedProducer<Acks>,
    /// Where pointers to records the broker refuses go; without one, a refusal stops.
    pub(crate) parked_topic: Option<String>,
    /// Batches produced, with the last offset of each per (topic, partition).
    inflight: InFlight<Vec<(String, i32, i64)>>,
    max_inflight: usize,
    /// Told while the flow waits for acknowledgements: alive, but the broker is away.
    health: Option<Arc<weir_core::ops::Health>>,
    /// Changelog checkpoints, each written once the outputs sent before it are acknowledged.
    checkpoints: AfterAcks<Outgoing>,
}

/// How long a wait for acknowledgements lasts before `/readyz` says the broker is away.
const BROKER_AWAY: Duration = Duration::from_secs(5);

impl Delivery {
    pub(crate) fn new(
        producer: ThreadedProducer<Acks>,
        health: Option<Arc<weir_core::ops::Health>>,
    ) -> Delivery {
        Delivery {
            producer,
            parked_topic: None,
            inflight: InFlight::default(),
            max_inflight: 64,
            health,
            checkpoints: AfterAcks::default(),
        }
    }

    /// Produces the results of a consumed batch (`positions` from [`positions`]); the
    /// batch's offsets are stored once all of them are acknowledged.
    /// Waiting for a slow or absent broker ends when `stop` is raised: what is not
    /// acknowledged then is not committed, and is read again on the next start.
    pub(crate) fn send(
        &mut self,
        intake: &mut Intake,
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
            self.store_finished_offsets(intake)?;
            intake.keep_alive()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        if let (Some(health), true) = (&self.health, said_away) {
            health.broker_up(true);
        }
        self.store_finished_offsets(intake)
    }

    /// Stores the offsets of every finished batch at the front of the queue.
    /// A permanent delivery failure stops the flow without storing past it.
    pub(crate) fn store_finished_offsets(&mut self, intake: &Intake) -> anyhow::Result<()> {
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
                        intake.store_offset(topic, *partition, *offset);
                    }
                }
            }
        }
    }

    /// A changelog record (`changelog::record`), written once every output sent before it
    /// is acknowledged: a snapshot never claims records whose results are not out.
    pub(crate) fn checkpoint(&mut self, record: Outgoing) {
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

    /// Waits until everything in flight is acknowledged (their offsets stored) and the
    /// last checkpoints are written, or `deadline` passes.
    pub(crate) fn drain(&mut self, intake: &Intake, deadline: Instant) -> anyhow::Result<()> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.producer.flush(timeout).ok();
        loop {
            self.store_finished_offsets(intake)?;
            if self.inflight.is_empty() {
                // The last checkpoints, now that everything before them is acknowledged.
                self.write_checkpoints();
                self.producer.flush(deadline.saturating_duration_since(Instant::now())).ok();
                return Ok(());
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
    }
}
