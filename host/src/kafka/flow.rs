//! At-least-once consume → process → produce.
//!
//! A `Flow` consumes a topic in a consumer group and produces each batch's results.
//! The offsets of a batch are stored for commit only once every record it produced
//! (processed or dead letter) is acknowledged by the broker, and only in batch order,
//! so a crash at any moment re-reads, never skips. Batches are pipelined: the next one
//! is processed while the previous ones are still in flight.

use super::park::Refused;
use crate::bindings::types::{Header, Message};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::TopicPartitionList;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers, Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A record to produce.
#[derive(Clone)]
pub struct Outgoing {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<Header>,
    /// Headers exactly as consumed (raw keys), for a record the contract cannot carry;
    /// `headers` follow them.
    pub raw_headers: Option<OwnedHeaders>,
    /// The consumed record this one comes from, for a pointer if the broker refuses it.
    pub origin: Option<Origin>,
}

/// Where a consumed record was read.
#[derive(Debug, Clone)]
pub struct Origin {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Outgoing {
    pub fn new(topic: &str, key: Option<Vec<u8>>, value: Vec<u8>, headers: Vec<Header>) -> Outgoing {
        Outgoing { topic: topic.to_string(), key, value, headers, raw_headers: None, origin: None }
    }

    /// Made from the consumed record at `origin`.
    pub fn from(self, origin: Origin) -> Outgoing {
        Outgoing { origin: Some(origin), ..self }
    }
}

impl Origin {
    pub fn of(message: &Message) -> Origin {
        Origin { topic: message.topic.clone(), partition: message.partition, offset: message.offset }
    }
}

/// A consumed record the contract cannot carry: a header key that is not UTF-8 (a WIT
/// `string`). It goes to the dead letters (or is parked) as it came, never to a plugin.
pub struct Unreadable {
    /// Where it came from, its key and value; headers left out (see `raw_headers`).
    pub message: Message,
    pub raw_headers: OwnedHeaders,
    pub reason: String,
}

/// What one poll brought: records for the plugins, and records they cannot be given.
#[derive(Default)]
pub struct Polled {
    pub messages: Vec<Message>,
    pub unreadable: Vec<Unreadable>,
}

impl Polled {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.unreadable.is_empty()
    }

    /// The last offset read in each partition, unreadable records included.
    pub fn positions(&self) -> Positions {
        positions(self.messages.iter().chain(self.unreadable.iter().map(|u| &u.message)))
    }
}

/// Acknowledgements outstanding for one batch, the records the broker refused, and the
/// first failure that nothing can stand in for.
#[derive(Default)]
pub struct Ticket {
    outstanding: AtomicUsize,
    refused: Mutex<Vec<Refused>>,
    failure: Mutex<Option<String>>,
}

impl Ticket {
    /// Expect `n` more acknowledgements (call before producing them).
    pub fn expect(&self, n: usize) {
        self.outstanding.fetch_add(n, Ordering::AcqRel);
    }

    fn done(&self) -> bool {
        self.outstanding.load(Ordering::Acquire) == 0
    }
}

/// What travels with a produced record to its acknowledgement.
pub struct Delivery {
    ticket: Arc<Ticket>,
    origin: Option<Origin>,
    /// A pointer to a refused record: if this is refused too, nothing can stand in.
    pointer: bool,
}

/// Counts acknowledgements as librdkafka reports them.
pub struct Acks;

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        // librdkafka retries without a timeout: an error here is permanent for the record.
        if let Err((error, message)) = result {
            let value = message.payload().unwrap_or_default();
            let refused = Refused::new(message.topic(), message.key(), value, delivery.origin.clone(), error);
            if delivery.pointer {
                let mut failure = delivery.ticket.failure.lock().unwrap();
                failure.get_or_insert_with(|| format!("not even a pointer to it could be parked: {}", refused.describe()));
            } else {
                delivery.ticket.refused.lock().unwrap().push(refused);
            }
        }
        delivery.ticket.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A producer whose records are retried by librdkafka until delivered (no timeout):
/// a broker that goes away is waited for, not given up on.
pub fn producer(base: &ClientConfig) -> anyhow::Result<ThreadedProducer<Acks>> {
    let mut config = base.clone();
    config.set("enable.idempotence", "true").set("message.timeout.ms", "0");
    defaults(&mut config, &[("linger.ms", "5"), ("compression.type", "lz4"), ("queue.buffering.max.messages", "1000000")]);
    Ok(config.create_with_context(Acks)?)
}

