//! Where a consumer group starts on a topic: `weir run --from earliest|latest|OFFSET|TIME`.
//! The positions are committed for the group before it joins, so the flow itself starts as
//! always — from the committed offsets — and a restart goes on from where it was.

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A start position, as `--from` or `kafka.from` give it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StartAt {
    Earliest,
    Latest,
    /// The same offset in every partition (clamped to what each holds).
    Offset(i64),
    /// The first record at or after this time (ms since the epoch) in each partition.
    Time(i64),
}

impl std::str::FromStr for StartAt {
    type Err = String;

    fn from_str(text: &str) -> Result<StartAt, String> {
        match text.trim() {
            "earliest" => Ok(StartAt::Earliest),
            "latest" => Ok(StartAt::Latest),
            t if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                t.parse().map(StartAt::Offset).map_err(|_| format!("`{t}` is too large an offset"))
            }
            t => weir_core::window::parse_time(t).map(StartAt::Time).ok_or_else(|| {
                format!("`{t}` is not a start: use earliest, latest, an offset, or a time like 2026-11-27T22:05:00Z")
            }),
        }
    }
}

/// Commits `at` as `group`'s position on every partition of `topic`. A group that has
/// committed offsets already is moved only with `reset`, and never while it has members
/// (they would commit over it): both refusals name what is in the way.
pub fn position_group(
    client: &ClientConfig,
    group: &str,
    topic: &str,
    at: StartAt,
    reset: bool,
) -> anyhow::Result<Vec<(i32, i64)>> {
    let mut config = client.clone();
    config.set("group.id", group).set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create()?;
    let partitions = partitions(&consumer, topic)?;
    let committed = committed(&consumer, topic, &partitions)?;
    if !committed.is_empty() && !reset {
        anyhow::bail!(
            "group {group} has committed offsets on {topic} already ({}): --from starts a group that has none; \
             add --reset to move them (with no member of the group running)",
            positions(&committed)
        );
    }
    if reset {
        let members = members(&consumer, group)?;
        if !members.is_empty() {
            anyhow::bail!(
                "group {group} has members running ({}): stop them before moving its offsets",
                members.join(", ")
            );
        }
    }
    let targets = partitions
        .iter()
        .map(|p| Ok((*p, target(&consumer, topic, *p, at)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut commit = TopicPartitionList::new();
    for (partition, offset) in &targets {
        commit.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.commit(&commit, CommitMode::Sync)?;
    tracing::info!(group, topic, "the group starts at {}", positions(&targets));
    Ok(targets)
}

/// The offset `at` means in each partition of `topic`, without moving any group.
pub fn resolve(client: &ClientConfig, topic: &str, at: StartAt) -> anyhow::Result<Vec<(i32, i64)>> {
    let mut config = client.clone();
    config.set("group.id", "weir-offsets").set("enable.auto.commit", "false");
    let consumer: BaseConsumer = config.create()?;
    partitions(&consumer, topic)?
        .into_iter()
        .map(|p| Ok((p, target(&consumer, topic, p, at)?)))
        .collect()
}

/// The offsets the consumer's group has committed on those of `partitions` that have one.
pub(crate) fn committed(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<Vec<(i32, i64)>> {
    let mut all = TopicPartitionList::new();
    for partition in partitions {
        all.add_partition(topic, *partition);
    }
    Ok(consumer
        .committed_offsets(all, TIMEOUT)?
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

pub(crate) fn partitions(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .filter(|p: &Vec<i32>| !p.is_empty())
        .ok_or_else(|| {
            anyhow::anyhow!("topic {topic} does not exist; create it with `weir topics create`")
        })
}

/// The offset `at` means in one partition.
fn target(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    at: StartAt,
) -> anyhow::Result<i64> {
    let (low, high) = consumer.fetch_watermarks(topic, partition, TIMEOUT)?;
    Ok(match at {
        StartAt::Earliest => low,
        StartAt::Latest => high,
        StartAt::Offset(offset) => offset.clamp(low, high),
        StartAt::Time(ms) => {
            let mut query = TopicPartitionList::new();
            query.add_partition_offset(topic, partition, Offset::Offset(ms))?;
            let found = consumer.offsets_for_times(query, TIMEOUT)?;
            // No record at or after the time: the partition's end.
            match found.find_partition(topic, partition).map(|e| e.offset()) {
                Some(Offset::Offset(offset)) if offset >= 0 => offset,
                _ => high,
            }
        }
    })
}

/// The group's members, as `client-id@host`; none when the broker knows no such group.
fn members(consumer: &BaseConsumer, group: &str) -> anyhow::Result<Vec<String>> {
    let groups = consumer.fetch_group_list(Some(group), TIMEOUT)?;
    Ok(groups
        .groups()
        .iter()
        .filter(|g| g.name() == group)
        .flat_map(|g| g.members().iter().map(|m| format!("{}@{}", m.client_id(), m.client_host())))
        .collect())
}

fn positions(offsets: &[(i32, i64)]) -> String {
    offsets.iter().map(|(p, o)| format!("partition {p} at {o}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_read_as_names_offsets_or_times() {
        assert_eq!("earliest".parse(), Ok(StartAt::Earliest));
        assert_eq!("latest".parse(), Ok(StartAt::Latest));
        assert_eq!("1200".parse(), Ok(StartAt::Offset(1200)));
        assert_eq!("2023-11-14T22:13:20Z".parse(), Ok(StartAt::Time(1_700_000_000_000)));
        assert!("yesterday".parse::<StartAt>().unwrap_err().contains("not a start"));
        assert!("-3".parse::<StartAt>().is_err());
    }
}
