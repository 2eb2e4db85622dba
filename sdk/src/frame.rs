//! The framing of contract 0.2: a batch, and the answers to it, each as one buffer
//! (`frame` in `wit/weir.wit`, where the layout is specified).
//!
//! Both sides use this module — the host to write batches and read answers, the SDK to
//! read batches and write answers — so the format has one implementation. Reading
//! borrows: a [`Record`] is a view into the batch, nothing is copied.

use std::fmt;

/// Length that means "none" for `maybe-bytes` and `maybe-text`.
const NONE: u32 = u32::MAX;
/// Timestamp that means "unknown".
const NO_TIMESTAMP: i64 = i64::MIN;
/// First byte of an answer: the record went through (valid, transformed, repaired)…
pub const ACCEPTED: u8 = 0;
/// …or it did not (violations, a transform's error, unrepairable).
pub const REFUSED: u8 = 1;

/// Why a buffer is not a well-formed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FrameError {}

/// Reads a frame front to back; every read checks the bounds.
pub struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], FrameError> {
        let end =
            self.at.checked_add(len).filter(|end| *end <= self.bytes.len()).ok_or_else(|| {
                FrameError(format!(
                    "{what} of {len} bytes at byte {} runs past the end ({} bytes)",
                    self.at,
                    self.bytes.len()
                ))
            })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FrameError> {
        Ok(self.take(N, what)?.try_into().expect("took N bytes"))
    }

    pub fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.array::<1>("a tag")?[0])
    }

    pub fn u32(&mut self) -> Result<u32, FrameError> {
        self.array("a length").map(u32::from_le_bytes)
    }

    pub fn i32(&mut self) -> Result<i32, FrameError> {
        self.array("an s32").map(i32::from_le_bytes)
    }

    pub fn i64(&mut self) -> Result<i64, FrameError> {
        self.array("an s64").map(i64::from_le_bytes)
    }

    pub fn bytes(&mut self) -> Result<&'a [u8], FrameError> {
        let len = self.u32()?;
        self.take(len as usize, "a byte string")
    }

    pub fn maybe_bytes(&mut self) -> Result<Option<&'a [u8]>, FrameError> {
        match self.u32()? {
            NONE => Ok(None),
            len => self.take(len as usize, "a byte string").map(Some),
        }
    }

    pub fn text(&mut self) -> Result<&'a str, FrameError> {
        let at = self.at;
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map_err(|_| FrameError(format!("the text at byte {at} is not UTF-8")))
    }

    pub fn maybe_text(&mut self) -> Result<Option<&'a str>, FrameError> {
        let at = self.at;
        match self.maybe_bytes()? {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|_| FrameError(format!("the text at byte {at} is not UTF-8"))),
        }
    }

    /// A count of items that each take at least `min_size` bytes, checked against what is
    /// left so that a corrupt count cannot make the reader reserve a huge buffer.
    pub fn count(&mut self, min_size: usize) -> Result<usize, FrameError> {
        let count = self.u32()? as usize;
        let left = self.bytes.len() - self.at;
        if count.saturating_mul(min_size) > left {
            return Err(FrameError(format!(
                "a count of {count} at byte {} cannot fit in the {left} bytes left",
                self.at - 4
            )));
        }
        Ok(count)
    }

    /// Fails if anything is left: a frame holds exactly what it says.
    pub fn end(&self) -> Result<(), FrameError> {
        match self.bytes.len() - self.at {
            0 => Ok(()),
            extra => Err(FrameError(format!("{extra} bytes after the last answer"))),
        }
    }
}

/// A record's headers as a view into the frame, in order (a key may repeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Headers<'a> {
    raw: &'a [u8],
    count: usize,
}

impl<'a> Headers<'a> {
    /// No headers.
    pub const NONE: Headers<'static> = Headers { raw: &[], count: 0 };

    /// Reads headers, checking all of them, so that iterating never fails.
    pub fn read(reader: &mut Reader<'a>) -> Result<Headers<'a>, FrameError> {
        let count = reader.count(8)?;
        let start = reader.at;
        for _ in 0..count {
            reader.text()?;
            reader.bytes()?;
        }
        Ok(Headers { raw: &reader.bytes[start..reader.at], count })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        let mut reader = Reader::new(self.raw);
        (0..self.count).map(move |_| {
            (reader.text().expect("checked when read"), reader.bytes().expect("checked when read"))
        })
    }

    /// The last value of header `key`.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.iter().filter(|(k, _)| *k == key).last().map(|(_, v)| v)
    }

    /// Writes them as they came: a copy of the bytes.
    pub fn write(&self, buf: &mut Vec<u8>) {
        put_u32(buf, self.count as u32);
        buf.extend_from_slice(self.raw);
    }
}

/// One record of a batch, borrowed from the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub value: &'a [u8],
    pub key: Option<&'a [u8]>,
    pub headers: Headers<'a>,
    /// Source topic; "-" for records read from a file or stdin.
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    /// Record timestamp, milliseconds since the Unix epoch, when known.
    pub timestamp: Option<i64>,
}

