//! weir: streams Kafka records through WebAssembly plugins.
//!
//! The host owns I/O, limits and delivery; plugins (components implementing a world of
//! `wit/weir.wit`) own the logic. Modules, from the contract outwards: `bindings`
//! (generated from WIT) → `plugin` (engine, sandbox, limiter, faults, loading) → `stage`
//! (one instance of one world, with fault isolation) → `pipeline` / `repair` (the stage
//! chains, no I/O) → `driver` (the one loop: a `Source`, the plugins, a `Sink`) → `offline`
//! (files) and `kafka` (topics) as sources and sinks → `ops` (metrics, health, their HTTP
//! server) → the CLI (`cmd/` in the binary).

pub mod bench;
pub mod bindings;
pub mod breaker;
pub mod config;
pub mod dead_letter;
pub mod demo;
pub mod driver;
pub mod headers;
pub mod hot_swap;
pub mod kafka;
pub mod offline;
pub mod ops;
pub mod pipeline;
pub mod plugin;
pub mod plugin_tool;
pub mod registry;
pub mod repair;
pub mod report;
pub mod resolve;
pub mod resources;
pub mod scaffold;
pub mod secret;
pub mod stage;
pub mod state;
pub mod stats;
pub mod text;

use plugin::cache::CompileCache;

/// Like `eprintln!`, but a closed stderr (`weir demo 2>&1 | head`) is not a panic.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
use std::sync::Arc;

/// The plugin runtime for a config: its cache directory, else the default one.
pub fn runtime_for(config: Option<&config::Config>) -> anyhow::Result<Arc<plugin::Runtime>> {
    let dir = config
        .and_then(|c| c.pipeline.cache_dir.as_ref().map(|d| c.resolve(d)))
        .or_else(CompileCache::default_dir);
    plugin::Runtime::new(CompileCache::new(dir))
}
