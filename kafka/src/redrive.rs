//! `weir dlq redrive`: parked (or dead-lettered) records back to the input topic, after a
//! fix. Original key and bytes, the user's headers, the repair attempts reset and the
//! redrive counted in a header (`weir.redrive.count`): a record redriven `max_redrives`
//! times is left where it is, so a record no fix helps cannot loop for ever.
//!
//! Resumable: the redrive is a consumer group of its own (`<group_id>-redrive`) whose
//! offsets are committed as records are acknowledged, so a second run goes on where the
//! first stopped, and skips what the first sent but did not live to commit
//! (`sent_marks`). It reads to the source topic's end, and stops.

use super::consumed::owned;
use super::dlq::{cause_of, Stats, Tally};
use super::produce::{detached_ticket, produce, wait_for, Outgoing};
use super::sent_marks::{origin, SentMarks, REDRIVEN_FROM};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use weir_core::headers;
use weir_core::record::{Header, Record};

use weir_core::headers::REDRIVE_COUNT;
const TIMEOUT: Duration = Duration::from_secs(10);

/// Which records to send back; every condition given must hold.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    pub stage: Option<String>,
    pub kind: Option<String>,
    /// Text the reason contains.
    pub reason: Option<String>,
    /// Record timestamps (ms since the epoch), `since` inclusive, `until` exclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Selection {
    fn picks(&self, topic: &str, m: &Record) -> bool {
        let cause = cause_of(topic, m);
        let raw = headers::get(&m.headers, headers::PARK_REASON)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .or_else(|| {
                headers::reasons(&m.headers).and_then(|v| v.into_iter().next()).map(|v| v.reason)
            })
            .unwrap_or_default();
        let t = m.timestamp.unwrap_or(i64::MIN);
        self.stage.as_ref().is_none_or(|s| *s == cause.stage)
            && self.kind.as_ref().is_none_or(|k| *k == cause.kind)
            && self
                .reason
                .as_ref()
                .is_none_or(|r| raw.contains(r.as_str()) || cause.reason.contains(r.as_str()))
            && self.since.is_none_or(|s| t >= s)
            && self.until.is_none_or(|u| t < u)
    }
}

pub struct Redrive<'a> {
    pub source: String,
    pub target: String,
    pub group: String,
    pub selection: Selection,
    /// Records sent per second at most.
    pub rate: Option<f64>,
    pub max_redrives: u32,
    pub stop: &'a AtomicBool,
    /// Where `weir_redriven_records_total` is counted, when served.
    pub metrics: Option<weir_core::ops::Metrics>,
    /// How far the read has come (records read, what the source's ends held).
    pub progress: super::tail::Progress<'a>,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Redriven {
    pub read: u64,
    pub sent: u64,
    /// Not picked by the selection.
    pub not_selected: u64,
    /// Redriven `max_redrives` times already.
    pub exhausted: u64,
    /// Pointers to records the broker refused: their bytes are not on the topic.
    pub pointers: u64,
    /// Sent by an interrupted run that did not live to commit them: not sent again.
    pub sent_before: u64,
}

/// What a redrive would send, grouped as `weir dlq stats` groups; moves nothing.
pub fn dry_run(client: &ClientConfig, redrive: &Redrive) -> anyhow::Result<Stats> {
    let mut tally = Tally::default();
    tally.topic(&redrive.source);
    let (source, from) = (&redrive.source, HashMap::new());
    let timeout = super::dlq::READ_TIMEOUT;
    super::tail::read_to_end_from(client, source, &from, timeout, redrive.progress, |record| {
        let m = owned(record);
        if decide(redrive, &m) == Decision::Send {
            tally.add(&redrive.source, &m);
        }
    })?;
    Ok(tally.stats())
}

#[derive(Debug, PartialEq)]
enum Decision {
    Send,
    NotSelected,
    Exhausted,
    Pointer,
}

fn decide(redrive: &Redrive, m: &Record) -> Decision {
    if headers::get(&m.headers, headers::POINTER).is_some() {
        Decision::Pointer
    } else if !redrive.selection.picks(&redrive.source, m) {
        Decision::NotSelected
    } else if redrives(m) >= redrive.max_redrives {
        Decision::Exhausted
    } else {
        Decision::Send
    }
}