struct Unacked {
    ticket: Arc<Ticket>,
    /// Last offset of the batch per (topic, partition).
    offsets: Vec<(String, i32, i64)>,
}

pub struct Flow {
    consumer: BaseConsumer,
    producer: ThreadedProducer<Acks>,
    /// Where pointers to records the broker refuses go; without one, a refusal stops.
    parked_topic: Option<String>,
    inflight: VecDeque<Unacked>,
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
}

/// How long the consumer may go unpolled while the plugins are busy or hold a batch.
const KEEP_ALIVE: Duration = Duration::from_secs(1);

impl Flow {
    /// Joins `group` on `topic`. Offsets are committed only as `settle` stores them.
    pub fn new(base: &ClientConfig, group: &str, topic: &str) -> anyhow::Result<Flow> {
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
                // Low latency: a fetch returns after 10 ms even when there is little data.
                ("fetch.wait.max.ms", "10"),
                // A killed member is noticed in seconds, not the default 45 s, so a
                // restarted `weir run` rejoins quickly.
                ("session.timeout.ms", "10000"),
                ("heartbeat.interval.ms", "1000"),
            ],
        );
        let consumer: BaseConsumer = config.create()?;
        consumer.subscribe(&[topic])?;
        Ok(Flow { consumer, producer: producer(base)?, parked_topic: None, inflight: VecDeque::new(), max_inflight: 64, poll_errors: 0, last_poll: Instant::now(), paused: None, held: Polled::default() })
    }

    /// Records the broker refuses for good are parked as pointers on `topic`.
    pub fn park_refused_to(self, topic: &str) -> Flow {
        Flow { parked_topic: Some(topic.to_string()), ..self }
    }

    pub fn producer(&self) -> &ThreadedProducer<Acks> {
        &self.producer
    }

    /// Up to `max` records: waits up to `wait` for the first, then takes what is ready.
    pub fn poll_batch(&mut self, max: usize, wait: Duration) -> anyhow::Result<Polled> {
        if let Some(paused) = self.paused.take() {
            // Fails only for partitions revoked meanwhile, which are no longer ours.
            if let Err(e) = self.consumer.resume(&paused) {
                tracing::debug!("resuming consumption: {e}");
            }
        }
        self.last_poll = Instant::now();
        let mut batch = std::mem::take(&mut self.held);
        let mut timeout = if batch.is_empty() { wait } else { Duration::ZERO };
        while batch.messages.len() + batch.unreadable.len() < max {
            match self.consumer.poll(timeout) {
                None => break,
                Some(Ok(record)) => {
                    self.poll_errors = 0;
                    match read(&record) {
                        Ok(message) => batch.messages.push(message),
                        Err(unreadable) => batch.unreadable.push(unreadable),
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
            timeout = Duration::ZERO;
        }
        Ok(batch)
    }

    /// Produces the results of a consumed batch (`positions` from [`positions`]); the
    /// batch's offsets are stored once all of them are acknowledged.
    /// Waiting for a slow or absent broker ends when `stop` is raised: what is not
    /// acknowledged then is not committed, and is read again on the next start.
    pub fn send(&mut self, positions: Positions, outgoing: Vec<Outgoing>, stop: &AtomicBool) -> anyhow::Result<()> {
        let ticket = Arc::new(Ticket::default());
        ticket.outstanding.store(outgoing.len(), Ordering::Release);
        for record in &outgoing {
            if let Err(error) = try_produce(&self.producer, record, ticket.clone(), false) {
                // librdkafka refuses some records before sending them (too large, say).
                let refused = Refused::new(&record.topic, record.key.as_deref(), &record.value, record.origin.clone(), &error);
                self.park(&ticket, refused)?;
            }
        }
        self.inflight.push_back(Unacked { ticket, offsets: positions.0 });
        while self.inflight.len() > self.max_inflight {
            if stop.load(Ordering::Relaxed) {
                anyhow::bail!(
                    "stopped while {} batches waited for the broker's acknowledgements; \
                     their offsets are not committed and they will be read again",
                    self.inflight.len()
                );
            }
            self.settle()?;
            std::thread::sleep(Duration::from_millis(1));
        }
        self.settle()
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
            // Fetched before the pause: kept for the next batch, in order.
            Some(Ok(record)) => match read(&record) {
                Ok(message) => self.held.messages.push(message),
                Err(unreadable) => self.held.unreadable.push(unreadable),
            },
            Some(Err(error)) => tracing::warn!("consumer: {error}"),
            None => {}
        }
        Ok(())
    }

    /// Stores the offsets of every finished batch at the front of the queue.
    /// A permanent delivery failure stops the flow without storing past it.
    pub fn settle(&mut self) -> anyhow::Result<()> {
        while let Some(front) = self.inflight.front() {
            if !front.ticket.done() {
                break;
            }
            if let Some(failure) = front.ticket.failure.lock().unwrap().clone() {
                anyhow::bail!("{failure}; offsets from this batch on are not committed and will be re-read");
            }
            let refused = std::mem::take(&mut *front.ticket.refused.lock().unwrap());
            if !refused.is_empty() {
                let ticket = front.ticket.clone();
                for refused in refused {
                    self.park(&ticket, refused)?;
                }
                continue; // the batch now waits for its pointers
            }
            for (topic, partition, offset) in &front.offsets {
                // Fails only if the partition was revoked meanwhile: its new owner re-reads.
                if let Err(e) = self.consumer.store_offset(topic, *partition, *offset) {
                    tracing::debug!(topic, partition, offset, "offset not stored: {e}");
                }
            }
            self.inflight.pop_front();
        }
        Ok(())
    }

    /// Produces a pointer for a refused record, in its batch; stops when there is no
    /// parked topic or even the pointer cannot be produced.
    fn park(&self, ticket: &Arc<Ticket>, refused: Refused) -> anyhow::Result<()> {
        let Some(parked_topic) = &self.parked_topic else {
            anyhow::bail!("{}; offsets from this batch on are not committed and will be re-read", refused.describe());
        };
        tracing::warn!("parking a pointer to {}", refused.describe());
        ticket.expect(1);
        try_produce(&self.producer, &refused.pointer(parked_topic), ticket.clone(), true).map_err(|error| {
            anyhow::anyhow!(
                "cannot park a pointer to {} ({error}); offsets from this batch on are not committed",
                refused.describe()
            )
        })
    }

    /// Waits for everything in flight, then commits. Records not acknowledged within
    /// `timeout` keep their offsets uncommitted: they are re-read on the next start.
    pub fn finish(mut self, timeout: Duration) -> anyhow::Result<()> {
        // A paused consumer does not close cleanly: resume before committing and leaving.
        if let Some(paused) = self.paused.take() {
            self.consumer.resume(&paused).ok();
        }
        let deadline = Instant::now() + timeout;
        self.producer.flush(timeout).ok();
        loop {
            self.settle()?;
            if self.inflight.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let pending: usize = self.inflight.iter().map(|b| b.ticket.outstanding.load(Ordering::Acquire)).sum();
                // Commit what is safe, then say what is not.
                self.consumer.commit_consumer_state(CommitMode::Sync).ok();
                anyhow::bail!(
                    "{pending} records were not acknowledged by the broker within {} s; \
                     their input offsets are not committed and will be re-read on restart",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        match self.consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(()) => Ok(()),
            // Nothing new to commit since the last automatic commit.
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => Ok(()),
            Err(e) => Err(anyhow::anyhow!("final offset commit failed ({e}); some records will be re-read on restart")),
        }
    }
}

/// weir's choices for settings the user may tune: `[kafka.properties]` (already in
/// `config`) win.
fn defaults(config: &mut ClientConfig, settings: &[(&str, &str)]) {
    for (key, value) in settings {
        if config.get(key).is_none() {
            config.set(*key, *value);
        }
    }
}

/// Enqueues one record, waiting while librdkafka's queue is full.
pub fn produce(producer: &ThreadedProducer<Acks>, record: &Outgoing, ticket: Arc<Ticket>) -> anyhow::Result<()> {
    try_produce(producer, record, ticket, false).map_err(|error| anyhow::anyhow!("cannot produce to {}: {error}", record.topic))
}

/// Enqueues one record; on an error the ticket no longer expects it.
fn try_produce(producer: &ThreadedProducer<Acks>, record: &Outgoing, ticket: Arc<Ticket>, pointer: bool) -> Result<(), KafkaError> {
    let mut headers = record.raw_headers.clone().unwrap_or_else(|| OwnedHeaders::new_with_capacity(record.headers.len()));
    for h in &record.headers {
        headers = headers.insert(rdkafka::message::Header { key: &h.key, value: Some(&h.value) });
    }
    let delivery = Box::new(Delivery { ticket, origin: record.origin.clone(), pointer });
    let mut base = BaseRecord::with_opaque_to(&record.topic, delivery).payload(&record.value).headers(headers);
    if let Some(key) = &record.key {
        base = base.key(key);
    }
    loop {
        match producer.send(base) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                base = returned;
                std::thread::sleep(Duration::from_millis(2));
            }
            Err((error, returned)) => {
                returned.delivery_opaque.ticket.outstanding.fetch_sub(1, Ordering::AcqRel);
                return Err(error);
            }
        }
    }
}

