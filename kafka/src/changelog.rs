//! The changelog of aggregator partition states: a compacted topic with one record per
//! input partition — key `topic/partition`, the plugin's snapshot as value, and the
//! input offset it covers in a header. Compaction keeps the latest of each.

use super::consumed::read;
use super::produce::Outgoing;
use rdkafka::config::ClientConfig;
use std::collections::HashMap;
use std::time::Duration;
use weir_core::record::Header;
use weir_core::state::{PartitionKey, PartitionSnapshot};

/// The input offset a snapshot covers (every record before it), as decimal text.
pub const OFFSET_HEADER: &str = "weir.state.offset";

/// How long reading the changelog may take before weir says it cannot.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

pub fn key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// The record that checkpoints `snapshot` on `state_topic`.
pub fn record(state_topic: &str, snapshot: &PartitionSnapshot) -> Outgoing {
    let offset =
        Header { key: OFFSET_HEADER.into(), value: snapshot.offset.to_string().into_bytes() };
    let key = key(&snapshot.topic, snapshot.partition).into_bytes();
    Outgoing::new(state_topic, Some(key), snapshot.state.clone(), vec![offset])
}

/// The latest snapshot of every input partition on `state_topic`, read from its start to
/// its end as they are now. Records that are not snapshots are skipped, with a warning.
pub fn read_latest(
    client: &ClientConfig,
    state_topic: &str,
) -> anyhow::Result<HashMap<PartitionKey, PartitionSnapshot>> {
    let mut latest = HashMap::new();
    super::tail::read_to_end(client, state_topic, READ_TIMEOUT, |record| {
        let (partition, offset) =
            (rdkafka::Message::partition(record), rdkafka::Message::offset(record));
        match read(record).map_err(|u| u.reason).and_then(|m| snapshot_of(&m)) {
            Ok(snapshot) => {
                latest.insert(snapshot.key(), snapshot);
            }
            Err(reason) => tracing::warn!("{state_topic} partition {partition} offset {offset}: not a snapshot ({reason}); skipped"),
        }
    })?;
    Ok(latest)
}

fn snapshot_of(m: &weir_core::record::Record) -> Result<PartitionSnapshot, String> {
    let key = m
        .key
        .as_deref()
        .and_then(|k| std::str::from_utf8(k).ok())
        .ok_or("no key `topic/partition`")?;
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
