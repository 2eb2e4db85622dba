//! An aggregator on event-time windows: the host owns the windows (which window a record
//! falls in, when a window closes, which records are late) and the plugin is the plain
//! fold — one plugin state per open window and input partition. A closed window's report
//! becomes one result record; a partition's open windows and its clock are checkpointed
//! together as that partition's state.
//!
//! Results are per input partition, and each partition's windows close on that
//! partition's own watermark: a replay, or another instance taking the partition over,
//! emits the same records, and a silent partition holds no other partition back.

use super::outcome::{root_violation, Output, Rejection, Role};
use crate::record::{Header, Record};
use crate::report::Analytics;
use crate::stage::aggregator::Aggregate;
use crate::stage::Stage;
use crate::state::{PartitionKey, Slot};
use crate::stats::Stats;
use crate::window::{rfc3339, PartitionClock, WindowSpec};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, VecDeque};

/// Header of a window result: the window's start, in ms since the epoch.
pub const WINDOW_START: &str = "weir.window.start";
/// Header of a window result: the window's end (exclusive), in ms since the epoch.
pub const WINDOW_END: &str = "weir.window.end";

/// The last results kept for the report.
const LAST_CLOSED: usize = 5;

pub struct Windows {
    spec: WindowSpec,
    /// Where late records go; `None`: the dead-letter topic.
    late_topic: Option<String>,
    /// Where results go; `None`: the output (files).
    topic: Option<String>,
    clocks: BTreeMap<PartitionKey, PartitionClock>,
    last_closed: VecDeque<Value>,
}

/// Where one input record's window results and late copies go: after the record at
/// `index` of the delivered records.
pub type Emitted = Vec<(usize, Output)>;

impl Windows {
    pub fn new(spec: WindowSpec, topic: Option<String>, late_topic: Option<String>) -> Windows {
        Windows { spec, late_topic, topic, clocks: BTreeMap::new(), last_closed: VecDeque::new() }
    }

    /// Folds the records to fold (`fold[j]` for `delivered[j]`) into their windows, closes
    /// the windows their event times pass, and says which records are late.
    pub fn fold(
        &mut self,
        stage: &mut Stage<Aggregate>,
        delivered: &[Record],
        fold: &[bool],
        stats: &mut Stats,
    ) -> Emitted {
        let mut emitted = Vec::new();
        // Records waiting to be folded into each window, in order: folded in one call per
        // window, before the window closes or at the end of the batch.
        let mut pending: BTreeMap<Slot, Vec<&Record>> = BTreeMap::new();
        // Read once a batch: `max_future` is an hour by default, not a precise instant.
        let now = wall_clock_ms();
        for (j, m) in delivered.iter().enumerate().filter(|(j, _)| fold[*j]) {
            let key = (m.topic.clone(), m.partition);
            let clock = self.clocks.entry(key.clone()).or_default();
            let t = match self.spec.event_time(m) {
                Ok(t) => t,
                Err(reason) => {
                    stats.window_late += 1;
                    emitted.push((j, self.late(stage, m, format!("no event time: {reason}"))));
                    continue;
                }
            };
            if let Some(reason) = self.spec.too_far_ahead(t, now) {
                stats.window_late += 1;
                emitted.push((j, self.late(stage, m, reason)));
                continue;
            }
            let before = clock.watermark(&self.spec);
            let placed = clock.place(&self.spec, t);
            for start in &placed.into {
                pending.entry((key.clone(), Some(*start))).or_default().push(m);
            }
            let due = clock.close_due(&self.spec);
            if let (Some(first), Some(watermark)) = (placed.missed.first(), before) {
                stats.window_late += 1;
                let reason = format!(
                    "event time {} is too late for the window [{}, {}), closed: the partition's watermark was {} (allowed lateness {} ms)",
                    rfc3339(t), rfc3339(*first), rfc3339(self.spec.end(*first)), rfc3339(watermark), self.spec.lateness_ms
                );
                emitted.push((j, self.late(stage, m, reason)));
            }
            for start in due {
                let slot = (key.clone(), Some(start));
                if let Some(records) = pending.remove(&slot) {
                    fold_into(stage, &slot, &records, stats);
                }
                if let Some(result) = self.close(stage, &slot, Some(m), stats) {
                    emitted.push((j, result));
                }
            }
        }
        for (slot, records) in pending {
            fold_into(stage, &slot, &records, stats);
        }
        emitted
    }

