//! Enrichment tables kept from compacted topics (`[tables.NAME]`, contract 0.3). Each is
//! read from its beginning to the end its topic had at start before the first record is
//! processed (readiness waits for it), then followed on a thread of its own: an update is
//! in the table within a fetch of its arrival (`fetch.wait.max.ms`, 500 ms by default).
//! A table topic with a format (`[topics."NAME"] format`, as for the input) is read as the
//! JSON plugins see: framing taken off, Avro decoded with each record's writer's schema.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::Offset;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use weir_core::config::{Config, Resolve};
use weir_core::format::{Format, Formats};
use weir_core::ops::Ops;
use weir_core::table::{Table, Tables};

/// The threads following the tables' topics; dropping this stops and joins them.
pub struct Feeds {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Feeds {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Fills every table `config` declares (in `tables`, as `Config::declared_tables` made them)
/// from its topic up to the topic's end now, then follows each. A missing topic is a
/// config error naming the key; so is a formatted table topic without a registry
/// (`resolve` gives the registry the schemas come from).
pub fn start(
    client: &ClientConfig,
    config: &Config,
    tables: &Tables,
    resolve: &dyn Resolve,
    ops: Option<&Ops>,
) -> anyhow::Result<Feeds> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut feeds = Feeds { stop: stop.clone(), threads: Vec::new() };
    if config.tables.is_empty() {
        return Ok(feeds);
    }
    if let Some(ops) = ops {
        ops.health.tables_pending(true);
    }
    for (name, declared) in &config.tables {
        let table = tables.get(name).expect("declared from this config").clone();
        let format = config.topics.get(&declared.topic).map_or(Format::Json, |t| t.format);
        let decoder = match format {
            Format::Json => None,
            format => {
                let source = resolve
                    .schema_source(config)
                    .map_err(|reason| config.key_error("registry.url", &reason))?;
                Some(Formats::reading(&declared.topic, format, source))
            }
        };
        let mut feed = match Feed::open(client, &declared.topic, table, decoder) {
            Ok(feed) => feed,
            Err(e) if e.is::<crate::tail::NoSuchTopic>() => {
                let reason = format!(
                    "topic `{}` does not exist: a table is kept from a compacted topic that whatever owns \
                     the data writes (create it with cleanup.policy=compact; a record key per table key)",
                    declared.topic
                );
                return Err(config.key_error(&format!("tables.{name}.topic"), &reason).into());
            }
            Err(e) => return Err(e.context(format!("table `{name}`: topic `{}`", declared.topic))),
        };
        let started = Instant::now();
        feed.read_to_end(&stop)?;
        tracing::info!(
            table = name,
            topic = declared.topic,
            keys = feed.table.len(),
            bytes = feed.table.bytes(),
            "table read to its end in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        if let Some(ops) = ops {
            ops.metrics.table(&feed.table, 0, feed.refused);
        }
        let (stop, ops) = (stop.clone(), ops.cloned());
        let thread = std::thread::Builder::new()
            .name(format!("weir-table-{name}"))
            .spawn(move || feed.follow(&stop, ops.as_ref()))?;
        feeds.threads.push(thread);
    }
    if let Some(ops) = ops {
        ops.health.tables_pending(false);
    }
    Ok(feeds)
}

/// The client's settings for a table's consumer: what it fetches ahead bounded by the
/// table's memory bound — a sixteenth of it, between 1 and 64 MiB (librdkafka's default
/// is 64 MiB whatever the bound: a million-key rebuild at a 32 MiB bound grew weir by 220
/// MiB on tansu) — in records as in bytes (librdkafka's bookkeeping, ~400 bytes a record,
/// is not in its byte count), asked for in fetches a sixteenth of that (a compressed batch
/// grows when it is decoded). Its queue is refilled 10 ms after the table drains it, not
/// librdkafka's 1 s: at 1 s a million-key rebuild took 8× longer on tansu; at 10 ms it is
/// as fast as with the defaults (measured, 8.1 s vs 9.5). What `[kafka.properties]` sets
/// is kept.
fn fetching(client: &ClientConfig, memory_mib: u64) -> ClientConfig {
    let ahead = ((memory_mib << 20) / 16).clamp(1 << 20, 64 << 20);
    let fetch = (ahead / 16).clamp(64 << 10, 1 << 20);
    let mut config = client.clone();
    let mut default = |key: &str, value: u64| {
        if config.get(key).is_none() {
            config.set(key, value.to_string());
        }
    };
    default("queued.max.messages.kbytes", ahead >> 10);
    default("queued.min.messages", 2_000);
    default("fetch.queue.backoff.ms", 10);
    default("max.partition.fetch.bytes", fetch);
    // librdkafka requires fetch.max.bytes ≥ message.max.bytes (1 MB unless set): a reader
    // sends nothing, and a batch bigger than a fetch still comes whole.
    if config.get("fetch.max.bytes").is_none() {
        let message_max = config.get("message.max.bytes").and_then(|v| v.parse().ok());
        match message_max {
            Some(max) => config.set("fetch.max.bytes", fetch.max(max).to_string()),
            None => config
                .set("message.max.bytes", fetch.to_string())
                .set("fetch.max.bytes", fetch.to_string()),
        };
    }
    config
}

/// One table and the consumer of its topic (every partition, no group: nothing is
/// committed, every start reads the topic again).
struct Feed {
    topic: String,
    consumer: BaseConsumer,
    table: Arc<Table>,
    /// Per partition, the offset after the last record applied.
    next: HashMap<i32, i64>,
    /// Takes the topic's format off (none: plain values).
    decoder: Option<Formats>,
    refused: u64,
    keyless: u64,
    unreadable: u64,
}

impl Feed {
    fn open(
        client: &ClientConfig,
        topic: &str,
        table: Arc<Table>,
        decoder: Option<Formats>,
    ) -> anyhow::Result<Feed> {
        let consumer = crate::tail::reader(
            &fetching(client, table.bounds().memory_mib),
            topic,
            Offset::Beginning,
        )?;
        Ok(Feed {
            topic: topic.to_string(),
            consumer,
            table,
            next: HashMap::new(),
            decoder,
            refused: 0,
            keyless: 0,
            unreadable: 0,
        })
    }

