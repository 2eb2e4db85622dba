//! Host-side bindings for the WIT contract in `wit/`, one module per world and version:
//! contract 0.1 (`wit/0.1.0/`) at the top, contract 0.2 (`wit/weir.wit`) in `v2`.
//!
//! The shared `types` and `host` interfaces are generated once per version (in
//! `validator`) and reused by the other worlds, so a `Message` is the same Rust type in
//! every stage. The host's own types are 0.1's: a 0.2 plugin's batches are framed from
//! and read into them (`stage::frame`).

pub mod validator {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "validator",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

pub mod transformer {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "transformer",
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

pub mod repairer {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
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
        path: "../wit/0.1.0",
        world: "aggregator",
        additional_derives: [PartialEq],
        with: {
            "weir:plugin/types": super::validator::weir::plugin::types,
            "weir:plugin/host": super::validator::weir::plugin::host,
        },
    });
}

/// Contract 0.2: the batch crosses as one buffer (`frame`) in every world.
pub mod v2 {
    pub mod validator {
        wasmtime::component::bindgen!({ path: "../wit", world: "validator" });
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
            with: {
                "weir:plugin/types": super::validator::weir::plugin::types,
                "weir:plugin/host": super::validator::weir::plugin::host,
            },
        });
    }

    pub use validator::weir::plugin::host;
}

pub use validator::weir::plugin::host;
pub use validator::weir::plugin::types;

impl types::Message {
    /// A record with no key or headers, read from `topic` (a file's name for files) at
    /// `partition` and `offset` (a line number for files).
    pub fn read_from(topic: &str, partition: i32, offset: i64, value: Vec<u8>) -> types::Message {
        types::Message {
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
