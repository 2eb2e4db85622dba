//! What a transformer makes of a record: a new value (contract 0.1) or 0..N records
//! (contract 0.2), as the host reads them from either.

use crate::record::Header;

/// What a transformer made of one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Transformed {
    /// Contract 0.1: a new value; key and headers stay the record's.
    Value(Vec<u8>),
    /// Contract 0.2: the records it becomes (none: it is filtered out).
    Records(Vec<Emitted>),
}

impl Transformed {
    /// The value, if it is one record (always, for contract 0.1).
    pub fn single_value(&self) -> Option<&[u8]> {
        match self {
            Transformed::Value(value) => Some(value),
            Transformed::Records(records) => match records.as_slice() {
                [one] => Some(&one.value),
                _ => None,
            },
        }
    }

    pub fn into_single_value(self) -> Option<Vec<u8>> {
        match self {
            Transformed::Value(value) => Some(value),
            Transformed::Records(mut records) if records.len() == 1 => {
                records.pop().map(|r| r.value)
            }
            Transformed::Records(_) => None,
        }
    }
}

/// One record a 0.2 transformer emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub value: Vec<u8>,
    pub key: Option<Vec<u8>>,
    pub headers: Vec<Header>,
    /// A name among the stage's `outputs`; `None`: the output topic.
    pub output: Option<String>,
}
