//! Records the broker refuses for good (too large, invalid): instead of wedging the flow
//! on them at every restart, each becomes a small pointer on the parked topic — where it
//! came from, its size, hash, a bounded prefix and the broker's reason — and the flow
//! goes on. Only a pointer that cannot be written either stops weir.

use super::flow::{Origin, Outgoing};
use crate::bindings::types::Header;
use crate::headers;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use sha2::{Digest, Sha256};

/// How much of a refused value a pointer quotes.
const PREFIX_BYTES: usize = 256;

/// A record the broker refused, as much of it as a pointer needs.
pub struct Refused {
    origin: Option<Origin>,
    topic: String,
    key: Option<Vec<u8>>,
    size: usize,
    sha256: String,
    prefix: String,
    reason: String,
    kind: &'static str,
}

impl Refused {
    pub fn new(topic: &str, key: Option<&[u8]>, value: &[u8], origin: Option<Origin>, error: &KafkaError) -> Refused {
        let oversize = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize)
        );
        let cut = value.len().min(PREFIX_BYTES);
        Refused {
            origin,
            topic: topic.to_string(),
            key: key.map(<[u8]>::to_vec),
            size: value.len(),
            sha256: hex::encode(Sha256::digest(value)),
            prefix: String::from_utf8_lossy(&value[..cut]).into_owned(),
            reason: format!("the broker refused it for {topic}: {error}"),
            kind: if oversize { "oversize" } else { "produce" },
        }
    }

    /// What the logs say about it.
    pub fn describe(&self) -> String {
        let origin = self.origin.as_ref().map_or_else(String::new, |o| format!(" from {}[{}]@{}", o.topic, o.partition, o.offset));
        format!("a record of {} bytes{origin}: {}", self.size, self.reason)
    }

    /// The pointer that stands in for it on `parked_topic`.
    pub fn pointer(&self, parked_topic: &str) -> Outgoing {
        let mut value = serde_json::json!({
            "parked": "the record could not be produced; this points at it",
            "topic": self.topic,
            "size": self.size,
            "sha256": self.sha256,
            "reason": self.reason,
            "prefix": self.prefix,
        });
        let mut headers = vec![
            header(headers::KIND, self.kind),
            header(headers::PARK_REASON, &self.reason),
            header(headers::POINTER, "true"),
        ];
        if let Some(origin) = &self.origin {
            value["source"] = serde_json::json!({ "topic": origin.topic, "partition": origin.partition, "offset": origin.offset });
            headers.push(header(headers::SOURCE_TOPIC, &origin.topic));
            headers.push(header(headers::SOURCE_PARTITION, &origin.partition.to_string()));
            headers.push(header(headers::SOURCE_OFFSET, &origin.offset.to_string()));
        }
        Outgoing::new(parked_topic, self.key.clone(), value.to_string().into_bytes(), headers)
    }
}

fn header(key: &str, value: &str) -> Header {
    Header { key: key.to_string(), value: value.as_bytes().to_vec() }
}
