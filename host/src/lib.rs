//! weir: streams Kafka records through WebAssembly plugins.
//!
//! The host owns I/O, limits and delivery; plugins (components implementing a world of
//! `wit/weir.wit`) own the logic. The plugin engine, stages, pipeline and the driver loop
//! are `weir-stream-core` (`weir_core`), Kafka is `weir-kafka` (`weir_kafka`): this crate
//! names them, it does not re-export them. It adds `offline` (files as a source and sinks),
//! `resolve` (what a stage's plugin receives at `init`: schema files, resources, the schema
//! `registry`), the operator's HTTP `server` and the tools: `bench`, `demo`, `scaffold`,
//! `plugin_tool`.
//! The CLI is `cmd/` in the binary.

pub mod bench;
pub mod dead_letter;
pub mod demo;
pub mod offline;
pub mod plugin_tool;
pub mod registry;
pub mod resolve;
pub mod resources;
pub mod scaffold;
pub mod server;
pub mod shipped;
