//! Whether the record an interrupted redrive was sending reached its target.
//!
//! A redrive commits a record's offset once the target acknowledged it; killed between
//! the two, the record is on the target but its offset is not committed. So before it
//! sends, a redrive commits a *mark*: the target's ends at that moment, as the offsets of
//! a group of its own (`<redrive group>-mark`; commits hold nothing but offsets on every
//! broker). Whatever it sends next lands past them. The next run reads the target from
//! the mark to its end and skips the records it finds there (each carries where it came
//! from in `weir.redrive.from`): nothing is sent twice.
//!
//! Anyone who may write to the target can write that header too. So a record found
//! there counts as sent only if it also holds the source record's key and bytes: a
//! forged origin on other bytes cannot make a redrive skip a dead letter.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// Where a redriven record came from: `topic/partition/offset` of the source record.
pub const REDRIVEN_FROM: &str = "weir.redrive.from";

const TIMEOUT: Duration = Duration::from_secs(10);
/// A mark older than this is renewed before the next send: an older mark is still
/// right, it only leaves more of the target to read on resume.
const RENEW_AFTER: Duration = Duration::from_secs(1);

pub fn origin(topic: &str, partition: i32, offset: i64) -> String {
    format!("{topic}/{partition}/{offset}")
}

pub struct SentMarks {
    consumer: BaseConsumer,
    target: String,
    partitions: Vec<i32>,
    marked: Option<Instant>,
}

impl SentMarks {
    pub fn new(
        client: &ClientConfig,
        redrive_group: &str,
        target: &str,
    ) -> anyhow::Result<SentMarks> {
        let mut config = client.clone();
        config.set("group.id", format!("{redrive_group}-mark")).set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create()?;
        let partitions = super::start::partitions(&consumer, target)?;
        Ok(SentMarks { consumer, target: target.to_string(), partitions, marked: None })
    }

    /// Before a send: the target's ends committed as the mark, unless a recent one stands.
    pub fn before_send(&mut self) -> anyhow::Result<()> {
        if self.marked.is_some_and(|at| at.elapsed() < RENEW_AFTER) {
            return Ok(());
        }
        let mut ends = TopicPartitionList::new();
        for p in &self.partitions {
            // A broker may report an end short (tansu does): an earlier mark is only more to read.
            let (_, high) = self.consumer.fetch_watermarks(&self.target, *p, TIMEOUT)?;
            ends.add_partition_offset(&self.target, *p, Offset::Offset(high))?;
        }
        self.consumer.commit(&ends, CommitMode::Sync)?;
        self.marked = Some(Instant::now());
        Ok(())
    }

    /// The records on the target past the last mark an earlier run left: those it sent,
    /// whether or not it lived to commit them. Empty on a first run.
    pub fn sent_since_mark(&self, client: &ClientConfig) -> anyhow::Result<SentBefore> {
        let from: HashMap<i32, i64> =
            super::start::committed(&self.consumer, &self.target, &self.partitions)?
                .into_iter()
                .collect();
        let mut sent = SentBefore::default();
        if from.is_empty() {
            return Ok(sent);
        }
        super::tail::read_to_end_from(
            client,
            &self.target,
            &from,
            Duration::from_secs(120),
            &|_| {},
            |record| {
                let record = super::consumed::owned(record);
                if let Some(origin) = weir_core::headers::get(&record.headers, REDRIVEN_FROM) {
                    let print = sent.fingerprint(record.key.as_deref(), &record.value);
                    sent.found.insert((String::from_utf8_lossy(origin).into_owned(), print));
                }
            },
        )?;
        Ok(sent)
    }
}

/// What an interrupted run sent: each record's origin with a fingerprint of its key
/// and bytes, keyed by this process alone (a producer cannot aim at a collision).
#[derive(Default)]
pub struct SentBefore {
    found: HashSet<(String, u64)>,
    keys: RandomState,
}

impl SentBefore {
    fn fingerprint(&self, key: Option<&[u8]>, value: &[u8]) -> u64 {
        self.keys.hash_one((key, value))
    }

    /// Whether the source record at `origin`, with this key and value, was sent by an
    /// earlier run; each is found once.
    pub fn take(&mut self, origin: String, key: Option<&[u8]>, value: &[u8]) -> bool {
        let print = self.fingerprint(key, value);
        self.found.remove(&(origin, print))
    }
}
