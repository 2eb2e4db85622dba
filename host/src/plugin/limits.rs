//! Per-stage resource limits, with safe defaults.

use serde::Deserialize;

/// What one plugin instance may use. Set per stage in weir.toml under `limits`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock budget for one call (a whole batch), in milliseconds.
    pub cpu_ms_per_batch: u64,
    /// Linear memory cap per instance, in MiB.
    pub memory_mib: u64,
    /// Values larger than this are dead letters before they reach the plugin, in KiB.
    pub max_message_kib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { cpu_ms_per_batch: 100, memory_mib: 64, max_message_kib: 1024 }
    }
}

impl Limits {
    /// `init` compiles schemas and the like: it gets ten times the per-batch budget.
    pub fn init_budget_ms(&self) -> u64 {
        self.cpu_ms_per_batch.saturating_mul(10)
    }

    /// The memory cap in bytes; also the most one call may return (`returned`).
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize).saturating_mul(1024 * 1024)
    }

    pub fn max_message_bytes(&self) -> usize {
        (self.max_message_kib as usize).saturating_mul(1024)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.cpu_ms_per_batch == 0 {
            return Err("`cpu_ms_per_batch` must be at least 1".into());
        }
        if self.memory_mib < 2 {
            return Err("`memory_mib` must be at least 2 (a wasm instance needs a few pages)".into());
        }
        if self.max_message_kib == 0 {
            return Err("`max_message_kib` must be at least 1".into());
        }
        Ok(())
    }
}
