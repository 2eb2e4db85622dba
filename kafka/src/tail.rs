//! `weir tail`: the display consumer. Prints a topic's records and, with `--schema`,
//! says which fail validation and why.

use super::consumed::owned;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weir_core::record::Record;
use weir_core::stage::validator::Validate;
use weir_core::stage::Stage;

pub struct TailOptions<'a> {
    pub topic: String,
    pub from_beginning: bool,
    pub count: Option<u64>,
    /// Stop when nothing arrives for this long.
    pub idle_exit: Option<Duration>,
    pub show_headers: bool,
    pub stop: &'a AtomicBool,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct TailStats {
    pub messages: u64,
    pub invalid: u64,
    /// Records whose key was seen before (redelivery after a crash, or a repair).
    pub duplicate_keys: u64,
}

/// Prints the records of `options.topic`: decoded first when the topic has a format
/// (`formats`), then checked by `validator` if given.
pub fn follow(
    client: &ClientConfig,
    options: &TailOptions,
    mut formats: Option<weir_core::format::Formats>,
    mut validator: Option<Stage<Validate>>,
    out: &mut dyn Write,
) -> anyhow::Result<TailStats> {
    let start = if options.from_beginning { Offset::Beginning } else { Offset::End };
    let consumer = reader(client, &options.topic, start)?;
    let mut stats = TailStats::default();
    let mut keys: HashSet<Vec<u8>> = HashSet::new();
    let mut last_seen = Instant::now();
    while !options.stop.load(Ordering::Relaxed) && options.count.is_none_or(|c| stats.messages < c)
    {
        let record = match consumer.poll(Duration::from_millis(100)) {
            None => {
                if options.idle_exit.is_some_and(|idle| last_seen.elapsed() >= idle) {
                    break;
                }
                continue;
            }
            Some(Err(e)) => {
                tracing::warn!("consumer: {e}");
                continue;
            }
            Some(Ok(record)) => owned(&record),
        };
        let mut record = record;
        last_seen = Instant::now();
        stats.messages += 1;
        if let Some(key) = &record.key {
            if !keys.insert(key.clone()) {
                stats.duplicate_keys += 1;
            }
        }
        if let Some(decoded) = formats.as_mut().and_then(|f| f.decode(&record.topic, &record.value))
        {
            match decoded {
                Ok(json) => record.value = json,
                Err(reason) => {
                    stats.invalid += 1;
                    writeln!(
                        out,
                        "UNREADABLE {}\n         {}",
                        weir_core::text::printable(&record.value),
                        weir_core::text::escape_controls(&reason)
                    )?;
                    continue;
                }
            }
        }
        show(&record, validator.as_mut(), options.show_headers, &mut stats, out)?;
    }
    Ok(stats)
}

/// Every record of `topic` from its start to its end as they are now, handed to `each`;
/// then it stops. Commits nothing. Past the ends it reads on until nothing more comes at
/// once, for `PAST_ENDS` at most: a broker may report an end short of the last batch
/// written (tansu does), and producers may never pause.
pub fn read_to_end(
    client: &ClientConfig,
    topic: &str,
    timeout: Duration,
    each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> anyhow::Result<()> {
    read_to_end_from(client, topic, &HashMap::new(), timeout, &|_| {}, each)
}

/// How far a long read has come, for a progress bar (the libraries print nothing): called
/// as it goes with the records read and, once known, how many the topic's ends held.
pub type Progress<'a> = &'a (dyn Fn(Read) + Sync);

/// A read's progress: `total` is what the ends held when it started (0 until known;
/// records past the ends make `done` exceed it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Read {
    pub done: u64,
    pub total: u64,
}

