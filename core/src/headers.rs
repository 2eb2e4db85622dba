//! Provenance headers on dead letters, in the spirit of Kafka Connect's KIP-298.

use crate::pipeline::Rejection;
use crate::record::{Header, Record, Violation};

pub const STAGE: &str = "weir.error.stage";
pub const PLUGIN: &str = "weir.error.plugin";
pub const REASONS: &str = "weir.error.reasons";
/// `violation`, or the kind of plugin fault (trap, cpu, memory, contract, oversize, instantiate).
pub const KIND: &str = "weir.error.kind";
pub const SOURCE_TOPIC: &str = "weir.source.topic";
pub const SOURCE_PARTITION: &str = "weir.source.partition";
pub const SOURCE_OFFSET: &str = "weir.source.offset";
pub const SOURCE_TIMESTAMP: &str = "weir.source.timestamp";
pub const REPAIR_ATTEMPTS: &str = "weir.repair.attempts";
/// Times `weir dlq redrive` sent a record back; carried through dead letters and repairs
/// so that `--max-redrives` bounds a loop of a record no fix helps.
pub const REDRIVE_COUNT: &str = "weir.redrive.count";
/// On parked records: why weir gave up on them.
pub const PARK_REASON: &str = "weir.park.reason";
/// On a parked pointer that stands in for a record the broker refused.
pub const POINTER: &str = "weir.park.pointer";

pub fn get<'a>(headers: &'a [Header], key: &str) -> Option<&'a [u8]> {
    headers.iter().rev().find(|h| h.key == key).map(|h| h.value.as_slice())
}

