//! The host's own record and what stages say about it, independent of any contract
//! version: plugins see these through their contract's adapter (`stage::listed` for 0.1,
//! `stage::frame` for 0.2), never as generated bindings.

use serde::{Deserialize, Serialize};

/// One Kafka header; values are raw bytes as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub key: String,
    pub value: Vec<u8>,
}

/// A record as consumed, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<Header>,
    /// Source topic; a file's name for records read from a file, "-" for stdin.
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the Unix epoch, when known.
    pub timestamp: Option<i64>,
}

impl Record {
    /// A record with no key or headers, read from `topic` (a file's name for files) at
    /// `partition` and `offset` (a line number for files).
    pub fn read_from(topic: &str, partition: i32, offset: i64, value: Vec<u8>) -> Record {
        Record {
            key: None,
            value,
            headers: Vec::new(),
            topic: topic.to_string(),
            partition,
            offset,
            timestamp: None,
        }
    }
}

/// Why a value does not satisfy a stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// JSON pointer (RFC 6901) to the offending part of the value; "" is the root.
    pub path: String,
    pub reason: String,
}

/// A dead letter handed to a repairer: the original record and why it was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Damaged {
    pub message: Record,
    pub violations: Vec<Violation>,
}

/// What a repairer makes of one dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RepairOutcome {
    /// The new value, to be validated again and sent back to the input topic.
    Repaired(Vec<u8>),
    /// Cannot be fixed; the reason ends up in the parked record's headers.
    Unrepairable(String),
}
