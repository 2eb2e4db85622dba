//! Producing with acknowledgements: each record carries its batch's `Ticket`, which
//! counts what the broker has acknowledged and collects what it refused for good.

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message as _, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_core::ops::Metrics;
use weir_core::record::{Header, Record};

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
    /// A partition chosen by the caller; `None`: the partitioner's (by key).
    pub partition: Option<i32>,
}

/// Where a consumed record was read.
#[derive(Debug, Clone)]
pub struct Origin {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

impl Outgoing {
    pub fn new(
        topic: &str,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
        headers: Vec<Header>,
    ) -> Outgoing {
        Outgoing {
            topic: topic.to_string(),
            key,
            value,
            headers,
            raw_headers: None,
            origin: None,
            partition: None,
        }
    }

    /// To `partition` rather than where its key hashes.
    pub fn to_partition(self, partition: i32) -> Outgoing {
        Outgoing { partition: Some(partition), ..self }
    }

    /// Made from the consumed record at `origin`.
    pub fn from(self, origin: Origin) -> Outgoing {
        Outgoing { origin: Some(origin), ..self }
    }
}

impl Origin {
    pub fn of(message: &Record) -> Origin {
        Origin {
            topic: message.topic.clone(),
            partition: message.partition,
            offset: message.offset,
        }
    }
}

/// Acknowledgements outstanding for one batch, the records the broker refused, and the
/// first failure that nothing can stand in for.
#[derive(Default)]
pub struct Ticket {
    pub(super) outstanding: AtomicUsize,
    pub(super) refused: Mutex<Vec<Refused>>,
    pub(super) failure: Mutex<Option<String>>,
}

impl Ticket {
    /// Expect `n` more acknowledgements (call before producing them).
    pub fn expect(&self, n: usize) {
        self.outstanding.fetch_add(n, Ordering::AcqRel);
    }

