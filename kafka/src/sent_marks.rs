//! Whether the record an interrupted redrive was sending reached its target.
//!
//! A redrive commits a record's offset once the target acknowledged it; killed between
//! the two, the record is on the target but its offset is not committed. So before it
//! sends, a redrive commits a *mark*: the target's ends at that moment, as the offsets of
//! a group of its own (`<redrive group>-mark`; commits hold nothing but offsets on every
//! broker). Whatever it sends next lands past them. The next run reads the target from
//! the mark to its end and skips the records it finds there (each carries where it came
//! from in `weir.redrive.from`): nothing is sent twice.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{HashMap, HashSet};
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
    pub fn new(client: &ClientConfig, redrive_group: &str, target: &str) -> anyhow::Result<SentMarks> {
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

    /// The origins of the records on the target past the last mark an earlier run left:
    /// those it sent, whether or not it lived to commit them. Empty on a first run.
    pub fn sent_since_mark(&self, client: &ClientConfig) -> anyhow::Result<HashSet<String>> {
        let from: HashMap<i32, i64> = super::start::committed(&self.consumer, &self.target, &self.partitions)?.into_iter().collect();
        let mut sent = HashSet::new();
        if from.is_empty() {
            return Ok(sent);
        }
        super::tail::read_to_end_from(client, &self.target, &from, Duration::from_secs(120), |record| {
            let record = super::consumed::owned(record);
            let from_header = crate::headers::get(&record.headers, REDRIVEN_FROM).map(|v| String::from_utf8_lossy(v).into_owned());
            sent.extend(from_header);
        })?;
        Ok(sent)
    }
}
