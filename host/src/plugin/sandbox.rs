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
    log: LogBudget,
}

/// Host resources (clock subscriptions, streams…) one instance may hold at once: WASI's
/// own cap is a million, each costing the host memory outside the memory limit.
const MAX_RESOURCES: usize = 10_000;

/// Random bytes one WASI call may ask for (WASI's own cap is 64 MiB, allocated by the host
/// before the guest's memory limit can see it); no plugin needs more.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// What a plugin may write to weir's log per call; past it, lines are counted, not written.
const LOG_BYTES_PER_CALL: usize = 64 * 1024;

#[derive(Default)]
struct LogBudget {
    logged: usize,
    dropped: u64,
}

impl Sandbox {
    pub fn new(stage: &str, limits: &Limits) -> Sandbox {
        let wasi = WasiCtx::builder()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .max_random_size(MAX_RANDOM_BYTES.min(limits.memory_bytes() as u64))
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        Sandbox {
            stage: stage.to_string(),
            wasi,
            table,
            limits: Limiter::new(limits),
            log: LogBudget::default(),
        }
    }
}

impl Sandbox {
    /// Ends a call: its log budget starts afresh, and the lines it dropped are counted.
    pub(crate) fn end_call(&mut self) {
        let dropped = std::mem::take(&mut self.log).dropped;
        if dropped > 0 {
            tracing::warn!(stage = self.stage, "dropped {dropped} log lines past {} KiB in one call", LOG_BYTES_PER_CALL / 1024);
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
        if self.log.logged >= LOG_BYTES_PER_CALL {
            self.log.dropped += 1;
            return;
        }
        self.log.logged += message.len().min(4096);
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
