//! Contract 0.2's framing on the host side: a batch of records written as one buffer,
//! the plugin's answers read back from one. The layout is `weir_plugin::frame`'s (the
//! SDK's, so both sides share one implementation). An answer that does not read is
//! the plugin's broken contract, never a host panic.

use super::emitted::{Emitted, Transformed};
use super::wire::Wire;
use super::{Exports, Linked};
pub use crate::plugin::fault::BrokenAnswer;
use crate::plugin::returned::{self, Bounded};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::record::{Damaged, Header, Record, RepairOutcome, Violation};
use wasmtime::component::{Func, Instance, ResourceAny, TypedFunc};
use wasmtime::Store;
use weir_plugin::frame::{self, FrameError, Reader, ACCEPTED, REFUSED};

fn write_message(buf: &mut Vec<u8>, m: &Record) {
    let headers = |buf: &mut Vec<u8>| {
        frame::put_headers(buf, m.headers.iter().map(|h| (h.key.as_str(), h.value.as_slice())))
    };
    frame::write_record(
        buf,
        &m.value,
        m.key.as_deref(),
        headers,
        &m.topic,
        m.partition,
        m.offset,
        m.timestamp,
    );
}

fn frame_size(messages: impl Iterator<Item = usize>) -> usize {
    4 + messages.map(|value| value + 64).sum::<usize>()
}

/// A batch of records as one frame.
pub fn batch(messages: &[Record]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(frame_size(messages.iter().map(|m| m.value.len())));
    frame::put_u32(&mut buf, messages.len() as u32);
    for message in messages {
        write_message(&mut buf, message);
    }
    buf
}

/// A batch of records picked from elsewhere (a window's, out of a mixed batch).
pub fn batch_of(messages: &[&Record]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(frame_size(messages.iter().map(|m| m.value.len())));
    frame::put_u32(&mut buf, messages.len() as u32);
    for message in messages {
        write_message(&mut buf, message);
    }
    buf
}

/// A repairer's batch: each record followed by its violations.
pub fn damaged(letters: &[Damaged]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(frame_size(letters.iter().map(|d| d.message.value.len())));
    frame::put_u32(&mut buf, letters.len() as u32);
    for letter in letters {
        write_message(&mut buf, &letter.message);
        frame::put_violations(
            &mut buf,
            letter.violations.iter().map(|v| (v.path.as_str(), v.reason.as_str())),
        );
    }
    buf
}

/// Host memory an emitted record costs beyond its bytes (the structs around them),
/// charged against the call's budget: a small answer of many empty records must not
/// cost the host many times the plugin's memory limit.
pub const HOST_BYTES_PER_RECORD: usize = 128;

/// Host memory a violation or a header costs beyond its bytes: an 8-byte entry in the
/// frame becomes two owned strings, so a frame of empty ones would multiply its size.
pub const HOST_BYTES_PER_PART: usize = 64;

/// Charges a violation or header before the host copies it: its structs and its bytes.
fn charge_part(first: &str, second: usize) -> wasmtime::Result<()> {
    returned::charge(HOST_BYTES_PER_PART.saturating_add(first.len()).saturating_add(second))
}

/// Reads `count` answers, each with `read`, and checks nothing follows. A frame that does
/// not read is a `BrokenAnswer` naming where; other errors (a limit) pass through.
fn answers<T>(
    bytes: &[u8],
    count: usize,
    mut read: impl FnMut(&mut Reader<'_>) -> wasmtime::Result<T>,
) -> wasmtime::Result<Vec<T>> {
    let mut reader = Reader::new(bytes);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let answer = read(&mut reader).map_err(|e| match e.downcast::<FrameError>() {
            Ok(frame) => BrokenAnswer(format!("answer {} of {count}: {frame}", i + 1)).into(),
            Err(other) => other,
        })?;
        out.push(answer);
    }
    reader.end().map_err(|e| BrokenAnswer(format!("{count} answers expected: {e}")))?;
    Ok(out)
}

