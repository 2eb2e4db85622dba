//! Host-side bindings for the WIT contract in `wit/`, one module per world.
//!
//! The shared `types` and `host` interfaces are generated once (in `validator`) and
//! reused by the other worlds, so a `Message` is the same Rust type in every stage.

pub mod validator {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "validator",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub mod transformer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "transformer",
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

pub mod repairer {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "repairer",
        additional_derives: [PartialEq],
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

pub mod aggregator {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "aggregator",
        additional_derives: [PartialEq],
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

pub use validator::weir::plugin::host;
pub use validator::weir::plugin::types;


impl types::Message {
    /// A record with no key or headers, read from `topic` (a file's name for files) at
    /// `partition` and `offset` (a line number for files).
    pub fn read_from(topic: &str, partition: i32, offset: i64, value: Vec<u8>) -> types::Message {
        types::Message { key: None, value, headers: Vec::new(), topic: topic.to_string(), partition, offset, timestamp: None }
    }
}
