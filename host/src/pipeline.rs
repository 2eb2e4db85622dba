//! The stage chain, free of any I/O: validate → transform… → aggregate.
//!
//! Both `weir process` (files) and `weir run` (Kafka) feed batches through a
//! `Pipeline`; every input comes back as exactly one `Outcome`, in input order.

use crate::bindings::types::{Message, Violation};
use crate::config::{Config, StageConfig};
use crate::plugin::{Fault, FaultKind};
use crate::ops::Metrics;
use crate::plugin::Runtime;
use sha2::Digest as _;
pub use crate::stats::Stats;
use crate::stage::aggregator::Aggregate;
use crate::stage::transformer::Transform;
use crate::stage::validator::Validate;
use crate::stage::{Kind, Stage};
use anyhow::Context;
use serde::Serialize;
use crate::state::{Coverage, PartitionKey, PartitionSnapshot, StateChange};
use std::path::Path;

/// Where a pipeline was before a batch: its counts, its aggregator's snapshot and which
/// records that snapshot covers.
pub struct SavePoint {
    stats: Stats,
    analytics: Option<Result<Vec<u8>, crate::plugin::PluginError>>,
    coverage: Coverage,
}

/// Where one input record ends up.
#[derive(Debug)]
pub enum Outcome {
    /// The transformed record (key and headers kept).
    Processed(Message),
    /// The original record, unchanged, with why it was rejected.
    DeadLetter(Message, Rejection),
}

/// Provenance of a dead letter: which stage and plugin said no, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub stage: String,
    pub plugin: String,
    pub violations: Vec<Violation>,
    /// Set when the plugin failed (trap, limit, broken contract) rather than judging
    /// the record.
    #[serde(skip)]
    pub fault: Option<FaultKind>,
}

impl Rejection {
    fn new<K: Kind>(stage: &Stage<K>, violations: Vec<Violation>) -> Rejection {
        Rejection {
            stage: stage.name().to_string(),
            plugin: plugin_name(stage.plugin_path()),
            violations,
            fault: None,
        }
    }

    fn fault<K: Kind>(stage: &Stage<K>, fault: Fault) -> Rejection {
        Rejection { fault: Some(fault.kind), ..Rejection::new(stage, vec![root_violation(format!("plugin {}", fault.reason))]) }
    }

    pub fn is_fault(&self) -> bool {
        self.fault.is_some()
    }

    /// A fault of the plugin's (not an input the host refused by itself).
    pub fn blames_plugin(&self) -> bool {
        self.fault.is_some_and(FaultKind::blames_plugin)
    }

    /// `violation` when the plugin judged the record, else the fault's kind.
    pub fn kind(&self) -> &'static str {
        self.fault.map_or("violation", FaultKind::as_str)
    }

    /// The reasons as one line, for logs.
    pub fn summary(&self) -> String {
        summary(&self.violations)
    }
}

/// Violations as one line: `/timestamp: "x" is not of type "integer"; ...`.
pub fn summary(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| if v.path.is_empty() { v.reason.clone() } else { format!("{}: {}", v.path, v.reason) })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn root_violation(reason: String) -> Violation {
    Violation { path: String::new(), reason }
}

/// `target/plugins/readable-timestamp.wasm` → `readable-timestamp`.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}


pub struct Pipeline {
    validate: Option<Stage<Validate>>,
    transforms: Vec<Stage<Transform>>,
    aggregate: Option<Stage<Aggregate>>,
    pub stats: Stats,
    /// Which records of each input partition the aggregator's states hold.
    coverage: Coverage,
    /// Partition states are checkpointed (Kafka with `[state]`), not only kept in memory.
    checkpoints: bool,
    /// Where dead letters and each stage's batches are recorded, when watched.
    metrics: Option<Metrics>,
}

/// Loads one stage's plugin and starts it, with errors naming the config key.
pub fn load_stage<K: Kind>(
    runtime: &Runtime,
    config: &Config,
    key: &str,
    stage: &StageConfig,
) -> anyhow::Result<Stage<K>> {
    let name = stage.name.clone().unwrap_or_else(|| key.to_string());
    let json = config.stage_json(key, stage)?;
    let path = config.resolve(&stage.plugin);
    let plugin = runtime
        .load(&path)
        .with_context(|| format!("config {}: `{key}.plugin`", config.source.display()))?;
    let stage = Stage::<K>::new(&name, &plugin, json, stage.limits)
        .with_context(|| format!("config {}: `{key}`", config.source.display()))?;
    tracing::debug!(stage = name, plugin = %path.display(), cached = plugin.from_cache, "stage ready");
    Ok(stage)
}

