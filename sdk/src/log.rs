//! The host's log (`weir:plugin/host.log`), tagged by the host with the stage name.
//! Natively (tests, benchmarks) messages go to stderr.

pub use crate::validator::weir::plugin::host::Level;

pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::validator::weir::plugin::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("[{level:?}] {message}");
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}