fn tag(reader: &mut Reader<'_>) -> Result<bool, FrameError> {
    match reader.u8()? {
        ACCEPTED => Ok(true),
        REFUSED => Ok(false),
        other => Err(FrameError(format!("unknown answer tag {other}"))),
    }
}

pub fn validated(bytes: &[u8], count: usize) -> wasmtime::Result<Vec<Result<(), Vec<Violation>>>> {
    answers(bytes, count, |r| {
        if tag(r)? {
            return Ok(Ok(()));
        }
        // Read one by one (not `frame::read_violations`' list): each is charged before
        // the host holds anything for it.
        let count = r.count(8)?;
        let mut violations = Vec::new();
        for _ in 0..count {
            let (path, reason) = (r.text()?, r.text()?);
            charge_part(path, reason.len())?;
            violations.push(Violation { path: path.into(), reason: reason.into() });
        }
        Ok(Err(violations))
    })
}

pub fn transformed(
    bytes: &[u8],
    count: usize,
) -> wasmtime::Result<Vec<Result<Transformed, String>>> {
    answers(bytes, count, |r| {
        if !tag(r)? {
            return Ok(Err(r.text()?.to_string()));
        }
        let emitted = r.count(13)?;
        returned::charge(emitted.saturating_mul(HOST_BYTES_PER_RECORD))?;
        let mut records = Vec::with_capacity(emitted);
        for _ in 0..emitted {
            let value = r.bytes()?.to_vec();
            let key = r.maybe_bytes()?.map(<[u8]>::to_vec);
            let mut headers = Vec::new();
            for (key, value) in frame::Headers::read(r)?.iter() {
                charge_part(key, value.len())?;
                headers.push(Header { key: key.into(), value: value.into() });
            }
            records.push(Emitted {
                value,
                key,
                headers,
                output: r.maybe_text()?.map(str::to_string),
            });
        }
        Ok(Ok(Transformed::Records(records)))
    })
}

pub fn repaired(bytes: &[u8], count: usize) -> wasmtime::Result<Vec<RepairOutcome>> {
    answers(bytes, count, |r| {
        Ok(match tag(r)? {
            true => RepairOutcome::Repaired(r.bytes()?.to_vec()),
            false => RepairOutcome::Unrepairable(r.text()?.to_string()),
        })
    })
}

pub(super) struct Framed;

/// Every 0.2 batch function: one frame in, one frame out.
type Call<'a> = (&'a [u8],);
type Answer = (Bounded<Vec<u8>>,);
type Update<'a> = (ResourceAny, &'a [u8]);

impl Wire for Framed {
    fn exports(
        &self,
        world: World,
        linked: &Linked,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Exports> {
        let name = match world {
            World::Validator => "validate",
            World::Transformer => "transform",
            World::Repairer => "repair",
            World::Aggregator => unreachable!("an aggregator's batch function is a method"),
        };
        Exports::of::<Call, Answer>(linked, store, name)
    }

    fn validate(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Record],
    ) -> wasmtime::Result<Vec<Result<(), Vec<Violation>>>> {
        validated(&call(exports, store, &self::batch(batch))?, batch.len())
    }

    fn transform(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Record],
    ) -> wasmtime::Result<Vec<Result<Transformed, String>>> {
        transformed(&call(exports, store, &self::batch(batch))?, batch.len())
    }

    fn repair(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Damaged],
    ) -> wasmtime::Result<Vec<RepairOutcome>> {
        repaired(&call(exports, store, &damaged(batch))?, batch.len())
    }

    fn update_export(
        &self,
        instance: &Instance,
        store: &mut Store<Sandbox>,
        interface: Option<&str>,
    ) -> wasmtime::Result<Func> {
        returned::export::<Update, ()>(instance, store, interface, "[method]state.update")
    }

    fn update(
        &self,
        update: Func,
        store: &mut Store<Sandbox>,
        state: ResourceAny,
        run: &[&Record],
    ) -> wasmtime::Result<()> {
        // SAFETY: the types were checked in `update_export`.
        let update = unsafe { TypedFunc::<Update, ()>::new_unchecked(update) };
        update.call(store, (state, &batch_of(run)))
    }
}

