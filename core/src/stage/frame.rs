//! Contract 0.2's framing on the host side: a batch of records written as one buffer,
//! the plugin's answers read back from one. The layout is `weir_plugin::frame`'s (the
//! SDK's, so both sides share one implementation). An answer that does not read is
//! the plugin's broken contract, never a host panic.

use super::emitted::{Emitted, Transformed};
use crate::bindings::types::{Damaged, Header, Message, RepairOutcome, Violation};
pub use crate::plugin::fault::BrokenAnswer;
use crate::plugin::returned;
use weir_plugin::frame::{self, FrameError, Reader, ACCEPTED, REFUSED};

fn write_message(buf: &mut Vec<u8>, m: &Message) {
    let headers = |buf: &mut Vec<u8>| frame::put_headers(buf, m.headers.iter().map(|h| (h.key.as_str(), h.value.as_slice())));
    frame::write_record(buf, &m.value, m.key.as_deref(), headers, &m.topic, m.partition, m.offset, m.timestamp);
}

fn frame_size(messages: impl Iterator<Item = usize>) -> usize {
    4 + messages.map(|value| value + 64).sum::<usize>()
}

/// A batch of records as one frame.
pub fn batch(messages: &[Message]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(frame_size(messages.iter().map(|m| m.value.len())));
    frame::put_u32(&mut buf, messages.len() as u32);
    for message in messages {
        write_message(&mut buf, message);
    }
    buf
}

/// A batch of records picked from elsewhere (a window's, out of a mixed batch).
pub fn batch_of(messages: &[&Message]) -> Vec<u8> {
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
        frame::put_violations(&mut buf, letter.violations.iter().map(|v| (v.path.as_str(), v.reason.as_str())));
    }
    buf
}

/// Host memory an emitted record costs beyond its bytes (the structs around them),
/// charged against the call's budget: a small answer of many empty records must not
/// cost the host many times the plugin's memory limit.
pub const HOST_BYTES_PER_RECORD: usize = 128;

/// Reads `count` answers, each with `read`, and checks nothing follows. A frame that does
/// not read is a `BrokenAnswer` naming where; other errors (a limit) pass through.
fn answers<T>(bytes: &[u8], count: usize, mut read: impl FnMut(&mut Reader<'_>) -> wasmtime::Result<T>) -> wasmtime::Result<Vec<T>> {
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
        let violations = frame::read_violations(r)?;
        Ok(Err(violations.into_iter().map(|(path, reason)| Violation { path: path.into(), reason: reason.into() }).collect()))
    })
}

pub fn transformed(bytes: &[u8], count: usize) -> wasmtime::Result<Vec<Result<Transformed, String>>> {
    answers(bytes, count, |r| {
        if !tag(r)? {
            return Ok(Err(r.text()?.to_string()));
        }
        let emitted = r.count(13)?;
        returned::charge(emitted.saturating_mul(HOST_BYTES_PER_RECORD))?;
        let mut records = Vec::with_capacity(emitted);
        for _ in 0..emitted {
            records.push(Emitted {
                value: r.bytes()?.to_vec(),
                key: r.maybe_bytes()?.map(<[u8]>::to_vec),
                headers: frame::Headers::read(r)?.iter().map(|(key, value)| Header { key: key.into(), value: value.into() }).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_framed_by_the_host_reads_in_the_sdk_field_for_field() {
        let mut message = Message::read_from("logins", 2, 7, b"{}".to_vec());
        message.key = Some(b"k".to_vec());
        message.headers = vec![Header { key: "h".into(), value: b"v".to_vec() }];
        message.timestamp = Some(5);
        let bytes = batch(&[message.clone(), Message::read_from("-", 0, 1, b"x".to_vec())]);
        let records = frame::records(&bytes).unwrap();
        let r = records[0];
        assert_eq!((r.value, r.key, r.topic, r.partition, r.offset, r.timestamp), (&b"{}"[..], Some(&b"k"[..]), "logins", 2, 7, Some(5)));
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
        assert!(broken(transformed(&[0, 0xff, 0xff, 0xff, 0xff], 1).unwrap_err()).contains("cannot fit"));
        let mut refused = vec![1];
        frame::put_bytes(&mut refused, b"no");
        assert_eq!(repaired(&refused, 1).unwrap(), vec![RepairOutcome::Unrepairable("no".into())]);
    }
}
