//! The changelog of aggregator partition states: a compacted topic with one record per
//! input partition — key `topic/partition`, the plugin's snapshot as value, and the
//! input offset it covers in a header. Compaction keeps the latest of each.

use super::consumed::read;
use super::produce::Outgoing;
use crate::bindings::types::Header;
use crate::state::{PartitionKey, PartitionSnapshot};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::Offset;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The input offset a snapshot covers (every record before it), as decimal text.
pub const OFFSET_HEADER: &str = "weir.state.offset";

/// How long reading the changelog may take before weir says it cannot.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub fn key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// The record that checkpoints `snapshot` on `state_topic`.
pub fn record(state_topic: &str, snapshot: &PartitionSnapshot) -> Outgoing {
    let offset = Header { key: OFFSET_HEADER.into(), value: snapshot.offset.to_string().into_bytes() };
    let key = key(&snapshot.topic, snapshot.partition).into_bytes();
    Outgoing::new(state_topic, Some(key), snapshot.state.clone(), vec![offset])
}

/// The latest snapshot of every input partition on `state_topic`, read from its start to
/// its end as they are now. Records that are not snapshots are skipped, with a warning.
pub fn read_latest(client: &ClientConfig, state_topic: &str) -> anyhow::Result<HashMap<PartitionKey, PartitionSnapshot>> {
    let consumer = super::tail::reader(client, state_topic, Offset::Beginning)?;
    let metadata = consumer.fetch_metadata(Some(state_topic), READ_TIMEOUT / 3)?;
    let partitions = metadata.topics().iter().find(|t| t.name() == state_topic).map_or(0, |t| t.partitions().len());
    // Where each partition of the changelog ends now; read up to there.
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for partition in 0..partitions as i32 {
        let (low, high) = consumer.fetch_watermarks(state_topic, partition, READ_TIMEOUT / 3)?;
        if high > low {
            ends.insert(partition, high);
        }
    }
    let mut latest = HashMap::new();
    let deadline = Instant::now() + READ_TIMEOUT;
    // Up to the ends, then on until nothing more comes at once: a broker may report an
    // end short of the last batch written (tansu does).
    loop {
        if Instant::now() > deadline {
            anyhow::bail!("reading the state topic {state_topic} took over {} s", READ_TIMEOUT.as_secs());
        }
        let wait = if ends.is_empty() { Duration::from_millis(200) } else { Duration::from_millis(100) };
        let Some(polled) = consumer.poll(wait) else {
            if ends.is_empty() {
                break;
            }
            continue;
        };
        let record = polled.map_err(|e| anyhow::anyhow!("reading the state topic {state_topic}: {e}"))?;
        let (partition, offset) = (rdkafka::Message::partition(&record), rdkafka::Message::offset(&record));
        if ends.get(&partition).is_some_and(|end| offset + 1 >= *end) {
            ends.remove(&partition);
        }
        match read(&record).map_err(|u| u.reason).and_then(|m| snapshot_of(&m)) {
            Ok(snapshot) => {
                latest.insert(snapshot.key(), snapshot);
            }
            Err(reason) => tracing::warn!("{state_topic} partition {partition} offset {offset}: not a snapshot ({reason}); skipped"),
        }
    }
    Ok(latest)
}

fn snapshot_of(m: &crate::bindings::types::Message) -> Result<PartitionSnapshot, String> {
    let key = m.key.as_deref().and_then(|k| std::str::from_utf8(k).ok()).ok_or("no key `topic/partition`")?;
    let (topic, partition) = key.rsplit_once('/').ok_or("the key is not `topic/partition`")?;
    let partition: i32 = partition.parse().map_err(|_| "the key's partition is not a number")?;
    let offset = m
        .headers
        .iter()
        .rev()
        .find(|h| h.key == OFFSET_HEADER)
        .and_then(|h| std::str::from_utf8(&h.value).ok()?.parse::<i64>().ok())
        .ok_or(format!("no {OFFSET_HEADER} header"))?;
    Ok(PartitionSnapshot { topic: topic.to_string(), partition, offset, state: m.value.clone() })
}
