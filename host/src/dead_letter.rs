//! A dead letter written to a file: the original value and why it was rejected.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use weir_core::record::Violation;

/// One line of a `--dead-letter` file. The value is kept as text when it is UTF-8,
/// else as base64, so no byte of the original is lost.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct DeadLetterLine {
    /// Where the record came from, e.g. `input.jsonl:12`.
    pub source: String,
    pub stage: String,
    pub plugin: String,
    pub violations: Vec<Violation>,
    /// The host's verdicts: `late` for a record that missed its window (it was delivered
    /// too), `format` for one not in its topic's format; else absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value_base64: Option<String>,
}

impl DeadLetterLine {
    pub fn encode_value(bytes: &[u8]) -> (Option<String>, Option<String>) {
        match std::str::from_utf8(bytes) {
            Ok(text) => (Some(text.to_string()), None),
            Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(bytes))),
        }
    }

    pub fn value_bytes(&self) -> Option<Vec<u8>> {
        if let Some(text) = &self.value {
            return Some(text.as_bytes().to_vec());
        }
        base64::engine::general_purpose::STANDARD.decode(self.value_base64.as_ref()?).ok()
    }
}
