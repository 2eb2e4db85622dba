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

mod config_schema;
pub mod dead_letter;
pub mod init;
pub mod offline;
pub mod plugin_tool;
pub mod registry;
pub mod report;
pub mod resolve;
pub mod resources;
pub mod served;
pub mod server;
pub mod shadow;
pub mod shipped;

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

/// Whether stderr is for people: a terminal, and not JSON lines (`--log-format json`).
pub fn stderr_is_for_people() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
        && !JSON_STDERR.load(std::sync::atomic::Ordering::Relaxed)
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
    let line = serde_json::json!({ "timestamp": weir_core::window::rfc3339(now), "level": level, "message": text });
    let _ = writeln!(stderr, "{line}");
}