/// How many times a record has been through repair (0 if never).
pub fn repair_attempts(headers: &[Header]) -> u32 {
    get(headers, REPAIR_ATTEMPTS)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The violations a dead letter carries; `None` if the header is missing or unreadable.
pub fn reasons(headers: &[Header]) -> Option<Vec<Violation>> {
    serde_json::from_slice(get(headers, REASONS)?).ok()
}

/// The message's own headers minus weir's, so provenance is never stale or doubled.
pub fn user_headers(headers: &[Header]) -> Vec<Header> {
    headers.iter().filter(|h| !h.key.starts_with("weir.")).cloned().collect()
}

/// The user's headers and the redrive count, if any: what a record keeps on its way
/// through a dead letter or a repair back to the input.
fn kept(headers: &[Header]) -> Vec<Header> {
    let mut kept = user_headers(headers);
    kept.extend(get(headers, REDRIVE_COUNT).map(|count| header(REDRIVE_COUNT, count)));
    kept
}

fn header(key: &str, value: impl Into<Vec<u8>>) -> Header {
    Header { key: key.to_string(), value: value.into() }
}

/// Headers of a dead letter: the user's headers, then where it came from and why.
pub fn dead_letter(message: &Record, rejection: &Rejection) -> Vec<Header> {
    let mut headers = kept(&message.headers);
    headers.push(header(STAGE, rejection.stage.as_str()));
    headers.push(header(PLUGIN, rejection.plugin.as_str()));
    let reasons = crate::pipeline::outcome::bounded(&rejection.violations);
    headers.push(header(REASONS, serde_json::to_vec(&reasons).expect("violations serialise")));
    headers.push(header(KIND, rejection.kind()));
    headers.extend(source(message));
    headers.push(header(REPAIR_ATTEMPTS, repair_attempts(&message.headers).to_string()));
    headers
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
fn cut_to(text: &str, max: usize) -> String {
    crate::text::cut(text, max)
}

/// Where a record was read: topic, partition, offset, timestamp.
pub fn source(message: &Record) -> Vec<Header> {
    let mut headers = vec![
        header(SOURCE_TOPIC, message.topic.as_str()),
        header(SOURCE_PARTITION, message.partition.to_string()),
        header(SOURCE_OFFSET, message.offset.to_string()),
    ];
    if let Some(ts) = message.timestamp {
        headers.push(header(SOURCE_TIMESTAMP, ts.to_string()));
    }
    headers
}

/// Headers of a repaired record sent back to the input: the user's, the redrive count,
/// and the new repair count.
pub fn repaired(message: &Record, attempts: u32) -> Vec<Header> {
    let mut headers = kept(&message.headers);
    headers.push(header(REPAIR_ATTEMPTS, attempts.to_string()));
    headers
}

/// How long a park reason may be: a repairer's reason never makes the parked record too
/// large to produce.
const MAX_PARK_REASON_CHARS: usize = 1_000;

/// Headers of a parked record: everything the dead letter had, plus the reason (bounded).
pub fn parked(message: &Record, reason: &str) -> Vec<Header> {
    let mut headers: Vec<Header> =
        message.headers.iter().filter(|h| h.key != PARK_REASON).cloned().collect();
    headers.push(header(PARK_REASON, cut_to(reason, MAX_PARK_REASON_CHARS)));
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::outcome::MAX_VIOLATIONS;

    fn message(headers: Vec<Header>) -> Record {
        Record {
            key: None,
            value: b"{}".to_vec(),
            headers,
            topic: "user-login".into(),
            partition: 2,
            offset: 41,
            timestamp: Some(1730244200000),
        }
    }

    #[test]
    fn dead_letters_carry_provenance_and_keep_user_headers() {
        let m = message(vec![
            header("trace-id", "abc"),
            header(REPAIR_ATTEMPTS, "2"),
            header(STAGE, "old"),
        ]);
        let rejection = Rejection {
            stage: "validate".into(),
            plugin: "json-schema-validator".into(),
            violations: vec![Violation { path: "/ip".into(), reason: "bad".into() }],
            fault: None,
            cause: Default::default(),
        };
        let h = dead_letter(&m, &rejection);
        assert_eq!(get(&h, "trace-id"), Some(&b"abc"[..]));
        assert_eq!(get(&h, STAGE), Some(&b"validate"[..]));
        assert_eq!(get(&h, KIND), Some(&b"violation"[..]));
        assert_eq!(h.iter().filter(|x| x.key == STAGE).count(), 1);
        assert_eq!(get(&h, SOURCE_PARTITION), Some(&b"2"[..]));
        assert_eq!(get(&h, SOURCE_OFFSET), Some(&b"41"[..]));
        assert_eq!(get(&h, SOURCE_TIMESTAMP), Some(&b"1730244200000"[..]));
        assert_eq!(repair_attempts(&h), 2);
        assert_eq!(reasons(&h).unwrap(), rejection.violations);
    }

    #[test]
    fn repaired_records_count_attempts_and_shed_error_headers() {
        let m = message(vec![header(STAGE, "validate"), header("trace-id", "abc")]);
        let h = repaired(&m, 1);
        assert_eq!(repair_attempts(&h), 1);
        assert!(get(&h, STAGE).is_none());
        assert_eq!(get(&h, "trace-id"), Some(&b"abc"[..]));
    }

    #[test]
    fn park_reasons_are_bounded_whatever_the_repairer_says() {
        let h = parked(&message(vec![]), &"y".repeat(64 << 20));
        let reason = std::str::from_utf8(get(&h, PARK_REASON).unwrap()).unwrap();
        assert_eq!(reason.chars().count(), MAX_PARK_REASON_CHARS + 1);
        assert!(reason.ends_with('…'));
        assert_eq!(
            std::str::from_utf8(get(&parked(&message(vec![]), "short"), PARK_REASON).unwrap())
                .unwrap(),
            "short"
        );
    }

    #[test]
    fn reasons_are_bounded_whatever_the_plugin_says() {
        let many: Vec<Violation> = (0..1000)
            .map(|i| Violation { path: format!("/{i}"), reason: "x".repeat(100_000) })
            .collect();
        let rejection = Rejection {
            stage: "validate".into(),
            plugin: "v".into(),
            violations: many,
            fault: None,
            cause: Default::default(),
        };
        let h = dead_letter(&message(vec![]), &rejection);
        let reasons = reasons(&h).unwrap();
        assert_eq!(reasons.len(), MAX_VIOLATIONS + 1);
        assert_eq!(reasons.last().unwrap().reason, "… and 980 more violations");
        assert!(get(&h, REASONS).unwrap().len() < 8_000, "{}", get(&h, REASONS).unwrap().len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, failure_persistence: None, ..Default::default() })]

        /// Headers as a producer sends them (any keys, any bytes, weir's own names
        /// forged): reading them never panics, a forged count never overflows, and a dead
        /// letter carries at most the user's headers plus weir's few, reasons bounded.
        #[test]
        fn any_headers_read_and_carry_within_bounds(
            headers in proptest::collection::vec((proptest::sample::select(vec![REASONS, REPAIR_ATTEMPTS, REDRIVE_COUNT, "weir.x", "user"]), proptest::collection::vec(proptest::num::u8::ANY, 0..64)), 0..40),
            violations in proptest::collection::vec(".{0,400}", 0..100),
        ) {
            let headers: Vec<Header> = headers.into_iter().map(|(key, value)| Header { key: key.to_string(), value }).collect();
            let _ = (reasons(&headers), repair_attempts(&headers));
            let rejection = Rejection {
                stage: "validate".into(),
                plugin: "p".into(),
                violations: violations.into_iter().map(|reason| Violation { path: String::new(), reason }).collect(),
                fault: None,
                cause: Default::default(),
            };
            let (letter, peak) = crate::counting_alloc::peak_of(|| dead_letter(&message(headers.clone()), &rejection));
            let users = headers.iter().filter(|h| !h.key.starts_with("weir.")).count();
            proptest::prop_assert!(letter.len() <= users + 12, "{} headers", letter.len());
            let reasons = get(&letter, REASONS).unwrap();
            proptest::prop_assert!(reasons.len() < MAX_VIOLATIONS * 2_000, "{} bytes of reasons", reasons.len());
            proptest::prop_assert!(peak < 1 << 20, "peak {peak}");
        }
    }
}
