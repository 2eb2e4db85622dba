//! The store data of a plugin instance: what the guest may touch, and nothing else.

use super::limits::Limits;
use crate::bindings::host::{Host, Level};
use wasmtime::component::ResourceTable;
use super::limiter::Limiter;
use std::time::Duration;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// No files, no network, no environment, no arguments, no clock; stdio closed.
/// The guest reaches the world only through the contract's `log` import.
pub struct Sandbox {
    stage: String,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: Limiter,
}

impl Sandbox {
    pub fn new(stage: &str, limits: &Limits) -> Sandbox {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .build();
        Sandbox {
            stage: stage.to_string(),
            wasi,
            table: ResourceTable::new(),
            limits: Limiter::new(limits),
        }
    }
}

/// The contract grants no clock: time stands still at the epoch, so a plugin's output
/// depends on its input alone and it cannot time anything.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl Host for Sandbox {
    fn log(&mut self, level: Level, message: String) {
        let stage = self.stage.as_str();
        // Cap what a chatty plugin can write per line.
        let message = if message.len() > 4096 { &message[..message.floor_char_boundary(4096)] } else { &message };
        match level {
            Level::Trace => tracing::trace!(stage, "{message}"),
            Level::Debug => tracing::debug!(stage, "{message}"),
            Level::Info => tracing::info!(stage, "{message}"),
            Level::Warn => tracing::warn!(stage, "{message}"),
            Level::Error => tracing::error!(stage, "{message}"),
        }
    }
}