    /// Closes every open window (the input ended): their results.
    pub fn close_all(&mut self, stage: &mut Stage<Aggregate>, stats: &mut Stats) -> Vec<Output> {
        let mut results = Vec::new();
        let keys: Vec<PartitionKey> = self.clocks.keys().cloned().collect();
        for key in keys {
            let starts =
                self.clocks.get_mut(&key).map(PartitionClock::close_all).unwrap_or_default();
            for start in starts {
                results.extend(self.close(stage, &(key.clone(), Some(start)), None, stats));
            }
        }
        results
    }

    /// A window's result record, its state dropped; `None` if the plugin failed on it.
    fn close(
        &mut self,
        stage: &mut Stage<Aggregate>,
        slot: &Slot,
        closing: Option<&Record>,
        stats: &mut Stats,
    ) -> Option<Output> {
        let ((topic, partition), Some(start)) = slot else { return None };
        let end = self.spec.end(*start);
        let report = match stage.close_window(slot) {
            Ok(report) => report,
            Err(e) => {
                stats.aggregate_faults += 1;
                stats.analytics_resets += 1;
                tracing::error!(
                    "the window [{}, {}) of {topic}/{partition} is lost: {e}; the other open windows lost what they folded \
                     since their partitions were assigned",
                    rfc3339(*start), rfc3339(end)
                );
                return None;
            }
        };
        stats.windows_closed += 1;
        let value = result_value(topic, *partition, *start, end, &report);
        if self.last_closed.len() == LAST_CLOSED {
            self.last_closed.pop_front();
        }
        self.last_closed.push_back(value.clone());
        let headers = vec![
            Header { key: WINDOW_START.into(), value: start.to_string().into_bytes() },
            Header { key: WINDOW_END.into(), value: end.to_string().into_bytes() },
        ];
        // From the record that closed it (so its offset waits for the result), else the
        // window's own partition.
        let message = Record {
            key: Some(format!("{topic}/{partition}/{start}").into_bytes()),
            value: value.to_string().into_bytes(),
            headers,
            topic: closing.map_or(topic.clone(), |m| m.topic.clone()),
            partition: *partition,
            offset: closing.map_or(-1, |m| m.offset),
            timestamp: Some(end - 1),
        };
        Some(Output { message, topic: self.topic.clone(), role: Role::Window })
    }

    fn late(&self, stage: &Stage<Aggregate>, m: &Record, reason: String) -> Output {
        let mut rejection = Rejection::new(stage, vec![root_violation(reason)]);
        rejection.cause = super::Cause::Late;
        Output { message: m.clone(), topic: self.late_topic.clone(), role: Role::Late(rejection) }
    }

    /// The partition's windows as one state: its clock and each open window's plugin
    /// snapshot (`encode`).
    pub fn snapshot(
        &self,
        stage: &mut Stage<Aggregate>,
        key: &PartitionKey,
    ) -> Result<Vec<u8>, crate::plugin::PluginError> {
        let clock = self.clocks.get(key).cloned().unwrap_or_default();
        let mut windows = Vec::with_capacity(clock.open.len());
        for start in &clock.open {
            windows.push((*start, stage.slot_snapshot(&(key.clone(), Some(*start)))?));
        }
        Ok(encode(clock.max_event, &windows))
    }

