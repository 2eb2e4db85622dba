//! Per-stage resource limits, with safe defaults.

use serde::Deserialize;

/// What one plugin instance may use. Set per stage in weir.toml under `limits`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// How long one call (a whole batch) may run, in milliseconds of wall-clock time
    /// while it runs: an epoch deadline, counted in the engine's 5 ms ticks, so a call
    /// descheduled by a busy machine spends it too. `cpu_ms_per_batch` is its old name,
    /// still accepted.
    #[serde(alias = "cpu_ms_per_batch")]
    pub call_timeout_ms: u64,
    /// Linear memory cap per instance, in MiB.
    pub memory_mib: u64,
    /// Values larger than this are dead letters before they reach the plugin, in KiB.
    pub max_message_kib: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { call_timeout_ms: 100, memory_mib: 64, max_message_kib: 1024 }
    }
}

impl Limits {
    /// `init` compiles schemas and the like: it gets ten times the call timeout.
    pub fn init_budget_ms(&self) -> u64 {
        self.call_timeout_ms.saturating_mul(10)
    }

    /// The memory cap in bytes; also the most one call may return (`returned`).
    pub fn memory_bytes(&self) -> usize {
        (self.memory_mib as usize).saturating_mul(1024 * 1024)
    }

    pub fn max_message_bytes(&self) -> usize {
        (self.max_message_kib as usize).saturating_mul(1024)
    }

    pub fn check(&self) -> Result<(), String> {
        if self.call_timeout_ms == 0 {
            return Err("`call_timeout_ms` must be at least 1".into());
        }
        if self.memory_mib < 2 {
            return Err(
                "`memory_mib` must be at least 2 (a wasm instance needs a few pages)".into()
            );
        }
        if self.max_message_kib == 0 {
            return Err("`max_message_kib` must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Limits;

    #[test]
    fn the_call_timeout_is_read_by_its_name_and_its_old_one() {
        let new: Limits = toml::from_str("call_timeout_ms = 250").unwrap();
        let old: Limits = toml::from_str("cpu_ms_per_batch = 250").unwrap();
        assert_eq!((new.call_timeout_ms, old.call_timeout_ms), (250, 250));
    }
}
