//! Counts a pipeline keeps while it runs, for its reports.

use serde::Serialize;

/// Counts since start, for reports.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub records_in: u64,
    pub processed: u64,
    pub dead_letters: u64,
    /// Records the aggregator failed on: delivered, but missing from the analytics.
    pub aggregate_faults: u64,
    /// Times the aggregator's state was lost with a failed instance (analytics restarted).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub analytics_resets: u64,
    /// Partition states whose saved snapshot the aggregator refused (they started empty).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub state_restore_failures: u64,
    /// Windows closed, each one result record (windowed aggregators).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub windows_closed: u64,
    /// Records that came after their window closed (or had no event time): delivered, and
    /// a copy to the dead letters (kind `late`); not in any window.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub window_late: u64,
    /// Partition checkpoints that could not be taken or written.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub checkpoint_failures: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