    /// A partition's windows from its state (`None`: none saved, nothing open).
    pub fn restore(
        &mut self,
        stage: &mut Stage<Aggregate>,
        key: &PartitionKey,
        blob: Option<&[u8]>,
    ) -> Result<(), String> {
        self.clocks.insert(key.clone(), PartitionClock::default());
        let Some(blob) = blob else { return Ok(()) };
        let (max_event, windows) = decode(blob)?;
        let clock = self.clocks.get_mut(key).expect("just inserted");
        clock.max_event = max_event;
        for (start, bytes) in windows {
            clock.open.insert(start);
            match stage.restore_slot(&(key.clone(), Some(start)), Some(&bytes)) {
                Ok(Ok(())) => {}
                Ok(Err(reason)) => return Err(format!("window {}: {reason}", rfc3339(start))),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(())
    }

    pub fn dropped(&mut self, key: &PartitionKey) {
        self.clocks.remove(key);
    }

    /// The last windows closed, oldest first, as their result values.
    pub fn last_closed(&self) -> Vec<Value> {
        self.last_closed.iter().cloned().collect()
    }

    /// Hands the windows over to the next operator (a hot swap).
    pub fn hand_over(&mut self, next: &mut Windows) {
        next.clocks = std::mem::take(&mut self.clocks);
        next.last_closed = std::mem::take(&mut self.last_closed);
    }
}

/// A failed call discards the plugin instance, and with it what the open windows folded
/// since their partitions were assigned (the replacement starts from that save): counted
/// and said, never silent.
fn fold_into(stage: &mut Stage<Aggregate>, slot: &Slot, records: &[&Record], stats: &mut Stats) {
    if let Err(e) = stage.fold_window(slot, records) {
        stats.aggregate_faults += records.len() as u64;
        stats.analytics_resets += 1;
        tracing::error!(
            stage = stage.name(),
            "aggregator failed on {} records of a window ({e}); they are delivered but not counted, and the open windows \
             lost what they folded since their partitions were assigned: their results will be short",
            records.len()
        );
    }
}

/// A window's result: where and when, and the plugin's report (counters by name, tables
/// as rows in the plugin's order).
fn result_value(topic: &str, partition: i32, start: i64, end: i64, report: &Analytics) -> Value {
    let counters: Map<String, Value> =
        report.counters.iter().map(|c| (c.name.clone(), json!(c.value))).collect();
    let tables: Map<String, Value> = report
        .tables
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.rows.iter().map(|r| json!({ "label": r.label, "count": r.count })).collect(),
            )
        })
        .collect();
    json!({
        "window": { "start": rfc3339(start), "end": rfc3339(end), "start_ms": start, "end_ms": end },
        "topic": topic,
        "partition": partition,
        "counters": counters,
        "tables": tables,
    })
}

/// Marks a windowed partition state, so a state saved without windows is told apart.
const MAGIC: &[u8; 8] = b"weirwin1";

fn encode(max_event: Option<i64>, windows: &[(i64, Vec<u8>)]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(max_event.unwrap_or(i64::MIN).to_le_bytes());
    out.extend((windows.len() as u32).to_le_bytes());
    for (start, bytes) in windows {
        out.extend(start.to_le_bytes());
        out.extend((bytes.len() as u32).to_le_bytes());
        out.extend(bytes);
    }
    out
}

type Decoded = (Option<i64>, Vec<(i64, Vec<u8>)>);

fn decode(blob: &[u8]) -> Result<Decoded, String> {
    let Some(mut rest) = blob.strip_prefix(MAGIC.as_slice()) else {
        return Err(
            "it is not a windowed state (was the stage saved before it had windows?)".into()
        );
    };
    let mut take = |n: usize| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err("the windowed state is cut short".into());
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    let max_event = i64::from_le_bytes(take(8)?.try_into().unwrap());
    let count = u32::from_le_bytes(take(4)?.try_into().unwrap());
    let mut windows = Vec::new();
    for _ in 0..count {
        let start = i64::from_le_bytes(take(8)?.try_into().unwrap());
        let len = u32::from_le_bytes(take(4)?.try_into().unwrap()) as usize;
        windows.push((start, take(len)?.to_vec()));
    }
    Ok(((max_event != i64::MIN).then_some(max_event), windows))
}

/// Milliseconds since the epoch by the wall clock (0 if it reads before the epoch).
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partitions_windows_round_trip_and_other_states_are_refused() {
        let windows = vec![(60_000, b"a".to_vec()), (120_000, Vec::new())];
        assert_eq!(decode(&encode(Some(130_000), &windows)), Ok((Some(130_000), windows.clone())));
        assert_eq!(decode(&encode(None, &[])), Ok((None, vec![])));
        let blob = encode(Some(1), &windows);
        assert_eq!(decode(&blob[..blob.len() - 1]).unwrap_err(), "the windowed state is cut short");
        assert!(decode(b"{\"total\":3}").unwrap_err().contains("not a windowed state"));
    }
}