/// A ticket for records that commit nothing (reports, generated events).
pub fn detached_ticket(records: usize) -> Arc<Ticket> {
    let ticket = Arc::new(Ticket::default());
    ticket.outstanding.store(records, Ordering::Release);
    ticket
}

/// Waits until the ticket's records are acknowledged, or `timeout` passes.
pub fn wait_for(ticket: &Ticket, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !ticket.done() {
        if Instant::now() > deadline {
            anyhow::bail!("{} records not acknowledged within {} s", ticket.outstanding.load(Ordering::Acquire), timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    match ticket.failure.lock().unwrap().clone() {
        Some(failure) => Err(anyhow::anyhow!(failure)),
        None => Ok(()),
    }
}

/// The last offset of a batch in each partition it read.
pub struct Positions(Vec<(String, i32, i64)>);

pub fn positions<'a>(batch: impl IntoIterator<Item = &'a Message>) -> Positions {
    let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for m in batch {
        let slot = last.entry((m.topic.as_str(), m.partition)).or_insert(m.offset);
        *slot = (*slot).max(m.offset);
    }
    Positions(last.into_iter().map(|((t, p), o)| (t.to_string(), p, o)).collect())
}

/// A consumed record as the plugins see it (a null value, a tombstone, is empty bytes), or
/// why it cannot be one.
pub fn read(record: &BorrowedMessage<'_>) -> Result<Message, Unreadable> {
    let mut message = without_headers(record);
    for (i, (key, value)) in raw_headers(record).into_iter().enumerate() {
        match String::from_utf8(key) {
            Ok(key) => message.headers.push(Header { key, value }),
            Err(key) => {
                message.headers.clear();
                let reason = format!(
                    "header {i} has a key that is not UTF-8 ({} bytes), which weir's contract cannot carry; the record is kept as it came",
                    key.as_bytes().len()
                );
                let raw_headers = record.headers().map(|h| h.detach()).unwrap_or_default();
                return Err(Unreadable { message, raw_headers, reason });
            }
        }
    }
    Ok(message)
}

/// A consumed record for display: header keys that are not UTF-8 shown lossily.
pub fn owned(record: &BorrowedMessage<'_>) -> Message {
    let mut message = without_headers(record);
    message.headers = raw_headers(record)
        .into_iter()
        .map(|(key, value)| Header { key: String::from_utf8_lossy(&key).into_owned(), value })
        .collect();
    message
}

fn without_headers(record: &BorrowedMessage<'_>) -> Message {
    Message {
        key: record.key().map(<[u8]>::to_vec),
        value: record.payload().unwrap_or_default().to_vec(),
        headers: Vec::new(),
        topic: record.topic().to_string(),
        partition: record.partition(),
        offset: record.offset(),
        timestamp: record.timestamp().to_millis(),
    }
}

/// Every header as bytes. rdkafka 0.39's own accessor unwraps the key as UTF-8 (a panic
/// on any other key), so this asks librdkafka directly.
fn raw_headers(record: &BorrowedMessage<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Some(headers) = record.headers() else {
        return Vec::new();
    };
    // A `&BorrowedHeaders` is librdkafka's `rd_kafka_headers_t *` (rdkafka's own
    // representation: the zero-sized type is never read, only its address).
    let native = headers as *const BorrowedHeaders as *const rdkafka_sys::rd_kafka_headers_t;
    (0..headers.count())
        .filter_map(|i| {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0usize);
            // SAFETY: `native` is valid while `record` is borrowed; librdkafka returns a
            // NUL-terminated name and a value of `size` bytes (or null), both owned by it.
            unsafe {
                let error = rdkafka_sys::rd_kafka_header_get_all(native, i, &mut name, &mut value, &mut size);
                if error != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
                    return None;
                }
                let key = std::ffi::CStr::from_ptr(name).to_bytes().to_vec();
                let value =
                    if value.is_null() { Vec::new() } else { std::slice::from_raw_parts(value as *const u8, size).to_vec() };
                Some((key, value))
            }
        })
        .collect()
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
