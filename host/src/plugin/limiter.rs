//! Our `ResourceLimiter`: refuses growth past a stage's limits with a typed error, so a
//! fault is classified by what happened, not by the text of wasmtime's message.

use super::limits::Limits;
use std::fmt;

/// Table elements one instance may hold; past this, `table.grow` is refused before the
/// host allocates for it.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// What a guest tried to grow past its limit, in bytes (memory) or elements (tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitExceeded {
    Memory { desired: usize, max: usize },
    Table { desired: usize, max: usize },
    /// Bytes of strings and lists one call returned (see `returned`).
    Returned { desired: usize, max: usize },
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitExceeded::Memory { max, .. } => write!(f, "exceeded its {} MiB memory limit", max / (1024 * 1024)),
            LimitExceeded::Table { desired, max } => write!(f, "grew a table to {desired} elements, over the limit of {max}"),
            LimitExceeded::Returned { desired, max } => write!(
                f,
                "returned at least {desired} bytes in one call, over its limit of {} MiB (limits.memory_mib)",
                max / (1024 * 1024)
            ),
        }
    }
}

impl std::error::Error for LimitExceeded {}

/// Linear memories and tables one instance may have: a component needs a few (one per
/// core module and adapter); wasmtime's default allows 10,000 of each.
const MAX_MEMORIES: usize = 32;
const MAX_TABLES: usize = 64;

pub struct Limiter {
    memory_bytes: usize,
    /// Bytes of every memory of the instance together: `memory_mib` bounds the whole
    /// instance, not each of its memories.
    used_bytes: usize,
}

impl Limiter {
    pub fn new(limits: &Limits) -> Limiter {
        Limiter { memory_bytes: limits.memory_bytes(), used_bytes: 0 }
    }

    /// Bytes of linear memory the instance has now.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.used_bytes.saturating_sub(current).saturating_add(desired);
        if total > self.memory_bytes {
            return Err(LimitExceeded::Memory { desired: total, max: self.memory_bytes }.into());
        }
        self.used_bytes = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(LimitExceeded::Table { desired, max: MAX_TABLE_ELEMENTS }.into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        16
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }
}
