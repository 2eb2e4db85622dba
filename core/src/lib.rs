//! weir's core: what runs the plugins, with no Kafka and no HTTP in it.
//!
//! From the contract outwards: `plugin` (the bindings generated from WIT, engine,
//! sandbox, limiter, faults, loading) → `stage` (one instance of one world, with fault
//! isolation) → `pipeline` (the stage chains, no I/O: processing, and `pipeline::repair`) → `breaker` → `driver`
//! (the one loop: a `Source`, the plugins, a `Sink`). `config` is weir.toml as data; `ops`
//! holds the metrics and health the loop reports to. Sources and sinks (files, Kafka), the
//! HTTP server and the CLI live in the `weir` crate.

pub(crate) mod breaker;
pub mod config;
#[cfg(test)]
mod counting_alloc;
pub mod driver;
pub mod format;
pub mod headers;
pub mod hot_swap;
pub mod ops;
pub mod pipeline;
pub mod plugin;
pub mod record;
pub mod reference;
pub mod report;
pub mod secret;
pub mod stage;
pub mod state;
pub mod stats;
pub mod table;
pub mod text;
pub mod window;

use plugin::cache::CompileCache;
use std::sync::Arc;

/// The plugin runtime for a config: its cache directory, else the default one.
pub fn runtime_for(config: Option<&config::Config>) -> anyhow::Result<Arc<plugin::Runtime>> {
    let dir = config
        .and_then(|c| c.pipeline.cache_dir.as_ref().map(|d| c.resolve(d)))
        .or_else(CompileCache::default_dir);
    plugin::Runtime::new(CompileCache::new(dir))
}