/// As [`read_to_end`], from `from`'s offset in each partition it names (the start in
/// the others), telling `progress` as it goes.
pub fn read_to_end_from(
    client: &ClientConfig,
    topic: &str,
    from: &HashMap<i32, i64>,
    timeout: Duration,
    progress: Progress,
    mut each: impl FnMut(&rdkafka::message::BorrowedMessage<'_>),
) -> anyhow::Result<()> {
    let start =
        |partition: i32| from.get(&partition).map_or(Offset::Beginning, |o| Offset::Offset(*o));
    let consumer = reader_at(client, topic, start)?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout / 3)?;
    let partitions =
        metadata.topics().iter().find(|t| t.name() == topic).map_or(0, |t| t.partitions().len());
    // Where each partition ends now; read up to there.
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut read = Read::default();
    for partition in 0..partitions as i32 {
        let (low, high) = consumer.fetch_watermarks(topic, partition, timeout / 3)?;
        let start = from.get(&partition).copied().unwrap_or(low).max(low);
        if high > start {
            ends.insert(partition, high);
            read.total += (high - start) as u64;
        }
    }
    progress(read);
    let deadline = Instant::now() + timeout;
    let mut past_ends = ends.is_empty().then(Instant::now);
    loop {
        if past_ends.is_some_and(|at| at.elapsed() > PAST_ENDS) {
            return Ok(());
        }
        if past_ends.is_none() && Instant::now() > deadline {
            anyhow::bail!("reading {topic} to its end took over {} s", timeout.as_secs());
        }
        let wait =
            if ends.is_empty() { Duration::from_millis(200) } else { Duration::from_millis(100) };
        let Some(polled) = consumer.poll(wait) else {
            if ends.is_empty() {
                return Ok(());
            }
            continue;
        };
        let record = polled.map_err(|e| anyhow::anyhow!("reading {topic}: {e}"))?;
        let (partition, offset) =
            (rdkafka::Message::partition(&record), rdkafka::Message::offset(&record));
        if ends.get(&partition).is_some_and(|end| offset + 1 >= *end) {
            ends.remove(&partition);
            if ends.is_empty() {
                past_ends = Some(Instant::now());
            }
        }
        each(&record);
        read.done += 1;
        progress(read);
    }
}

/// The records of `topic` written from now on, handed to `each` until `done` says so
/// (asked after each record and every 100 ms). It joins no group and commits nothing: a
/// look at the live input that no consumer group sees (`weir shadow --live`).
pub fn live(
    client: &ClientConfig,
    topic: &str,
    done: &dyn Fn() -> bool,
    mut each: impl FnMut(Record),
) -> anyhow::Result<()> {
    let consumer = reader(client, topic, Offset::End)?;
    while !done() {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => tracing::warn!("reading {topic}: {e}"),
            Some(Ok(record)) => each(owned(&record)),
        }
    }
    Ok(())
}

/// How long a read to the ends goes on past them, for what a broker reported short:
/// bounded, so that a topic written without pause still ends the read.
pub const PAST_ENDS: Duration = Duration::from_secs(2);

/// The broker has no topic of that name (it has no partitions).
#[derive(Debug)]
pub struct NoSuchTopic(pub String);

impl std::fmt::Display for NoSuchTopic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "topic {} does not exist; create it with `weir topics create`", self.0)
    }
}

impl std::error::Error for NoSuchTopic {}

/// A consumer assigned every partition of `topic` at `start`. It joins no group, so it
/// commits nothing and needs no group coordinator.
pub fn reader(client: &ClientConfig, topic: &str, start: Offset) -> anyhow::Result<BaseConsumer> {
    reader_at(client, topic, |_| start)
}

/// As [`reader`], each partition at its own start.
fn reader_at(
    client: &ClientConfig,
    topic: &str,
    start: impl Fn(i32) -> Offset,
) -> anyhow::Result<BaseConsumer> {
    let mut config = client.clone();
    config
        .set("group.id", "weir-tail")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create()?;
    let metadata = consumer.fetch_metadata(Some(topic), super::CONNECT_TIMEOUT)?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|n| *n > 0)
        .ok_or_else(|| NoSuchTopic(topic.to_string()))?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(topic, partition, start(partition))?;
    }
    consumer.assign(&assignment)?;
    drop(assignment);
    Ok(consumer)
}

fn show(
    record: &Record,
    validator: Option<&mut Stage<Validate>>,
    show_headers: bool,
    stats: &mut TailStats,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let value = weir_core::text::printable(&record.value);
    let verdict = validator.map(|v| v.run(std::slice::from_ref(record)).remove(0));
    match verdict {
        None => writeln!(out, "{value}")?,
        Some(Ok(Ok(()))) => writeln!(out, "valid    {value}")?,
        Some(Ok(Err(violations))) => {
            stats.invalid += 1;
            writeln!(
                out,
                "INVALID  {value}\n         {}",
                weir_core::text::escape_controls(&weir_core::pipeline::summary(&violations))
            )?;
        }
        Some(Err(fault)) => {
            stats.invalid += 1;
            writeln!(out, "INVALID  {value}\n         validator {fault}")?;
        }
    }
    if show_headers {
        if let Some(key) = &record.key {
            writeln!(out, "         key: {}", weir_core::text::printable(key))?;
        }
        for h in &record.headers {
            writeln!(
                out,
                "         {}: {}",
                weir_core::text::escape_controls(&h.key),
                weir_core::text::printable(&h.value)
            )?;
        }
    }
    Ok(())
}
