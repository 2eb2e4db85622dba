//! Our `ResourceLimiter`: refuses growth past a stage's limits with a typed error, so a
//! fault is classified by what happened, not by the text of wasmtime's message.

use super::limits::Limits;
use std::fmt;

/// Table elements one instance may hold; past this, `table.grow` is refused before the
/// host allocates for it.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// What the host allocates per table element (a function reference): tables are charged
/// to the instance's memory limit alongside its linear memories.
const TABLE_ELEMENT_BYTES: usize = 8;

/// What a guest tried to grow past its limit, in bytes (memory) or elements (tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitExceeded {
    Memory {
        desired: usize,
        max: usize,
    },
    Table {
        desired: usize,
        max: usize,
    },
    /// Bytes of strings and lists one call returned (see `returned`).
    Returned {
        desired: usize,
        max: usize,
    },
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
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used_bytes.saturating_sub(current).saturating_add(desired);
        if total > self.memory_bytes {
            return Err(LimitExceeded::Memory { desired: total, max: self.memory_bytes }.into());
        }
        self.used_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            return Err(LimitExceeded::Table { desired, max: MAX_TABLE_ELEMENTS }.into());
        }
        // 64 tables of a million elements would be 512 MiB of host memory: charge them.
        let growth = desired.saturating_sub(current).saturating_mul(TABLE_ELEMENT_BYTES);
        let total = self.used_bytes.saturating_add(growth);
        if total > self.memory_bytes {
            return Err(LimitExceeded::Memory { desired: total, max: self.memory_bytes }.into());
        }
        self.used_bytes = total;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Unsigned LEB128, as the binary format writes sizes.
    fn leb128(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// A core module declaring `count` funcref tables of `elements` each (hand-encoded:
    /// the magic, the version, and a table section).
    fn module_with_tables(count: usize, elements: usize) -> Vec<u8> {
        let mut section = leb128(count);
        for _ in 0..count {
            section.extend([0x70, 0x00]); // funcref, limits with a minimum only
            section.extend(leb128(elements));
        }
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.push(0x04);
        module.extend(leb128(section.len()));
        module.extend(section);
        module
    }

    fn instantiate(module: &[u8], memory_mib: u64) -> wasmtime::Result<()> {
        let engine = wasmtime::Engine::default();
        let limits = Limits { memory_mib, ..Limits::default() };
        let mut store = wasmtime::Store::new(&engine, Limiter::new(&limits));
        store.limiter(|limiter| limiter);
        let module = wasmtime::Module::new(&engine, module)?;
        wasmtime::Instance::new(&mut store, &module, &[]).map(drop)
    }

    #[test]
    fn sixty_large_tables_are_refused_by_the_memory_limit() {
        // 60 tables of a million elements: 480 MiB of host memory, never allocated.
        let error = instantiate(&module_with_tables(60, 1 << 20), 64).unwrap_err();
        assert!(
            matches!(error.downcast_ref::<LimitExceeded>(), Some(LimitExceeded::Memory { max, .. }) if *max == 64 << 20),
            "{error:#}"
        );
        // A few small tables fit, as every component has.
        instantiate(&module_with_tables(4, 1000), 64).unwrap();
    }
}
