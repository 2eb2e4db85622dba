//! `weir dlq stats`: what the dead-letter and parked topics hold, grouped by where and why
//! records were refused. Reads each topic to its end and stops; commits nothing.

use super::consumed::owned;
use rdkafka::config::ClientConfig;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use weir_core::headers;
use weir_core::record::Record;
use weir_core::text::normalised;

/// Sample keys kept per row: the newest records', so two reads of the same topic show the
/// same keys whatever order its partitions arrive in.
const SAMPLES: usize = 3;
/// How long reading one topic to its end may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// Dead letters alike: the same topic, stage, kind, path and reason (its values masked).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Cause {
    pub topic: String,
    pub stage: String,
    pub kind: String,
    pub path: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(flatten)]
    pub cause: Cause,
    pub count: u64,
    /// Record timestamps (ms since the epoch), when the records have them.
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
    /// Keys of the newest records (by timestamp, then partition and offset), newest first.
    pub sample_keys: Vec<String>,
    /// Where those keys come from, to keep the newest while reading.
    #[serde(skip)]
    newest_records: Vec<(Option<i64>, i32, i64, String)>,
}

#[derive(Debug, Default, Serialize)]
pub struct Stats {
    /// Records read per topic.
    pub topics: BTreeMap<String, u64>,
    /// Most frequent first.
    pub rows: Vec<Row>,
}

/// Reads `topics` to their ends and groups their records, telling `progress` how far
/// each read has come.
pub fn stats(
    client: &ClientConfig,
    topics: &[&str],
    progress: &(dyn Fn(&str, super::tail::Read) + Sync),
) -> anyhow::Result<Stats> {
    let mut tally = Tally::default();
    for topic in topics {
        tally.topic(topic);
        let from = std::collections::HashMap::new();
        let progress = |read| progress(topic, read);
        super::tail::read_to_end_from(client, topic, &from, READ_TIMEOUT, &progress, |record| {
            tally.add(topic, &owned(record))
        })?;
    }
    Ok(tally.stats())
}

/// Records counted into rows as they are read.
#[derive(Default)]
pub struct Tally {
    rows: BTreeMap<Cause, Row>,
    totals: BTreeMap<String, u64>,
}

impl Tally {
    /// A topic read, even if it holds nothing.
    pub fn topic(&mut self, topic: &str) {
        self.totals.entry(topic.to_string()).or_default();
    }

    pub fn add(&mut self, topic: &str, message: &Record) {
        *self.totals.entry(topic.to_string()).or_default() += 1;
        let cause = cause_of(topic, message);
        let row = self.rows.entry(cause.clone()).or_insert_with(|| Row {
            cause,
            count: 0,
            oldest: None,
            newest: None,
            sample_keys: Vec::new(),
            newest_records: Vec::new(),
        });
        row.count += 1;
        if let Some(t) = message.timestamp {
            row.oldest = Some(row.oldest.map_or(t, |o| o.min(t)));
            row.newest = Some(row.newest.map_or(t, |n| n.max(t)));
        }
        if let Some(key) = &message.key {
            let samples = &mut row.newest_records;
            samples.push((
                message.timestamp,
                message.partition,
                message.offset,
                weir_core::text::printable(key),
            ));
            samples.sort_unstable_by(|a, b| b.cmp(a));
            samples.truncate(SAMPLES);
        }
    }

    /// The rows, most frequent first.
    pub fn stats(self) -> Stats {
        let mut rows: Vec<Row> = self.rows.into_values().collect();
        for row in &mut rows {
            row.sample_keys = row.newest_records.iter().map(|(_, _, _, key)| key.clone()).collect();
        }
        rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.cause.cmp(&b.cause)));
        Stats { topics: self.totals, rows }
    }
}

/// Why a dead letter (or parked record) was refused, from its provenance headers.
pub fn cause_of(topic: &str, m: &Record) -> Cause {
    let text =
        |key: &str| headers::get(&m.headers, key).map(|v| String::from_utf8_lossy(v).into_owned());
    let first = headers::reasons(&m.headers).and_then(|v| v.into_iter().next());
    let (path, reason) = match (text(headers::PARK_REASON), first) {
        (Some(parked), _) => (String::new(), parked),
        (None, Some(v)) => (v.path, v.reason),
        (None, None) => (String::new(), "(no reason header)".to_string()),
    };
    Cause {
        topic: topic.to_string(),
        stage: text(headers::STAGE).unwrap_or_else(|| "?".into()),
        kind: text(headers::KIND).unwrap_or_else(|| "?".into()),
        path,
        reason: normalised(&reason),
    }
}

impl Stats {
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (topic, n) in &self.topics {
            out += &format!("{topic}: {n} records\n");
        }
        if self.rows.is_empty() {
            return out;
        }
        out += &format!("\n{:>7}  {:<10} {:<10} {:<14} reason\n", "count", "stage", "kind", "path");
        for row in &self.rows {
            let c = &row.cause;
            let path = if c.path.is_empty() { "(root)" } else { &c.path };
            out += &format!(
                "{:>7}  {:<10} {:<10} {:<14} {}\n",
                row.count, c.stage, c.kind, path, c.reason
            );
            let when = match (row.oldest, row.newest) {
                (Some(o), Some(n)) => {
                    format!("{} → {}", weir_core::window::rfc3339(o), weir_core::window::rfc3339(n))
                }
                _ => "no timestamps".into(),
            };
            out += &format!(
                "         on {} · {when} · keys {}\n",
                c.topic,
                row.sample_keys.join(", ")
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_letter(key: &str, partition: i32, offset: i64, timestamp: i64) -> Record {
        Record {
            key: Some(key.as_bytes().to_vec()),
            value: b"{}".to_vec(),
            headers: vec![],
            topic: "dl".into(),
            partition,
            offset,
            timestamp: Some(timestamp),
        }
    }

    #[test]
    fn sample_keys_are_the_newest_whatever_order_the_partitions_arrive_in() {
        let records = [
            dead_letter("a", 0, 0, 10),
            dead_letter("b", 1, 0, 10),
            dead_letter("c", 0, 1, 20),
            dead_letter("d", 1, 1, 30),
            dead_letter("e", 2, 0, 5),
        ];
        let keys = |order: &[usize]| {
            let mut tally = Tally::default();
            for &i in order {
                tally.add("dl", &records[i]);
            }
            tally.stats().rows.remove(0).sample_keys
        };
        assert_eq!(keys(&[0, 1, 2, 3, 4]), ["d", "c", "b"]);
        assert_eq!(
            keys(&[4, 3, 1, 0, 2]),
            ["d", "c", "b"],
            "same records, partitions interleaved otherwise"
        );
    }
}
