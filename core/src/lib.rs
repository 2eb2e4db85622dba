//! weir's core: what runs the plugins, with no Kafka and no HTTP in it.
//!
//! From the contract outwards: `bindings` (generated from WIT) → `plugin` (engine,
//! sandbox, limiter, faults, loading) → `stage` (one instance of one world, with fault
//! isolation) → `pipeline` (the stage chains, no I/O: processing, and `pipeline::repair`) → `breaker` → `driver`
//! (the one loop: a `Source`, the plugins, a `Sink`). `config` is weir.toml as data; `ops`
//! holds the metrics and health the loop reports to. Sources and sinks (files, Kafka), the
//! HTTP server and the CLI live in the `weir` crate.

pub mod bindings;
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
pub mod report;
pub mod secret;
pub mod stage;
pub mod state;
pub mod stats;
pub mod text;
pub mod window;

use plugin::cache::CompileCache;
use std::sync::Arc;

/// Like `eprintln!`, but a closed stderr (`weir demo 2>&1 | head`) is not a panic, and
/// under `--log-format json` the text is one JSON object like the log lines.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        $crate::say_line(&format!($($arg)*));
    }};
}

static JSON_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// From now on, what `say!` writes is one JSON object per message (`--log-format json`):
/// every stderr line parses, reports and the final error included.
pub fn json_stderr() {
    JSON_STDERR.store(true, std::sync::atomic::Ordering::Relaxed);
}

#[doc(hidden)]
pub fn say_line(text: &str) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    if !JSON_STDERR.load(std::sync::atomic::Ordering::Relaxed) {
        let _ = writeln!(stderr, "{text}");
        return;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let level = if text.starts_with("error:") { "ERROR" } else { "INFO" };
    let line =
        serde_json::json!({ "timestamp": window::rfc3339(now), "level": level, "message": text });
    let _ = writeln!(stderr, "{line}");
}

/// The plugin runtime for a config: its cache directory, else the default one.
pub fn runtime_for(config: Option<&config::Config>) -> anyhow::Result<Arc<plugin::Runtime>> {
    let dir = config
        .and_then(|c| c.pipeline.cache_dir.as_ref().map(|d| c.resolve(d)))
        .or_else(CompileCache::default_dir);
    plugin::Runtime::new(CompileCache::new(dir))
}
