//! Why a plugin produced no result for a record, as a kind (for headers, metrics and
//! policies) and a sentence (for people).

use super::limiter::LimitExceeded;
use super::limits::Limits;
use std::fmt;

/// The kinds of plugin failure. Dead letters carry it as `weir.error.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    /// The guest trapped: a panic, `unreachable`, an out-of-bounds access.
    Trap,
    /// It ran past its call timeout (`limits.call_timeout_ms`); `cpu` on the wire, as before.
    Cpu,
    /// It asked for more memory (or table space) than its limit.
    Memory,
    /// It broke the contract, e.g. returned the wrong number of results.
    Contract,
    /// The record was over the stage's size limit and never reached the plugin.
    Oversize,
    /// No instance could be made: not the record's fault.
    Instantiate,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::Trap,
        FaultKind::Cpu,
        FaultKind::Memory,
        FaultKind::Contract,
        FaultKind::Oversize,
        FaultKind::Instantiate,
    ];

    /// Whether the fault says something about the plugin. A record the host refused by
    /// itself (over the size limit) never reached it: an input fault, which the circuit
    /// breaker does not count.
    pub fn blames_plugin(self) -> bool {
        !matches!(self, FaultKind::Oversize)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Trap => "trap",
            FaultKind::Cpu => "cpu",
            FaultKind::Memory => "memory",
            FaultKind::Contract => "contract",
            FaultKind::Oversize => "oversize",
            FaultKind::Instantiate => "instantiate",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A plugin's answer (contract 0.2's frame) the host cannot read: a contract fault of
/// the whole call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenAnswer(pub String);

impl fmt::Display for BrokenAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "broke the contract: its answer is not a well-formed frame ({})", self.0)
    }
}

impl std::error::Error for BrokenAnswer {}

/// A record's failure in a plugin. The record becomes a dead letter carrying both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub reason: String,
}

impl Fault {
    pub fn new(kind: FaultKind, reason: impl Into<String>) -> Fault {
        Fault { kind, reason: reason.into() }
    }

    /// Classifies an error from a call into the guest: our limiter's typed errors and
    /// wasmtime's trap codes, never the error's text.
    pub fn from_call(error: &wasmtime::Error, limits: &Limits, budget_ms: u64) -> Fault {
        if let Some(broken) = error.downcast_ref::<BrokenAnswer>() {
            return Fault::new(FaultKind::Contract, broken.to_string());
        }
        if let Some(exceeded) = error.downcast_ref::<LimitExceeded>() {
            return Fault::new(FaultKind::Memory, exceeded.to_string());
        }
        match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => Fault::new(
                FaultKind::Cpu,
                format!("ran past its {budget_ms} ms call timeout (limits.call_timeout_ms)"),
            ),
            Some(wasmtime::Trap::UnreachableCodeReached) => Fault::new(
                FaultKind::Trap,
                "trapped: wasm `unreachable` executed (a Rust plugin panicked or aborted)",
            ),
            Some(wasmtime::Trap::AllocationTooLarge) => Fault::new(
                FaultKind::Memory,
                format!("exceeded its {} MiB memory limit", limits.memory_mib),
            ),
            Some(trap) => Fault::new(FaultKind::Trap, format!("trapped: {trap}")),
            None => Fault::new(
                FaultKind::Trap,
                format!(
                    "failed: {}",
                    format!("{error:#}").lines().next().unwrap_or("unknown error")
                ),
            ),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}
