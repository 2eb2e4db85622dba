//! What a flow tells whoever draws it (the `weir` crate's status page): which stage runs
//! which plugin, each dead letter, each checkpoint, and the aggregator's report when one is
//! wanted. The flow emits these and forgets them; with no watcher they cost a lock-free
//! check. The page's model and JSON live beside its server, not here.

use std::sync::{Arc, RwLock};

/// A stage and its plugin, as it starts or is swapped.
pub struct StageStarted<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub plugin: &'a str,
    pub sha256: &'a str,
    pub contract: String,
    pub memory_limit_bytes: u64,
}

/// A record that became a dead letter: its first reason, key and value as they came.
pub struct DeadLettered<'a> {
    pub stage: &'a str,
    pub kind: &'a str,
    pub reason: &'a str,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

/// Who is told. Called on the flow's threads: each call must return at once (no I/O, no
/// waiting on a record's size).
pub trait Watcher: Send + Sync {
    fn stage(&self, stage: &StageStarted);
    fn dead_letter(&self, dead_letter: &DeadLettered);
    fn checkpointed(&self, topic: &str, partition: i32);
    /// Whether an aggregator's report is wanted now (the flow then computes one).
    fn report_due(&self) -> bool;
    /// The report, or why it could not be made.
    fn report(&self, report: Result<serde_json::Value, String>);
}

/// The watchers of one flow; cloned, the same ones.
#[derive(Clone, Default)]
pub struct Events(Arc<RwLock<Vec<Arc<dyn Watcher>>>>);

impl Events {
    /// Tells `watcher` from now on.
    pub fn watch(&self, watcher: Arc<dyn Watcher>) {
        self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push(watcher);
    }

    fn each(&self, mut tell: impl FnMut(&dyn Watcher)) {
        for watcher in self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).iter() {
            tell(watcher.as_ref());
        }
    }

    pub fn stage(&self, stage: &StageStarted) {
        self.each(|w| w.stage(stage));
    }

    pub fn dead_letter(&self, dead_letter: &DeadLettered) {
        self.each(|w| w.dead_letter(dead_letter));
    }

    pub fn checkpointed(&self, topic: &str, partition: i32) {
        self.each(|w| w.checkpointed(topic, partition));
    }

    pub fn report_due(&self) -> bool {
        let mut due = false;
        self.each(|w| due |= w.report_due());
        due
    }

    pub fn report(&self, report: Result<serde_json::Value, String>) {
        self.each(|w| w.report(report.clone()));
    }
}