fn redrives(m: &Record) -> u32 {
    headers::get(&m.headers, REDRIVE_COUNT)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Sends the selected records back, from where the redrive group stopped to the source's
/// end; each record's offset is committed once it is acknowledged.
pub fn run(client: &ClientConfig, redrive: &Redrive) -> anyhow::Result<Redriven> {
    let mut config = client.clone();
    config
        .set("group.id", &redrive.group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let consumer: BaseConsumer = config.create()?;
    let topic = redrive.source.as_str();
    let metadata = consumer.fetch_metadata(Some(topic), TIMEOUT)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    let committed: HashMap<i32, i64> =
        super::start::committed(&consumer, topic, &partitions)?.into_iter().collect();
    let (mut assignment, mut ends) = (TopicPartitionList::new(), HashMap::new());
    let mut read = super::tail::Read::default();
    for p in &partitions {
        let (low, high) = consumer.fetch_watermarks(topic, *p, TIMEOUT)?;
        let start = committed.get(p).map_or(low, |o| (*o).max(low));
        assignment.add_partition_offset(topic, *p, Offset::Offset(start))?;
        if start < high {
            ends.insert(*p, high);
            read.total += (high - start) as u64;
        }
    }
    (redrive.progress)(read);
    let mut done = Redriven::default();
    consumer.assign(&assignment)?;
    let producer = super::produce::producer(client)?;
    let mut marks = SentMarks::new(client, &redrive.group, &redrive.target)?;
    let mut sent_before =
        if ends.is_empty() { Default::default() } else { marks.sent_since_mark(client)? };
    let started = Instant::now();
    // Time spent reading past the ends, sending left out (a rate makes sending slow).
    let mut past_ends = ends.is_empty().then_some(Duration::ZERO);
    loop {
        if redrive.stop.load(Ordering::Relaxed) {
            tracing::info!("stopped; a second run goes on from here");
            break;
        }
        // Up to the ends, then on until nothing more comes at once, for a bounded time: a
        // broker may report an end short of the last batch written (tansu does), and
        // steady traffic to the source must not keep a redrive going.
        if past_ends.is_some_and(|read| read > super::tail::PAST_ENDS) {
            break;
        }
        let turn = Instant::now();
        let mut sending = Duration::ZERO;
        let Some(polled) = consumer.poll(Duration::from_millis(100)) else {
            if ends.is_empty() {
                break;
            }
            continue;
        };
        let record = polled.map_err(|e| anyhow::anyhow!("reading {topic}: {e}"))?;
        let (partition, offset) =
            (rdkafka::Message::partition(&record), rdkafka::Message::offset(&record));
        let m = owned(&record);
        drop(record);
        done.read += 1;
        read.done = done.read;
        (redrive.progress)(read);
        match decide(redrive, &m) {
            Decision::Send
                if sent_before.take(
                    origin(topic, partition, offset),
                    m.key.as_deref(),
                    &m.value,
                ) =>
            {
                done.sent_before += 1
            }
            Decision::Send => {
                let send = Instant::now();
                if let Some(rate) = redrive.rate {
                    // The n-th record goes out no sooner than n / rate seconds after the start.
                    let due = started + Duration::from_secs_f64(done.sent as f64 / rate);
                    while Instant::now() < due && !redrive.stop.load(Ordering::Relaxed) {
                        std::thread::sleep((due - Instant::now()).min(Duration::from_millis(50)));
                    }
                }
                marks.before_send()?;
                let ticket = detached_ticket(1);
                produce(&producer, &back(&redrive.target, &m), ticket.clone())?;
                wait_for(&ticket, Duration::from_secs(60))?;
                sending = send.elapsed();
                done.sent += 1;
                if let Some(metrics) = &redrive.metrics {
                    metrics.redriven.inc();
                }
            }
            Decision::NotSelected => done.not_selected += 1,
            Decision::Exhausted => done.exhausted += 1,
            Decision::Pointer => done.pointers += 1,
        }
        let mut commit = TopicPartitionList::new();
        commit.add_partition_offset(topic, partition, Offset::Offset(offset + 1))?;
        consumer.commit(&commit, CommitMode::Sync)?;
        if let Some(read) = past_ends.as_mut() {
            *read += turn.elapsed().saturating_sub(sending);
        }
        if ends.get(&partition).is_some_and(|end| offset + 1 >= *end) {
            ends.remove(&partition);
            if ends.is_empty() {
                past_ends = Some(Duration::ZERO);
            }
        }
    }
    Ok(done)
}

/// The record as it came in: its key and bytes, the user's headers, no repair attempts,
/// one more redrive, and where it came from.
fn back(target: &str, m: &Record) -> Outgoing {
    let mut headers = headers::user_headers(&m.headers);
    headers.push(Header { key: headers::REPAIR_ATTEMPTS.into(), value: b"0".to_vec() });
    headers.push(Header {
        key: REDRIVE_COUNT.into(),
        value: (redrives(m) + 1).to_string().into_bytes(),
    });
    headers.push(Header {
        key: REDRIVEN_FROM.into(),
        value: origin(&m.topic, m.partition, m.offset).into_bytes(),
    });
    Outgoing::new(target, m.key.clone(), m.value.clone(), headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(stage: &str, reason: &str, headers: &[(&str, &str)], timestamp: i64) -> Record {
        let mut all: Vec<Header> = headers
            .iter()
            .map(|(k, v)| Header { key: k.to_string(), value: v.as_bytes().to_vec() })
            .collect();
        all.push(Header { key: headers::STAGE.into(), value: stage.into() });
        all.push(Header { key: headers::KIND.into(), value: b"violation".to_vec() });
        all.push(Header {
            key: headers::REASONS.into(),
            value: serde_json::json!([{ "path": "", "reason": reason }]).to_string().into_bytes(),
        });
        Record {
            key: Some(b"k".to_vec()),
            value: b"v".to_vec(),
            headers: all,
            topic: "parked".into(),
            partition: 0,
            offset: 0,
            timestamp: Some(timestamp),
        }
    }

    #[test]
    fn a_selection_picks_by_stage_reason_and_time_and_loops_stay_bounded() {
        let stop = AtomicBool::new(false);
        let mut redrive = Redrive {
            source: "parked".into(),
            target: "in".into(),
            group: "g".into(),
            selection: Selection::default(),
            rate: None,
            max_redrives: 2,
            stop: &stop,
            metrics: None,
            progress: &|_| {},
        };
        let m = letter(
            "validate",
            "\"locale\" is a required property",
            &[("trace", "t1"), (headers::REPAIR_ATTEMPTS, "3")],
            100,
        );
        assert_eq!(decide(&redrive, &m), Decision::Send);
        redrive.selection = Selection {
            stage: Some("validate".into()),
            reason: Some("locale".into()),
            since: Some(100),
            until: Some(101),
            ..Selection::default()
        };
        assert_eq!(decide(&redrive, &m), Decision::Send);
        redrive.selection.until = Some(100);
        assert_eq!(decide(&redrive, &m), Decision::NotSelected);
        redrive.selection =
            Selection { reason: Some("device_type".into()), ..Selection::default() };
        assert_eq!(decide(&redrive, &m), Decision::NotSelected);
        redrive.selection = Selection::default();
        let out = back("in", &m);
        assert_eq!(
            (out.key.as_deref(), out.value.as_slice()),
            (Some(&b"k"[..]), &b"v"[..]),
            "key and bytes kept"
        );
        let h = |k: &str| {
            out.headers
                .iter()
                .find(|h| h.key == k)
                .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        };
        assert_eq!(
            (h("trace"), h(headers::REPAIR_ATTEMPTS), h(REDRIVE_COUNT), h(headers::STAGE)),
            (Some("t1".into()), Some("0".into()), Some("1".into()), None)
        );
        let twice = letter("validate", "x", &[(REDRIVE_COUNT, "2")], 100);
        assert_eq!(decide(&redrive, &twice), Decision::Exhausted, "redriven twice already");
        let pointer = letter("produce", "too large", &[(headers::POINTER, "1")], 100);
        assert_eq!(decide(&redrive, &pointer), Decision::Pointer);
    }

    /// A record no fix helps: redriven, refused again by the validator, repaired and
    /// refused, parked — each round keeps the count, so the third redrive leaves it.
    #[test]
    fn the_redrive_count_survives_dead_letters_and_repairs_so_loops_end() {
        let stop = AtomicBool::new(false);
        let redrive = Redrive {
            source: "parked".into(),
            target: "in".into(),
            group: "g".into(),
            selection: Selection::default(),
            rate: None,
            max_redrives: 2,
            stop: &stop,
            metrics: None,
            progress: &|_| {},
        };
        let rejection = weir_core::pipeline::Rejection {
            stage: "validate".into(),
            plugin: "v".into(),
            violations: vec![],
            fault: None,
            cause: Default::default(),
        };
        let mut parked = letter("validate", "x", &[("trace", "t1")], 100);
        for round in 1..=2 {
            assert_eq!(decide(&redrive, &parked), Decision::Send, "round {round}");
            let sent = back("in", &parked);
            let input = Record {
                key: sent.key,
                value: sent.value,
                headers: sent.headers,
                topic: "in".into(),
                partition: 0,
                offset: round,
                timestamp: Some(100),
            };
            let dead = Record {
                headers: headers::dead_letter(&input, &rejection),
                topic: "dead".into(),
                ..input.clone()
            };
            let repaired =
                Record { headers: headers::repaired(&dead, 1), topic: "in".into(), ..dead.clone() };
            let dead_again = Record {
                headers: headers::dead_letter(&repaired, &rejection),
                topic: "dead".into(),
                ..repaired
            };
            parked = Record {
                headers: headers::parked(&dead_again, "unrepairable"),
                topic: "parked".into(),
                ..dead_again
            };
            assert_eq!(redrives(&parked), round as u32);
            assert_eq!(headers::get(&parked.headers, "trace"), Some(&b"t1"[..]));
        }
        assert_eq!(
            decide(&redrive, &parked),
            Decision::Exhausted,
            "redriven twice: left where it is"
        );
    }
}
