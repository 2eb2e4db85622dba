//! Records the broker refuses for good (too large, invalid): instead of wedging the flow
//! on them at every restart, each becomes a small pointer on the parked topic — where it
//! came from, its size, hash, a bounded prefix and the broker's reason — and the flow
//! goes on. Only a pointer that cannot be written either stops weir.

use super::produce::{Outgoing, Refused};
use weir_core::headers;
use weir_core::record::Header;

/// The pointer that stands in for `refused` on `parked_topic`.
pub fn pointer(refused: &Refused, parked_topic: &str) -> Outgoing {
    let mut value = serde_json::json!({
        "parked": "the record could not be produced; this points at it",
        "topic": refused.topic,
        "size": refused.size,
        "sha256": refused.sha256,
        "reason": refused.reason,
        "prefix": refused.prefix,
    });
    let mut headers = vec![
        header(headers::KIND, refused.kind),
        header(headers::PARK_REASON, &refused.reason),
        header(headers::POINTER, "true"),
    ];
    if let Some(origin) = &refused.origin {
        value["source"] = serde_json::json!({ "topic": origin.topic, "partition": origin.partition, "offset": origin.offset });
        headers.push(header(headers::SOURCE_TOPIC, &origin.topic));
        headers.push(header(headers::SOURCE_PARTITION, &origin.partition.to_string()));
        headers.push(header(headers::SOURCE_OFFSET, &origin.offset.to_string()));
    }
    Outgoing::new(parked_topic, refused.key.clone(), value.to_string().into_bytes(), headers)
}

fn header(key: &str, value: &str) -> Header {
    Header { key: key.to_string(), value: value.as_bytes().to_vec() }
}