    pub(super) fn done(&self) -> bool {
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

/// Counts acknowledgements as librdkafka reports them (and, with metrics, each record
/// delivered to its topic).
#[derive(Default)]
pub struct Acks {
    metrics: Option<Metrics>,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, delivery: Box<Delivery>) {
        // librdkafka retries without a timeout: an error here is permanent for the record.
        if let Err((error, message)) = result {
            let value = message.payload().unwrap_or_default();
            let refused =
                Refused::new(message.topic(), message.key(), value, delivery.origin.clone(), error);
            if !refuses_the_record(error) {
                // The topic or the cluster, not this record: a pointer would stand in for
                // an output that every record would lose. Nothing is committed past it.
                let mut failure = delivery.ticket.failure.lock().unwrap();
                failure.get_or_insert_with(|| {
                    format!("producing to {} failed: {error}", message.topic())
                });
            } else if delivery.pointer {
                let mut failure = delivery.ticket.failure.lock().unwrap();
                failure.get_or_insert_with(|| {
                    format!("not even a pointer to it could be parked: {}", refused.describe())
                });
            } else {
                delivery.ticket.refused.lock().unwrap().push(refused);
            }
        }
        if let (Ok(message), Some(metrics)) = (result, &self.metrics) {
            metrics.produced(message.topic());
        }
        delivery.ticket.outstanding.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A producer whose records are retried by librdkafka until delivered (no timeout):
/// a broker that goes away is waited for, not given up on.
pub fn producer(base: &ClientConfig) -> anyhow::Result<ThreadedProducer<Acks>> {
    producer_with(base, None)
}

/// A `producer` counting what it delivers in `metrics`.
pub fn producer_with(
    base: &ClientConfig,
    metrics: Option<Metrics>,
) -> anyhow::Result<ThreadedProducer<Acks>> {
    let mut config = base.clone();
    config.set("enable.idempotence", "true").set("message.timeout.ms", "0");
    defaults(
        &mut config,
        &[
            ("linger.ms", "5"),
            ("compression.type", "lz4"),
            ("queue.buffering.max.messages", "1000000"),
        ],
    );
    Ok(config.create_with_context(Acks { metrics })?)
}

/// weir's choices for settings the user may tune: `[kafka.properties]` (already in
/// `config`) win.
pub(super) fn defaults(config: &mut ClientConfig, settings: &[(&str, &str)]) {
    for (key, value) in settings {
        if config.get(key).is_none() {
            config.set(*key, *value);
        }
    }
}

/// Enqueues one record, waiting while librdkafka's queue is full.
pub fn produce(
    producer: &ThreadedProducer<Acks>,
    record: &Outgoing,
    ticket: Arc<Ticket>,
) -> anyhow::Result<()> {
    try_produce(producer, record, ticket, false)
        .map_err(|error| anyhow::anyhow!("cannot produce to {}: {error}", record.topic))
}

/// Enqueues one record; on an error the ticket no longer expects it.
pub(super) fn try_produce(
    producer: &ThreadedProducer<Acks>,
    record: &Outgoing,
    ticket: Arc<Ticket>,
    pointer: bool,
) -> Result<(), KafkaError> {
    let mut headers = record
        .raw_headers
        .clone()
        .unwrap_or_else(|| OwnedHeaders::new_with_capacity(record.headers.len()));
    for h in &record.headers {
        headers = headers.insert(rdkafka::message::Header { key: &h.key, value: Some(&h.value) });
    }
    let delivery = Box::new(Delivery { ticket, origin: record.origin.clone(), pointer });
    let mut base =
        BaseRecord::with_opaque_to(&record.topic, delivery).payload(&record.value).headers(headers);
    if let Some(key) = &record.key {
        base = base.key(key);
    }
    if let Some(partition) = record.partition {
        base = base.partition(partition);
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
            anyhow::bail!(
                "{} records not acknowledged within {} s",
                ticket.outstanding.load(Ordering::Acquire),
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    match ticket.failure.lock().unwrap().clone() {
        Some(failure) => Err(anyhow::anyhow!(failure)),
        None => Ok(()),
    }
}

/// Whether a produce error is about the record itself — too large, invalid, corrupt, a
/// bad timestamp — so that a pointer may stand in for it. Every other error (the topic
/// unknown or deleted, authorization, a fatal producer, an outage) is the topic's or the
/// cluster's: weir stops without committing rather than park every record.
pub fn refuses_the_record(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidTimestamp
                | RDKafkaErrorCode::BadMessage
        )
    )
}

/// How much of a refused value a pointer quotes.
const PREFIX_BYTES: usize = 256;

/// A record the broker refused, as much of it as a pointer needs.
pub struct Refused {
    pub(super) origin: Option<Origin>,
    pub(super) topic: String,
    pub(super) key: Option<Vec<u8>>,
    pub(super) size: usize,
    pub(super) sha256: String,
    pub(super) prefix: String,
    pub(super) reason: String,
    pub(super) kind: &'static str,
}

impl Refused {
    pub fn new(
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        origin: Option<Origin>,
        error: &KafkaError,
    ) -> Refused {
        let oversize = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize)
        );
        let cut = value.len().min(PREFIX_BYTES);
        Refused {
            origin,
            topic: topic.to_string(),
            key: key.map(<[u8]>::to_vec),
            size: value.len(),
            sha256: hex::encode(Sha256::digest(value)),
            prefix: String::from_utf8_lossy(&value[..cut]).into_owned(),
            reason: format!("the broker refused it for {topic}: {error}"),
            kind: if oversize { "oversize" } else { "produce" },
        }
    }

    /// What the logs say about it.
    pub fn describe(&self) -> String {
        let origin = self.origin.as_ref().map_or_else(String::new, |o| {
            format!(" from {}[{}]@{}", o.topic, o.partition, o.offset)
        });
        format!("a record of {} bytes{origin}: {}", self.size, self.reason)
    }
}
