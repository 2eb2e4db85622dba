//! weir's integration tests, one binary (as wasmtime's `tests/all`): wasmtime and rdkafka
//! are linked once, not once per file. Every test runs the real `weir` binary or library
//! against the real `.wasm` files built from `plugins/`, and Kafka tests against a real
//! broker (librdkafka's mock cluster in-process, or tansu as a separate process).

mod common;

mod catch_up;
mod cli;
mod contract;
mod deployment;
mod docs;
mod e2e_tansu;
mod faults;
mod formats;
mod fuzz;
mod hostile_input;
mod hot_swap;
mod init;
mod json_schema_suite;
mod kafka_embedded;
mod layering;
mod ops;
mod plugin_config;
mod plugin_new;
mod plugins;
mod poison;
mod polyglot;
mod registry;
mod replay;
mod routing;
mod secured;
mod shadow;
mod state;
mod status_page;
mod tables;
mod windows;