/// One frame in, the plugin's answer out (charged against the call's budget before it
/// is copied).
fn call(exports: &Exports, store: &mut Store<Sandbox>, frame: &[u8]) -> wasmtime::Result<Vec<u8>> {
    let (answer,) = exports.call::<Call, Answer>(store, (frame,))?;
    Ok(answer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_framed_by_the_host_reads_in_the_sdk_field_for_field() {
        let mut message = Record::read_from("logins", 2, 7, b"{}".to_vec());
        message.key = Some(b"k".to_vec());
        message.headers = vec![Header { key: "h".into(), value: b"v".to_vec() }];
        message.timestamp = Some(5);
        let bytes = batch(&[message.clone(), Record::read_from("-", 0, 1, b"x".to_vec())]);
        let records = frame::records(&bytes).unwrap();
        let r = records[0];
        assert_eq!(
            (r.value, r.key, r.topic, r.partition, r.offset, r.timestamp),
            (&b"{}"[..], Some(&b"k"[..]), "logins", 2, 7, Some(5))
        );
        assert_eq!(r.headers.iter().collect::<Vec<_>>(), vec![("h", &b"v"[..])]);
        assert_eq!(records[1].timestamp, None);
    }

    #[test]
    fn answers_that_do_not_read_are_broken_answers_naming_where() {
        let broken = |e: wasmtime::Error| e.downcast::<BrokenAnswer>().unwrap().0;
        assert_eq!(validated(&[0, 0], 2).unwrap(), vec![Ok(()), Ok(())]);
        assert!(broken(validated(&[0], 2).unwrap_err()).starts_with("answer 2 of 2"));
        assert!(broken(validated(&[0, 0, 0], 2).unwrap_err()).contains("1 bytes after"));
        assert!(broken(validated(&[7], 1).unwrap_err()).contains("unknown answer tag 7"));
        // A count of emitted records that cannot fit what is left is refused before any allocation.
        assert!(broken(transformed(&[0, 0xff, 0xff, 0xff, 0xff], 1).unwrap_err())
            .contains("cannot fit"));
        let mut refused = vec![1];
        frame::put_bytes(&mut refused, b"no");
        assert_eq!(repaired(&refused, 1).unwrap(), vec![RepairOutcome::Unrepairable("no".into())]);
    }

    /// A frame of `answers` answers, each accepted or refused with `parts` violations or
    /// headers of `part_len` bytes, then damaged at one byte (or not).
    fn a_frame(
        transformer: bool,
        answers: &[(bool, usize)],
        part_len: usize,
        damage: Option<(usize, u8)>,
    ) -> Vec<u8> {
        let mut frame = Vec::new();
        let part = "p".repeat(part_len);
        for &(accepted, parts) in answers {
            frame.push(if accepted { ACCEPTED } else { REFUSED });
            let parts = std::iter::repeat_n((part.as_str(), part.as_str()), parts);
            match (transformer, accepted) {
                (false, true) => {}
                (false, false) => frame::put_violations(&mut frame, parts),
                (true, false) => frame::put_bytes(&mut frame, b"why"),
                (true, true) => {
                    frame::put_u32(&mut frame, 1);
                    frame::put_bytes(&mut frame, b"{}");
                    frame::put_maybe_bytes(&mut frame, None);
                    frame::put_headers(&mut frame, parts.map(|(k, v)| (k, v.as_bytes())));
                    frame::put_maybe_text(&mut frame, None);
                }
            }
        }
        if let Some((at, byte)) = damage.filter(|_| !frame.is_empty()) {
            let at = at % frame.len();
            frame[at] = byte;
        }
        frame
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, failure_persistence: None, ..Default::default() })]

        /// Whatever a plugin answers — well-formed, damaged at any byte — reading it never
        /// panics and the host holds at most a few times the call's budget, however many
        /// parts the frame claims.
        #[test]
        fn any_answer_reads_within_the_calls_budget(
            transformer: bool,
            answers in proptest::collection::vec((proptest::bool::ANY, 0usize..6000), 1..4),
            part_len in 0usize..40,
            damage in proptest::option::of((proptest::num::usize::ANY, proptest::num::u8::ANY)),
        ) {
            const BUDGET: usize = 64 * 1024;
            let frame = a_frame(transformer, &answers, part_len, damage);
            let count = answers.len();
            let (_, peak) = crate::counting_alloc::peak_of(|| returned::bounded(BUDGET, || {
                if transformer { transformed(&frame, count).map(drop) } else { validated(&frame, count).map(drop) }
            }));
            proptest::prop_assert!(peak <= 4 * BUDGET + 16 * 1024, "peak {peak} for a {} byte frame", frame.len());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, failure_persistence: None, ..Default::default() })]

        /// The other direction: a batch as the host frames it, damaged at any byte or cut
        /// anywhere, read by the SDK in the guest. It never panics, and what it holds is
        /// bounded by the frame's length (every count is checked against the bytes left).
        #[test]
        fn any_batch_reads_in_the_sdk_within_its_length(
            values in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 1..20),
            headers in 0usize..50,
            damage in proptest::option::of((proptest::num::usize::ANY, proptest::num::u8::ANY)),
            cut in proptest::option::of(proptest::num::usize::ANY),
        ) {
            let messages: Vec<Record> = values.into_iter().enumerate().map(|(i, value)| {
                let mut m = Record::read_from("t", 0, i as i64, value);
                m.headers = (0..headers).map(|h| Header { key: format!("h{h}"), value: vec![1] }).collect();
                m
            }).collect();
            let mut bytes = batch(&messages);
            if let Some((at, byte)) = damage {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            if let Some(cut) = cut {
                bytes.truncate(cut % (bytes.len() + 1));
            }
            let (read, peak) = crate::counting_alloc::peak_of(|| frame::records(&bytes).map(|records| records.len()));
            proptest::prop_assert!(peak <= 16 * bytes.len() + 4096, "peak {peak} for {} bytes", bytes.len());
            if damage.is_none() && cut.is_none() {
                proptest::prop_assert_eq!(read, Ok(messages.len()));
            }
        }
    }

    /// A refusal of 10,000 empty violations, or a record of 10,000 empty headers: 80 KB
    /// of frame that would become ~0.5-0.8 MB of host structs if not charged.
    fn many_empty_parts(transformer: bool) -> Vec<u8> {
        a_frame(transformer, &[(transformer, 10_000)], 0, None)
    }

    #[test]
    fn violations_and_headers_are_charged_like_records_before_the_host_copies_them() {
        let over =
            |e: wasmtime::Error| e.downcast::<crate::plugin::limiter::LimitExceeded>().is_ok();
        for transformer in [false, true] {
            let frame = many_empty_parts(transformer);
            // The frame alone fits the budget; its parts as host structs do not.
            let budget = frame.len() * 4;
            let answer = || {
                if transformer {
                    transformed(&frame, 1).map(drop)
                } else {
                    validated(&frame, 1).map(drop)
                }
            };
            assert!(answer().is_ok(), "outside a bounded call nothing is charged");
            assert!(
                over(returned::bounded(budget, answer).unwrap_err()),
                "transformer: {transformer}"
            );
            assert!(returned::bounded(10_000 * (HOST_BYTES_PER_PART + 8) + 1024, answer).is_ok());
        }
    }
}