impl<'a> Record<'a> {
    /// A record with only a value, as read from a file: for tests and native use.
    pub fn new(value: &'a [u8]) -> Record<'a> {
        Record {
            value,
            key: None,
            headers: Headers::NONE,
            topic: "-",
            partition: 0,
            offset: 0,
            timestamp: None,
        }
    }

    pub fn read(reader: &mut Reader<'a>) -> Result<Record<'a>, FrameError> {
        Ok(Record {
            value: reader.bytes()?,
            key: reader.maybe_bytes()?,
            headers: Headers::read(reader)?,
            topic: reader.text()?,
            partition: reader.i32()?,
            offset: reader.i64()?,
            timestamp: Some(reader.i64()?).filter(|t| *t != NO_TIMESTAMP),
        })
    }

    pub fn write(&self, buf: &mut Vec<u8>) {
        write_record(
            buf,
            self.value,
            self.key,
            |buf| self.headers.write(buf),
            self.topic,
            self.partition,
            self.offset,
            self.timestamp,
        );
    }
}

/// Smallest encoded record: every length and number, no bytes.
const MIN_RECORD: usize = 4 + 4 + 4 + 4 + 4 + 8 + 8;

/// Writes one record; `headers` writes its headers (`put_headers`, `Headers::write`).
#[allow(clippy::too_many_arguments)]
pub fn write_record(
    buf: &mut Vec<u8>,
    value: &[u8],
    key: Option<&[u8]>,
    headers: impl FnOnce(&mut Vec<u8>),
    topic: &str,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
) {
    put_bytes(buf, value);
    put_maybe_bytes(buf, key);
    headers(buf);
    put_bytes(buf, topic.as_bytes());
    buf.extend_from_slice(&partition.to_le_bytes());
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&timestamp.unwrap_or(NO_TIMESTAMP).to_le_bytes());
}

/// A batch's records (a repairer's batch: use `Reader` and read each record's violations).
pub fn records(frame: &[u8]) -> Result<Vec<Record<'_>>, FrameError> {
    let mut reader = Reader::new(frame);
    let count = reader.count(MIN_RECORD)?;
    let records = (0..count).map(|_| Record::read(&mut reader)).collect::<Result<Vec<_>, _>>()?;
    reader.end()?;
    Ok(records)
}

/// The violations that follow a repairer's record, or a validator's refusal.
pub fn read_violations<'a>(reader: &mut Reader<'a>) -> Result<Vec<(&'a str, &'a str)>, FrameError> {
    let count = reader.count(8)?;
    (0..count).map(|_| Ok((reader.text()?, reader.text()?))).collect()
}

pub fn put_violations<'v>(
    buf: &mut Vec<u8>,
    violations: impl ExactSizeIterator<Item = (&'v str, &'v str)>,
) {
    put_u32(buf, violations.len() as u32);
    for (path, reason) in violations {
        put_bytes(buf, path.as_bytes());
        put_bytes(buf, reason.as_bytes());
    }
}

pub fn put_headers<'h>(
    buf: &mut Vec<u8>,
    headers: impl ExactSizeIterator<Item = (&'h str, &'h [u8])>,
) {
    put_u32(buf, headers.len() as u32);
    for (key, value) in headers {
        put_bytes(buf, key.as_bytes());
        put_bytes(buf, value);
    }
}

pub fn put_u32(buf: &mut Vec<u8>, n: u32) {
    buf.extend_from_slice(&n.to_le_bytes());
}

pub fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(buf, u32::try_from(bytes.len()).expect("a frame field is under 4 GiB"));
    buf.extend_from_slice(bytes);
}

pub fn put_maybe_bytes(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => put_bytes(buf, bytes),
        None => put_u32(buf, NONE),
    }
}

pub fn put_maybe_text(buf: &mut Vec<u8>, text: Option<&str>) {
    put_maybe_bytes(buf, text.map(str::as_bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(buf: &mut Vec<u8>) {
        put_u32(buf, 2);
        Record::new(b"{\"a\":1}").write(buf);
        write_record(
            buf,
            b"v",
            Some(b"k"),
            |b| put_headers(b, [("h", &b"1"[..]), ("h", b"2")].into_iter()),
            "logins",
            3,
            42,
            Some(1_700_000_000_000),
        );
    }

    #[test]
    fn a_batch_reads_back_as_written_borrowing_the_frame() {
        let mut buf = Vec::new();
        sample(&mut buf);
        let records = records(&buf).unwrap();
        assert_eq!(records[0], Record::new(b"{\"a\":1}"));
        let second = records[1];
        assert_eq!(
            (second.value, second.key, second.topic, second.partition, second.offset),
            (&b"v"[..], Some(&b"k"[..]), "logins", 3, 42)
        );
        assert_eq!(second.timestamp, Some(1_700_000_000_000));
        assert_eq!(
            second.headers.iter().collect::<Vec<_>>(),
            vec![("h", &b"1"[..]), ("h", &b"2"[..])]
        );
        assert_eq!(second.headers.get("h"), Some(&b"2"[..]));
        let mut again = Vec::new();
        put_u32(&mut again, 2);
        records.iter().for_each(|r| r.write(&mut again));
        assert_eq!(again, buf, "a record view writes back byte for byte");
    }

    #[test]
    fn every_truncation_and_every_trailing_byte_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        sample(&mut buf);
        for len in 0..buf.len() {
            assert!(records(&buf[..len]).is_err(), "truncated at {len}");
        }
        buf.push(0);
        assert_eq!(records(&buf).unwrap_err(), FrameError("1 bytes after the last answer".into()));
    }

    #[test]
    fn a_huge_count_is_refused_before_anything_is_reserved() {
        let frame = [0xff, 0xff, 0xff, 0x7f];
        assert!(records(&frame).unwrap_err().0.contains("cannot fit"));
        let mut bad_text = Vec::new();
        put_u32(&mut bad_text, 1);
        write_record(
            &mut bad_text,
            b"",
            None,
            |b| put_headers(b, [("\u{e9}", &b""[..])].into_iter()),
            "t",
            0,
            0,
            None,
        );
        let at = bad_text.iter().position(|b| *b == 0xc3).unwrap();
        bad_text[at] = 0xff;
        assert!(records(&bad_text).unwrap_err().0.contains("not UTF-8"));
    }
}
