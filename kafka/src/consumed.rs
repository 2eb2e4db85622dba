//! Consumed records: as the plugins see them, or — when the contract cannot carry them —
//! as they came; and where each batch read up to, for the commit.

use rdkafka::message::{BorrowedHeaders, BorrowedMessage, Headers, Message as _, OwnedHeaders};
use std::collections::BTreeMap;
use weir_core::record::{Header, Record};

/// A consumed record the contract cannot carry: a header key that is not UTF-8 (a WIT
/// `string`). It goes to the dead letters (or is parked) as it came, never to a plugin.
pub struct Unreadable {
    /// Where it came from, its key and value; headers left out (see `raw_headers`).
    pub message: Record,
    pub raw_headers: OwnedHeaders,
    pub reason: String,
}

/// What one poll brought: records for the plugins, and records they cannot be given.
#[derive(Default)]
pub struct Polled {
    pub messages: Vec<Record>,
    pub unreadable: Vec<Unreadable>,
}

impl Polled {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.unreadable.is_empty()
    }

    /// The last offset read in each partition, unreadable records included.
    pub fn positions(&self) -> Positions {
        positions(self.messages.iter().chain(self.unreadable.iter().map(|u| &u.message)))
    }
}

/// The last offset of a batch in each partition it read.
pub struct Positions(pub(super) Vec<(String, i32, i64)>);

pub fn positions<'a>(batch: impl IntoIterator<Item = &'a Record>) -> Positions {
    let mut last: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for m in batch {
        let slot = last.entry((m.topic.as_str(), m.partition)).or_insert(m.offset);
        *slot = (*slot).max(m.offset);
    }
    Positions(last.into_iter().map(|((t, p), o)| (t.to_string(), p, o)).collect())
}

/// A consumed record as the plugins see it (a null value, a tombstone, is empty bytes), or
/// why it cannot be one.
pub fn read(record: &BorrowedMessage<'_>) -> Result<Record, Box<Unreadable>> {
    let mut message = without_headers(record);
    for (i, (key, value)) in raw_headers(record).into_iter().enumerate() {
        match String::from_utf8(key) {
            Ok(key) => message.headers.push(Header { key, value }),
            Err(key) => {
                message.headers.clear();
                let reason = format!(
                    "header {i} has a key that is not UTF-8 ({} bytes), which weir's contract cannot carry; the record is kept as it came",
                    key.as_bytes().len()
                );
                let raw_headers = record.headers().map(|h| h.detach()).unwrap_or_default();
                return Err(Box::new(Unreadable { message, raw_headers, reason }));
            }
        }
    }
    Ok(message)
}

/// A consumed record for display: header keys that are not UTF-8 shown lossily.
pub fn owned(record: &BorrowedMessage<'_>) -> Record {
    let mut message = without_headers(record);
    message.headers = raw_headers(record)
        .into_iter()
        .map(|(key, value)| Header { key: String::from_utf8_lossy(&key).into_owned(), value })
        .collect();
    message
}

fn without_headers(record: &BorrowedMessage<'_>) -> Record {
    Record {
        key: record.key().map(<[u8]>::to_vec),
        value: record.payload().unwrap_or_default().to_vec(),
        headers: Vec::new(),
        topic: record.topic().to_string(),
        partition: record.partition(),
        offset: record.offset(),
        timestamp: record.timestamp().to_millis(),
    }
}

/// Every header as bytes. rdkafka 0.39's own accessor unwraps the key as UTF-8 (a panic
/// on any other key), so this asks librdkafka directly.
fn raw_headers(record: &BorrowedMessage<'_>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Some(headers) = record.headers() else {
        return Vec::new();
    };
    // A `&BorrowedHeaders` is librdkafka's `rd_kafka_headers_t *` (rdkafka's own
    // representation: the zero-sized type is never read, only its address).
    let native = headers as *const BorrowedHeaders as *const rdkafka_sys::rd_kafka_headers_t;
    (0..headers.count())
        .filter_map(|i| {
            let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0usize);
            // SAFETY: `native` is valid while `record` is borrowed; librdkafka returns a
            // NUL-terminated name and a value of `size` bytes (or null), both owned by it.
            unsafe {
                let error = rdkafka_sys::rd_kafka_header_get_all(
                    native, i, &mut name, &mut value, &mut size,
                );
                if error != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                    || name.is_null()
                {
                    return None;
                }
                let key = std::ffi::CStr::from_ptr(name).to_bytes().to_vec();
                let value = if value.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(value as *const u8, size).to_vec()
                };
                Some((key, value))
            }
        })
        .collect()
}