impl Pipeline {
    pub fn from_config(runtime: &Runtime, config: &Config) -> anyhow::Result<Pipeline> {
        let keys = config.stages();
        let key_of = |target: &StageConfig| {
            keys.iter().find(|(_, s)| std::ptr::eq(*s, target)).map(|(k, _)| k.clone()).unwrap()
        };
        let validate = match &config.validate {
            Some(s) => Some(load_stage::<Validate>(runtime, config, &key_of(s), s)?),
            None => None,
        };
        let transforms = config
            .transform
            .iter()
            .map(|s| load_stage::<Transform>(runtime, config, &key_of(s), s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let aggregate = match &config.aggregate {
            Some(s) => Some(load_stage::<Aggregate>(runtime, config, &key_of(s), s)?),
            None => None,
        };
        if validate.is_none() && transforms.is_empty() && aggregate.is_none() {
            anyhow::bail!(
                "config {}: no stages. Add a [validate], [transform] or [aggregate] section",
                config.source.display()
            );
        }
        Ok(Pipeline { validate, transforms, aggregate, stats: Stats::default(), coverage: Coverage::default(), checkpoints: false, metrics: None })
    }

    /// No stages: every record passes through unchanged (the benchmark's baseline).
    pub fn passthrough() -> Pipeline {
        Pipeline {
            validate: None,
            transforms: Vec::new(),
            aggregate: None,
            stats: Stats::default(),
            coverage: Coverage::default(),
            checkpoints: false,
            metrics: None,
        }
    }

    /// The report so far: the counts, `extra` pipeline-level counts, and the aggregator's
    /// analytics if there is an aggregator.
    pub fn report(&mut self, extra: Vec<(&'static str, u64)>) -> Result<crate::report::Report<'_>, crate::plugin::PluginError> {
        let analytics = match &mut self.aggregate {
            Some(stage) => Some((plugin_name(stage.plugin_path()), stage.report()?)),
            None => None,
        };
        let partitions = match self.checkpoints {
            true => self.coverage.partitions().map(|(topic, partition)| format!("{topic}/{partition}")).collect(),
            false => Vec::new(),
        };
        Ok(crate::report::Report { stats: &self.stats, extra, analytics, partitions })
    }

    /// Records what each stage does in `metrics` from now on, and which plugin runs where.
    pub fn observe(&mut self, metrics: &Metrics) {
        if let Some(stage) = &mut self.validate {
            observe_stage(stage, metrics);
        }
        for stage in &mut self.transforms {
            observe_stage(stage, metrics);
        }
        if let Some(stage) = &mut self.aggregate {
            observe_stage(stage, metrics);
        }
        self.metrics = Some(metrics.clone());
    }

    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// Checkpoint the aggregator's partition states (Kafka); partitions are then held
    /// only as `apply` assigns them.
    pub fn keep_partition_states(&mut self) {
        self.checkpoints = true;
    }

    /// Partitions assigned (their states restored) or revoked (their final snapshots
    /// returned, their states dropped).
    pub fn apply(&mut self, change: StateChange) -> Vec<PartitionSnapshot> {
        let Some(stage) = self.aggregate.as_mut() else { return Vec::new() };
        match change {
            StateChange::Assigned(restores) => {
                for restore in restores {
                    let snapshot = restore.snapshot.as_ref();
                    let offset = snapshot.map(|s| s.offset);
                    let failure = match stage.restore_partition(&restore.key, snapshot.map(|s| s.state.as_slice())) {
                        Ok(Ok(())) => None,
                        Ok(Err(reason)) => Some(reason),
                        Err(e) => Some(e.to_string()),
                    };
                    if let Some(reason) = failure {
                        self.stats.state_restore_failures += 1;
                        tracing::error!(
                            "the saved state of {}/{} (to offset {}) was refused: {reason}; its analytics start empty there",
                            restore.key.0, restore.key.1, offset.unwrap_or(0)
                        );
                    }
                    self.coverage.restored(restore.key, offset);
                }
                Vec::new()
            }
            StateChange::Revoked(keys) => {
                let snapshots = self.snapshots(|key| keys.contains(key));
                for key in &keys {
                    if let Err(e) = stage_drop(self.aggregate.as_mut(), key) {
                        tracing::warn!("dropping the state of {}/{}: {e}", key.0, key.1);
                    }
                    self.coverage.dropped(key);
                }
                snapshots
            }
        }
    }

    /// The snapshots of the partitions changed since the last checkpoint.
    pub fn checkpoint(&mut self) -> Vec<PartitionSnapshot> {
        match self.checkpoints {
            true => self.snapshots(|_| true),
            false => Vec::new(),
        }
    }

    /// Snapshots of the changed partitions `wanted` picks; a failure is counted and said.
    fn snapshots(&mut self, wanted: impl Fn(&PartitionKey) -> bool) -> Vec<PartitionSnapshot> {
        let Some(stage) = self.aggregate.as_mut() else { return Vec::new() };
        let mut snapshots = Vec::new();
        for (key, offset) in self.coverage.take_dirty(&wanted) {
            match stage.partition_snapshot(&key) {
                Ok(state) => snapshots.push(PartitionSnapshot { topic: key.0, partition: key.1, offset, state }),
                Err(e) => {
                    self.stats.checkpoint_failures += 1;
                    tracing::error!("no checkpoint of {}/{}: {e}; it is retried at the next one", key.0, key.1);
                }
            }
        }
        snapshots
    }

    /// The counts and the aggregator's state now, to go back to if this batch is retried.
    pub fn save_point(&mut self) -> SavePoint {
        let analytics = self.aggregate.as_mut().map(|stage| stage.snapshot());
        SavePoint { stats: self.stats.clone(), analytics, coverage: self.coverage.clone() }
    }

    /// Back to `saved`: a batch that is retried is not counted, nor folded, twice.
    pub fn roll_back(&mut self, saved: SavePoint) {
        self.stats = saved.stats;
        self.coverage = saved.coverage;
        let (Some(stage), Some(snapshot)) = (self.aggregate.as_mut(), saved.analytics) else { return };
        let restored = snapshot.map_err(|e| e.to_string()).and_then(|s| match stage.restore(&s) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(reason),
            Err(e) => Err(e.to_string()),
        });
        if let Err(reason) = restored {
            tracing::error!(stage = stage.name(), "could not roll the analytics back ({reason}); the retried batch may count twice");
        }
    }

    /// Moves what a hot swap keeps to the next pipeline: the partitions held and how
    /// often they are checkpointed.
    pub fn hand_over_partitions(&mut self, next: &mut Pipeline) {
        next.coverage = std::mem::take(&mut self.coverage);
        next.checkpoints = self.checkpoints;
    }

    pub fn aggregator(&mut self) -> Option<&mut Stage<Aggregate>> {
        self.aggregate.as_mut()
    }

    pub fn validator(&mut self) -> Option<&mut Stage<Validate>> {
        self.validate.as_mut()
    }

    /// Runs a batch through every stage. One outcome per input, in input order.
    pub fn process(&mut self, batch: Vec<Message>) -> Vec<Outcome> {
        let total = batch.len();
        self.stats.records_in += total as u64;
        // Whether the aggregator folds each record: not if its partition's state has it.
        let fold: Vec<bool> = match self.aggregate {
            Some(_) => batch.iter().map(|m| self.coverage.note(&m.topic, m.partition, m.offset)).collect(),
            None => Vec::new(),
        };
        let mut outcomes: Vec<Option<Outcome>> = (0..total).map(|_| None).collect();
        // Records still in flight, and the index in the batch of each.
        let mut live = Remaining { index: (0..total).collect(), messages: batch };

        if let Some(stage) = &mut self.validate {
            let verdicts = stage.run(&live.messages);
            live = live.keep(verdicts, |i, message, verdict| match verdict {
                Ok(Ok(())) => Some(message),
                Ok(Err(violations)) => {
                    outcomes[i] = Some(Outcome::DeadLetter(message, Rejection::new(stage, violations)));
                    None
                }
                Err(fault) => {
                    outcomes[i] = Some(Outcome::DeadLetter(message, Rejection::fault(stage, fault)));
                    None
                }
            });
        }

        // The original value of each record a transform has changed, for its dead letter.
        let mut originals: Vec<Option<Vec<u8>>> = (0..total).map(|_| None).collect();
        for stage in &mut self.transforms {
            let results = stage.run(&live.messages);
            live = live.keep(results, |i, mut message, result| {
                let rejection = match result {
                    Ok(Ok(value)) => {
                        let before = std::mem::replace(&mut message.value, value);
                        originals[i].get_or_insert(before);
                        return Some(message);
                    }
                    Ok(Err(reason)) => Rejection::new(stage, vec![root_violation(reason)]),
                    Err(fault) => Rejection::fault(stage, fault),
                };
                if let Some(original) = originals[i].take() {
                    message.value = original;
                }
                outcomes[i] = Some(Outcome::DeadLetter(message, rejection));
                None
            });
        }

        if let Some(stage) = &mut self.aggregate {
            let faults: usize = runs_to_fold(&live, &fold)
                .map(|run| stage.run(&live.messages[run]).iter().filter(|r| r.is_err()).count())
                .sum();
            self.stats.analytics_resets += stage.take_lost_states();
            if faults > 0 {
                self.stats.aggregate_faults += faults as u64;
                tracing::warn!(
                    stage = stage.name(),
                    faults,
                    "aggregator failed on records; they are delivered but not counted"
                );
            }
        }
        for (i, message) in live.index.into_iter().zip(live.messages) {
            outcomes[i] = Some(Outcome::Processed(message));
        }

        let outcomes: Vec<Outcome> =
            outcomes.into_iter().map(|o| o.expect("every record has an outcome")).collect();
        for outcome in &outcomes {
            match outcome {
                Outcome::Processed(_) => self.stats.processed += 1,
                Outcome::DeadLetter(_, rejection) => {
                    self.stats.dead_letters += 1;
                    if let Some(metrics) = &self.metrics {
                        metrics.dead_letter(&rejection.stage, rejection.kind());
                    }
                }
            }
        }
        outcomes
    }
}

/// Ranges of `live` to fold: records of one partition in a row, each to be folded (a
/// partition's state takes its own records, in order, with no copy of them).
fn runs_to_fold<'a>(live: &'a Remaining, fold: &'a [bool]) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
    let folds = move |i: usize| fold[live.index[i]];
    let same = move |a: &Message, b: &Message| a.partition == b.partition && a.topic == b.topic;
    let mut start = 0;
    std::iter::from_fn(move || {
        while start < live.messages.len() && !folds(start) {
            start += 1;
        }
        if start == live.messages.len() {
            return None;
        }
        let mut end = start + 1;
        while end < live.messages.len() && folds(end) && same(&live.messages[start], &live.messages[end]) {
            end += 1;
        }
        let run = start..end;
        start = end;
        Some(run)
    })
}

/// Gives `stage` its meter, labelled with its plugin's name and digest.
pub(crate) fn observe_stage<K: Kind>(stage: &mut Stage<K>, metrics: &Metrics) {
    let path = stage.plugin_path();
    let sha256 = std::fs::read(path).map(|wasm| hex::encode(sha2::Sha256::digest(wasm))).unwrap_or_default();
    // An aggregator's faults are counted, but its records are delivered, never dead letters.
    let rejects = K::WORLD != crate::plugin::World::Aggregator;
    let meter = metrics.stage(stage.name(), &plugin_name(path), &sha256, rejects);
    stage.observe(meter);
}

fn stage_drop(stage: Option<&mut Stage<Aggregate>>, key: &PartitionKey) -> Result<(), crate::plugin::PluginError> {
    stage.map_or(Ok(()), |stage| stage.drop_partition(key))
}

/// The records of a batch that no stage has rejected yet, with their places in it.
struct Remaining {
    index: Vec<usize>,
    messages: Vec<Message>,
}

impl Remaining {
    /// Pairs each record with its stage result; `decide` keeps it (returns it) or settles it.
    fn keep<R>(self, results: Vec<R>, mut decide: impl FnMut(usize, Message, R) -> Option<Message>) -> Remaining {
        let mut kept = Remaining { index: Vec::with_capacity(self.index.len()), messages: Vec::with_capacity(self.index.len()) };
        for ((i, message), result) in self.index.into_iter().zip(self.messages).zip(results) {
            if let Some(message) = decide(i, message, result) {
                kept.index.push(i);
                kept.messages.push(message);
            }
        }
        kept
    }
}