    /// Applies records until every partition reaches the end it had when this began, then
    /// on until a poll brings nothing (for at most `tail::PAST_ENDS`): a broker may report
    /// an end short of the last batch written (tansu does).
    fn read_to_end(&mut self, stop: &AtomicBool) -> anyhow::Result<()> {
        let ends = self.ends()?;
        let (mut said, mut checked) = (Instant::now(), None::<Instant>);
        let mut past_ends: Option<Instant> = None;
        loop {
            anyhow::ensure!(!stop.load(Ordering::Relaxed), "stopped while reading the tables");
            // Asking the consumer for positions costs a list of every partition: not per
            // record, every 50 ms.
            if past_ends.is_none()
                && checked.is_none_or(|at| at.elapsed() > Duration::from_millis(50))
            {
                checked = Some(Instant::now());
                if ends.iter().all(|(p, end)| self.position(*p) >= *end) {
                    past_ends = Some(Instant::now());
                }
            }
            let got = self.poll(Duration::from_millis(100));
            if past_ends.is_some_and(|at| !got || at.elapsed() > crate::tail::PAST_ENDS) {
                return Ok(());
            }
            if said.elapsed() > Duration::from_secs(10) {
                said = Instant::now();
                tracing::info!(
                    table = self.table.name(),
                    keys = self.table.len(),
                    "still reading the table's topic `{}` to its end",
                    self.topic
                );
            }
        }
    }

    /// Follows the topic until `stop`, publishing the table's series every second (its
    /// lag, which asks the broker, every five).
    fn follow(mut self, stop: &AtomicBool, ops: Option<&Ops>) {
        let (mut published, mut measured, mut lag) = (Instant::now(), Instant::now(), 0);
        while !stop.load(Ordering::Relaxed) {
            self.poll(Duration::from_millis(100));
            let Some(ops) = ops else { continue };
            if measured.elapsed() >= Duration::from_secs(5) {
                measured = Instant::now();
                lag = self.lag().unwrap_or(lag);
            }
            if published.elapsed() >= Duration::from_secs(1) {
                published = Instant::now();
                ops.metrics.table(&self.table, lag, self.refused);
            }
        }
    }

    /// Each partition's end (high watermark) now.
    fn ends(&self) -> anyhow::Result<Vec<(i32, i64)>> {
        crate::start::partitions(&self.consumer, &self.topic)?
            .into_iter()
            .map(|p| {
                let (_, high) =
                    self.consumer.fetch_watermarks(&self.topic, p, crate::CONNECT_TIMEOUT)?;
                Ok((p, high))
            })
            .collect()
    }

    /// Where reading `partition` has got to: past the last record applied, or the
    /// consumer's position (past control records and compacted gaps).
    fn position(&self, partition: i32) -> i64 {
        let applied = self.next.get(&partition).copied().unwrap_or(0);
        let fetched = self
            .consumer
            .position()
            .ok()
            .and_then(|list| {
                list.find_partition(&self.topic, partition).and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
            })
            .unwrap_or(0);
        applied.max(fetched)
    }

    /// Records of the topic not applied yet (asks the broker for each partition's end).
    fn lag(&self) -> Option<u64> {
        let ends = self.ends().ok()?;
        Some(
            ends.into_iter()
                .map(|(p, end)| end.saturating_sub(self.position(p)).max(0) as u64)
                .sum(),
        )
    }

    /// Applies what one poll brings: a value sets its key, a null value deletes it.
    /// Whether it brought a record.
    fn poll(&mut self, wait: Duration) -> bool {
        match self.consumer.poll(wait) {
            None => false,
            Some(Err(e)) => {
                tracing::warn!(table = self.table.name(), "reading `{}`: {e}", self.topic);
                false
            }
            Some(Ok(record)) => {
                self.next.insert(record.partition(), record.offset() + 1);
                let Some(key) = record.key() else {
                    self.keyless += 1;
                    if self.keyless.is_power_of_two() {
                        tracing::warn!(
                            table = self.table.name(),
                            "{} records of `{}` have no key and are not in the table",
                            self.keyless,
                            self.topic
                        );
                    }
                    return true;
                };
                let value = match (record.payload(), &mut self.decoder) {
                    (Some(value), Some(decoder)) => match decoder.decode(&self.topic, value) {
                        Some(Ok(json)) => Some(std::borrow::Cow::Owned(json)),
                        Some(Err(reason)) => {
                            self.unreadable += 1;
                            if self.unreadable.is_power_of_two() {
                                tracing::error!(
                                    table = self.table.name(),
                                    "{} records of `{}` cannot be read and are not in the table \
                                     (the key keeps its value); the last: {reason}",
                                    self.unreadable,
                                    self.topic
                                );
                            }
                            return true;
                        }
                        None => Some(std::borrow::Cow::Borrowed(value)),
                    },
                    (value, _) => value.map(std::borrow::Cow::Borrowed),
                };
                if let Err(full) = self.table.put(key, value.as_deref()) {
                    self.refused += 1;
                    if self.refused.is_power_of_two() {
                        tracing::error!("{full}: {} updates refused so far", self.refused);
                    }
                }
                true
            }
        }
    }
}
