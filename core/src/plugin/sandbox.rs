//! The store data of a plugin instance: what the guest may touch, and nothing else.

use super::limiter::Limiter;
use super::limits::Limits;
use crate::plugin::bindings::host::{Host, Level};
use crate::table::Grant;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

/// No files, no network, no environment, no arguments, no clock; stdio closed.
/// The guest reaches the world only through the contract's `log` import.
pub struct Sandbox {
    stage: String,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: Limiter,
    log: LogBudget,
    /// The tables its stage names (contract 0.3's `tables.get`).
    tables: Grant,
}

/// Host resources (clock subscriptions, streams…) one instance may hold at once: WASI's
/// own cap is a million, each costing the host memory outside the memory limit.
const MAX_RESOURCES: usize = 10_000;

/// Random bytes one WASI call may ask for (WASI's own cap is 64 MiB, allocated by the host
/// before the guest's memory limit can see it); no plugin needs more.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// What a stage's plugin may write to weir's log per second, all its instances together
/// (a fault's bisection makes up to 2n−1 calls, each with a fresh instance); past it,
/// lines are counted, not written.
const LOG_BYTES_PER_SECOND: usize = 64 * 1024;

/// The log budget of one stage, shared by its instances.
#[derive(Clone, Default)]
pub struct LogBudget(Arc<Mutex<LogWindow>>);

#[derive(Default)]
struct LogWindow {
    started: Option<Instant>,
    logged: usize,
    dropped: u64,
}

impl LogBudget {
    /// Whether `bytes` more may be written now; each second starts afresh.
    fn take(&self, bytes: usize) -> bool {
        let mut window = self.0.lock().unwrap();
        if window.started.is_none_or(|started| started.elapsed() >= Duration::from_secs(1)) {
            window.started = Some(Instant::now());
            window.logged = 0;
        }
        if window.logged >= LOG_BYTES_PER_SECOND {
            window.dropped += 1;
            return false;
        }
        window.logged += bytes;
        true
    }

    /// Lines dropped since the last call.
    fn take_dropped(&self) -> u64 {
        std::mem::take(&mut self.0.lock().unwrap().dropped)
    }
}

impl Sandbox {
    pub fn new(stage: &str, limits: &Limits, log: LogBudget, tables: Grant) -> Sandbox {
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
        Sandbox { stage: stage.to_string(), wasi, table, limits: Limiter::new(limits), log, tables }
    }
}

impl Sandbox {
    /// Ends a call: the lines dropped meanwhile are counted in one warning.
    pub(crate) fn end_call(&mut self) {
        let dropped = self.log.take_dropped();
        if dropped > 0 {
            tracing::warn!(
                stage = self.stage,
                "dropped {dropped} plugin log lines past {} KiB per second",
                LOG_BYTES_PER_SECOND / 1024
            );
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
        if !self.log.take(message.len().min(4096)) {
            return;
        }
        let stage = self.stage.as_str();
        // Cap what a chatty plugin can write per line; one line stays one line.
        let message = if message.len() > 4096 {
            &message[..message.floor_char_boundary(4096)]
        } else {
            &message
        };
        let message = crate::text::escape_controls(message);
        match level {
            Level::Trace => tracing::trace!(stage, "{message}"),
            Level::Debug => tracing::debug!(stage, "{message}"),
            Level::Info => tracing::info!(stage, "{message}"),
            Level::Warn => tracing::warn!(stage, "{message}"),
            Level::Error => tracing::error!(stage, "{message}"),
        }
    }
}

/// Contract 0.2's `host` is 0.1's: the same log.
impl crate::plugin::bindings::v2::host::Host for Sandbox {
    fn log(&mut self, level: crate::plugin::bindings::v2::host::Level, message: String) {
        use crate::plugin::bindings::v2::host::Level as V2;
        let level = match level {
            V2::Trace => Level::Trace,
            V2::Debug => Level::Debug,
            V2::Info => Level::Info,
            V2::Warn => Level::Warn,
            V2::Error => Level::Error,
        };
        Host::log(self, level, message)
    }
}

/// Contract 0.3's `host` is 0.1's: the same log.
impl crate::plugin::bindings::v3::host::Host for Sandbox {
    fn log(&mut self, level: crate::plugin::bindings::v3::host::Level, message: String) {
        use crate::plugin::bindings::v3::host::Level as V3;
        let level = match level {
            V3::Trace => Level::Trace,
            V3::Debug => Level::Debug,
            V3::Info => Level::Info,
            V3::Warn => Level::Warn,
            V3::Error => Level::Error,
        };
        Host::log(self, level, message)
    }
}

/// Contract 0.3's lookups. The key came out of the guest's memory (bounded by its limit)
/// and the value goes back into it through the guest's own allocator, so a lookup cannot
/// make the host hold more than one value beyond what the plugin may use.
impl crate::plugin::bindings::v3::tables::Host for Sandbox {
    fn get(&mut self, table: String, key: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        self.tables.get(&table, &key)
    }
}
