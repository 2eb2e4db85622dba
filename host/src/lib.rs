//! weir: streams Kafka records through WebAssembly plugins.
//!
//! The host owns I/O, limits and delivery; plugins (components implementing a world of
//! `wit/weir.wit`) own the logic. The plugin engine, stages, pipeline and the driver loop
//! are `weir-stream-core` (`weir_core`), Kafka is `weir-kafka` (both re-exported here under their own names);
//! this crate adds `offline` (files as a source and sinks), `resolve` (what a stage's plugin
//! receives at `init`: schema files, resources, the schema `registry`), the operator's
//! HTTP server (`ops::server`) and the tools: `bench`, `demo`, `scaffold`, `plugin_tool`.
//! The CLI is `cmd/` in the binary.

pub use weir_core::{
    bindings, breaker, config, dead_letter, driver, format, headers, hot_swap, json_stderr,
    pipeline, plugin, report, runtime_for, say, secret, stage, state, stats, text, window,
};

/// The core's metrics and health, and the HTTP server that serves them.
pub mod ops {
    pub use weir_core::ops::*;
    pub mod server;
}

pub use weir_kafka as kafka;

pub mod bench;
pub mod demo;
pub mod offline;
pub mod plugin_tool;
pub mod registry;
pub mod resolve;
pub mod resources;
pub mod scaffold;
pub mod shipped;
