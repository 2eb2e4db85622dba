//! The stage chain, free of any I/O: validate → transform… → aggregate.
//!
//! Both `weir process` (files) and `weir run` (Kafka) feed batches through a
//! `Pipeline`; every input comes back as exactly one `Outcome`, in input order. A batch
//! goes in two steps: `judge` (validate and transform: the verdicts the circuit breaker
//! weighs, with no count or state touched) and `settle` (the aggregator folds what is
//! delivered, the counts and metrics are taken). A batch the breaker holds is judged
//! again later and settled once.

pub(crate) mod aggregate;
pub(crate) mod outcome;
mod per_writer;
pub mod repair;
pub(crate) mod windowed_aggregate;

use crate::config::{Config, Resolve, StageConfig};
use crate::format::Formats;
use crate::ops::Metrics;
use crate::plugin::Runtime;
use crate::record::Record;
use crate::stage::aggregator::Aggregate;
use crate::stage::transformer::Transform;
use crate::stage::transformer::{Emitted, Transformed};
use crate::stage::validator::Validate;
use crate::stage::{Kind, Stage};
use crate::state::{PartitionSnapshot, StateChange};
pub use crate::stats::Stats;
use aggregate::AggregateOperator;
use anyhow::Context;
pub use outcome::{plugin_name, root_violation, summary, Cause, Outcome, Output, Rejection, Role};
use sha2::Digest as _;
use std::collections::BTreeMap;

/// How records are validated: by one validator, or each by its writer's schema.
// One per pipeline: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Validation {
    One(Stage<Validate>),
    PerWriterSchema(per_writer::PerWriterSchema),
}

pub struct Pipeline {
    validate: Option<Validation>,
    transforms: Vec<Stage<Transform>>,
    /// Each transform's named outputs (`[transform.outputs]`): name → topic.
    outputs: Vec<BTreeMap<String, String>>,
    aggregate: Option<AggregateOperator>,
    pub stats: Stats,
    /// Partition states are checkpointed (Kafka with `[state]`): kept across hot swaps.
    keep_states: bool,
    /// Where dead letters and each stage's batches are recorded, when watched.
    metrics: Option<Metrics>,
    /// The topics' formats (`[topics]`), when a topic is not plain JSON.
    formats: Option<Formats>,
}

/// A batch validated and transformed, not yet settled: which records were refused (and
/// why), and those still going on.
pub struct Judged {
    /// The dead letter of each input the stages refused, by its place in the batch.
    refused: Vec<Option<Outcome>>,
    live: Remaining,
    /// Each live record's bytes in its topic's format, when that is not plain JSON
    /// (empty when no topic has a format): put in place once the aggregator has folded.
    encoded: Vec<Option<Vec<u8>>>,
}

impl Judged {
    /// Per input, in order: why it was refused, or `None` if it goes on.
    pub fn verdicts(&self) -> impl ExactSizeIterator<Item = Option<&Rejection>> {
        self.refused.iter().map(|o| o.as_ref().and_then(Outcome::rejection))
    }
}

/// Loads one stage's plugin and starts it, with errors naming the config key.
pub fn load_stage<K: Kind>(
    runtime: &Runtime,
    config: &Config,
    key: &str,
    stage: &StageConfig,
    resolve: &dyn Resolve,
) -> anyhow::Result<Stage<K>> {
    let name = stage.name.clone().unwrap_or_else(|| key.to_string());
    // The plugin first: a plugin of the wrong world is said as such, before its config is
    // judged (by the schema it carries, in `stage_json`).
    let (plugin, path) = load_plugin(runtime, config, key, stage)?;
    plugin
        .expect_world(&name, K::WORLD)
        .with_context(|| format!("config {}: `{key}`", config.source.display()))?;
    let json = resolve.stage_json(config, key, stage)?;
    let tables = grant(config, key, stage, resolve)?;
    let stage = Stage::<K>::reading(&name, &plugin, json, stage.limits, tables)
        .with_context(|| format!("config {}: `{key}`", config.source.display()))?;
    tracing::debug!(stage = name, plugin = %path.display(), cached = plugin.from_cache, "stage ready");
    Ok(stage)
}

/// The tables a stage names, each served by this process, or an error naming the key.
pub fn grant(
    config: &Config,
    key: &str,
    stage: &StageConfig,
    resolve: &dyn Resolve,
) -> anyhow::Result<crate::table::Grant> {
    let tables = stage.tables.iter().map(|name| {
        resolve.table(name).ok_or_else(|| {
            let reason = format!(
                "table `{name}` is not served here: `weir run` keeps it from a compacted topic named in \
                 `[tables.{name}] topic = \"…\"`; offline, serve it from a file with `--table {name}=FILE.jsonl` \
                 (one `{{\"key\": …, \"value\": …}}` per line)"
            );
            config.key_error(&format!("{key}.tables"), &reason)
        })
    });
    Ok(crate::table::Grant::new(tables.collect::<Result<_, _>>()?))
}

/// A stage's plugin, compiled (or from the cache), with errors naming the config key.
fn load_plugin(
    runtime: &Runtime,
    config: &Config,
    key: &str,
    stage: &StageConfig,
) -> anyhow::Result<(crate::plugin::Plugin, std::path::PathBuf)> {
    let path = config.plugin_path(&stage.plugin);
    let plugin = runtime
        .load(&path)
        .with_context(|| format!("config {}: `{key}.plugin`", config.source.display()))?;
    Ok((plugin, path))
}

/// Whether a validator's `schema` is each record's writer's (`registry://by-id`).
fn by_writers_schema(stage: &StageConfig) -> bool {
    stage.config.get("schema").and_then(|s| s.as_str()) == Some(crate::format::WRITERS_SCHEMA)
}

/// A validator per writer's schema; the input must carry schema ids (`confluent-json`).
fn per_writer_schema(
    runtime: &Runtime,
    config: &Config,
    key: &str,
    stage: &StageConfig,
    resolve: &dyn Resolve,
) -> anyhow::Result<Validation> {
    let input = &config.kafka.input_topic;
    if config.topics.get(input).map(|t| t.format) != Some(crate::format::Format::ConfluentJson) {
        let reason = format!(
            "`{}` validates each record against the JSON Schema whose id frames it: the input topic must be \
             Confluent-framed JSON ([topics.\"{input}\"] format = \"confluent-json\"); files are never framed",
            crate::format::WRITERS_SCHEMA
        );
        return Err(config.key_error(&format!("{key}.config.schema"), &reason).into());
    }
    let name = stage.name.clone().unwrap_or_else(|| key.to_string());
    let (plugin, _) = load_plugin(runtime, config, key, stage)?;
    plugin
        .expect_world(&name, crate::plugin::World::Validator)
        .with_context(|| format!("config {}: `{key}`", config.source.display()))?;
    let json: serde_json::Value = serde_json::from_str(&resolve.stage_json(config, key, stage)?)?;
    let tables = grant(config, key, stage, resolve)?;
    Ok(Validation::PerWriterSchema(per_writer::PerWriterSchema::new(
        &name,
        plugin,
        json,
        stage.limits,
        tables,
    )))
}

impl Pipeline {
    pub fn from_config(
        runtime: &Runtime,
        config: &Config,
        resolve: &dyn Resolve,
    ) -> anyhow::Result<Pipeline> {
        let keys = config.stages();
        let key_of = |target: &StageConfig| {
            keys.iter().find(|(_, s)| std::ptr::eq(*s, target)).map(|(k, _)| k.clone()).unwrap()
        };
        let validate = match &config.validate {
            Some(s) if by_writers_schema(s) => {
                Some(per_writer_schema(runtime, config, &key_of(s), s, resolve)?)
            }
            Some(s) => Some(Validation::One(load_stage::<Validate>(
                runtime,
                config,
                &key_of(s),
                s,
                resolve,
            )?)),
            None => None,
        };
        let transforms = config
            .transform
            .iter()
            .map(|s| load_stage::<Transform>(runtime, config, &key_of(s), s, resolve))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let outputs = config.transform.iter().map(|s| s.outputs.clone()).collect();
        for (key, stage) in &keys {
            let transform = config.transform.iter().any(|t| std::ptr::eq(t, *stage));
            if !transform && !stage.outputs.is_empty() {
                let reason = "only a transformer emits records to named outputs";
                return Err(config.key_error(&format!("{key}.outputs"), reason).into());
            }
        }
        let aggregate = match &config.aggregate {
            Some(s) => {
                let stage = load_stage::<Aggregate>(runtime, config, &key_of(s), s, resolve)?;
                let windows = match &s.window {
                    Some(window) => {
                        let spec = crate::window::WindowSpec::from_config(window)
                            .map_err(|e| config.key_error("aggregate.window", &e))?;
                        Some(windowed_aggregate::Windows::new(
                            spec,
                            config.window_topic(),
                            window.late_topic.clone(),
                        ))
                    }
                    None => None,
                };
                Some(AggregateOperator::new(stage, windows))
            }
            None => None,
        };
        let formats = Formats::new(
            &config.topics,
            &config.kafka.input_topic,
            &config.kafka.output_topic,
            |path| std::fs::read_to_string(config.resolve(path)).map_err(|e| e.to_string()),
            || resolve.schema_source(config),
        )
        .map_err(|(key, reason)| config.key_error(&key, &reason))?;
        if validate.is_none() && transforms.is_empty() && aggregate.is_none() {
            return Err(crate::config::ConfigError::Invalid {
                path: config.source.clone(),
                reason: "no stages. Add a [validate], [transform] or [aggregate] section".into(),
            }
            .into());
        }
        Ok(Pipeline {
            validate,
            transforms,
            outputs,
            aggregate,
            stats: Stats::default(),
            keep_states: false,
            metrics: None,
            formats,
        })
    }

    /// No stages: every record passes through unchanged (the benchmark's baseline).
    pub fn passthrough() -> Pipeline {
        Pipeline {
            validate: None,
            transforms: Vec::new(),
            outputs: Vec::new(),
            aggregate: None,
            stats: Stats::default(),
            keep_states: false,
            metrics: None,
            formats: None,
        }
    }

    /// The report so far: the counts, `extra` pipeline-level counts, and the aggregator's
    /// analytics if there is an aggregator.
    pub fn report(
        &mut self,
        extra: Vec<(&'static str, u64)>,
    ) -> Result<crate::report::Report<'_>, crate::plugin::PluginError> {
        let (analytics, partitions, windows) = match &mut self.aggregate {
            Some(operator) => {
                (Some(operator.report()?), operator.partitions(), operator.last_windows())
            }
            None => (None, Vec::new(), None),
        };
        Ok(crate::report::Report { stats: &self.stats, extra, analytics, partitions, windows })
    }

    /// Records what each stage does in `metrics` from now on, and which plugin runs where.
    pub fn observe(&mut self, metrics: &Metrics) {
        match &mut self.validate {
            Some(Validation::One(stage)) => observe_stage(stage, metrics),
            Some(Validation::PerWriterSchema(validators)) => validators.observe(metrics),
            None => {}
        }
        for stage in &mut self.transforms {
            observe_stage(stage, metrics);
        }
        if let Some(operator) = &mut self.aggregate {
            observe_stage(operator.stage(), metrics);
        }
        self.metrics = Some(metrics.clone());
    }

    pub fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref()
    }

    /// What each stage holds now, in pipeline order (for sizing: `weir bench --json`).
    pub fn memory(&mut self) -> Vec<StageMemory> {
        let mut memory = Vec::new();
        match &mut self.validate {
            Some(Validation::One(stage)) => memory.push(StageMemory::of(stage)),
            Some(Validation::PerWriterSchema(validators)) => memory.push(validators.memory()),
            None => {}
        }
        memory.extend(self.transforms.iter().map(StageMemory::of));
        if let Some(operator) = &mut self.aggregate {
            memory.push(StageMemory::of(operator.stage()));
        }
        memory
    }

    /// Checkpoint the aggregator's partition states (Kafka); partitions are then held
    /// only as `apply` assigns them.
    pub fn keep_partition_states(&mut self) {
        self.keep_states = true;
        if let Some(operator) = &mut self.aggregate {
            operator.keep_partition_states();
        }
    }

    /// Partitions assigned (their states restored) or revoked (their final snapshots
    /// returned, their states dropped).
    pub fn apply(&mut self, change: StateChange) -> Vec<PartitionSnapshot> {
        match &mut self.aggregate {
            Some(operator) => operator.apply(change, &mut self.stats),
            None => Vec::new(),
        }
    }

    /// The snapshots of the partitions changed since the last checkpoint.
    pub fn checkpoint(&mut self) -> Vec<PartitionSnapshot> {
        match &mut self.aggregate {
            Some(operator) => operator.checkpoint(&mut self.stats),
            None => Vec::new(),
        }
    }

    /// The input ended (files): every open window closes; their results.
    pub fn close_windows(&mut self) -> Vec<Output> {
        match &mut self.aggregate {
            Some(operator) => operator.close_windows(&mut self.stats),
            None => Vec::new(),
        }
    }

    /// Moves what a hot swap keeps to the next pipeline: the counts, the metrics, and the
    /// aggregator's partitions and states.
    pub fn hand_over(&mut self, next: &mut Pipeline) {
        next.stats = self.stats.clone();
        if let Some(metrics) = &self.metrics {
            next.observe(metrics);
        }
        if self.keep_states {
            next.keep_partition_states();
        }
        if let (Some(old), Some(new)) = (&mut self.aggregate, &mut next.aggregate) {
            old.hand_over(new);
        }
    }

    pub fn aggregator(&mut self) -> Option<&mut Stage<Aggregate>> {
        self.aggregate.as_mut().map(AggregateOperator::stage)
    }

    /// The validator, unless records are validated each by its writer's schema.
    pub fn validator(&mut self) -> Option<&mut Stage<Validate>> {
        match &mut self.validate {
            Some(Validation::One(stage)) => Some(stage),
            _ => None,
        }
    }

    /// Runs a batch through every stage. One outcome per input, in input order.
    pub fn process(&mut self, batch: Vec<Record>) -> Vec<Outcome> {
        let judged = self.judge(batch);
        self.settle(judged)
    }

    /// Validates and transforms a batch: the verdicts, with no count, metric or
    /// aggregator state touched (the batch may yet be held and judged again).
    pub fn judge(&mut self, batch: Vec<Record>) -> Judged {
        let total = batch.len();
        let mut refused: Vec<Option<Outcome>> = (0..total).map(|_| None).collect();
        // Records still in flight, and the index in the batch of each.
        let mut live =
            Remaining { index: (0..total).collect(), topics: vec![None; total], messages: batch };
        // What each record was before it was decoded or a transform changed it, for its
        // dead letter.
        let mut originals: Vec<Option<Original>> = (0..total).map(|_| None).collect();

        if let Some(formats) = &mut self.formats {
            let each = vec![(); live.messages.len()];
            live = live.keep(each, |i, mut message, ()| {
                match formats.decode(&message.topic, &message.value) {
                    None => Some(message),
                    Some(Ok(json)) => {
                        originals[i] =
                            Some(Original::Value(std::mem::replace(&mut message.value, json)));
                        Some(message)
                    }
                    Some(Err(reason)) => {
                        refused[i] = Some(Outcome::DeadLetter(
                            message,
                            Rejection::host("format", Cause::Format, reason),
                        ));
                        None
                    }
                }
            });
        }

        let verdicts: Option<Vec<Result<(), Rejection>>> = match &mut self.validate {
            Some(Validation::One(stage)) => Some(
                stage
                    .run(&live.messages)
                    .into_iter()
                    .map(|verdict| match verdict {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(violations)) => Err(Rejection::new(stage, violations)),
                        Err(fault) => Err(Rejection::fault(stage, fault)),
                    })
                    .collect(),
            ),
            Some(Validation::PerWriterSchema(validators)) => {
                // Before any transform, a decoded record's original is its framed value.
                let framed_with = |original: &Option<Original>| match original {
                    Some(Original::Value(framed)) => {
                        crate::format::confluent_wire::split(framed).ok().map(|(id, _)| id)
                    }
                    _ => None,
                };
                let ids: Vec<Option<u32>> =
                    live.index.iter().map(|&i| framed_with(&originals[i])).collect();
                let formats =
                    self.formats.as_mut().expect("checked at start: the input is confluent-json");
                Some(validators.run(&live.messages, &ids, formats))
            }
            None => None,
        };
        if let Some(verdicts) = verdicts {
            live = live.keep(verdicts, |i, message, verdict| {
                let Err(rejection) = verdict else { return Some(message) };
                refused[i] = Some(Outcome::DeadLetter(
                    Original::restore(originals[i].take(), message),
                    rejection,
                ));
                None
            });
        }

        for (stage, outputs) in self.transforms.iter_mut().zip(&self.outputs) {
            let results = stage.run(&live.messages);
            let mut next = Remaining::with_capacity(live.messages.len());
            let mut any_refused = false;
            let inputs = live.index.into_iter().zip(live.topics).zip(live.messages);
            for (((i, topic), mut message), result) in inputs.zip(results) {
                if refused[i].is_some() {
                    continue; // another record it became was refused: so is it, whole
                }
                let rejection = match result {
                    Ok(Ok(Transformed::Value(value))) => {
                        let before = std::mem::replace(&mut message.value, value);
                        originals[i].get_or_insert(Original::Value(before));
                        next.push(i, topic, message);
                        continue;
                    }
                    Ok(Ok(Transformed::Records(records))) => match routed(records, outputs, &topic)
                    {
                        Ok(routed) => {
                            for (emitted, topic) in routed {
                                next.push(i, topic, emitted.into_message(&message));
                            }
                            Original::keep(&mut originals[i], message);
                            continue;
                        }
                        Err(reason) => Rejection::new(stage, vec![root_violation(reason)]),
                    },
                    Ok(Err(reason)) => Rejection::new(stage, vec![root_violation(reason)]),
                    Err(fault) => Rejection::fault(stage, fault),
                };
                let original = Original::restore(originals[i].take(), message);
                refused[i] = Some(Outcome::DeadLetter(original, rejection));
                any_refused = true;
            }
            if any_refused {
                next.drop_refused(&refused);
            }
            live = next;
        }
        let encoded = match &self.formats {
            Some(formats) => encode(formats, &mut live, &mut refused, &mut originals),
            None => Vec::new(),
        };
        Judged { refused, live, encoded }
    }

    /// Delivers a judged batch: the aggregator folds what goes on, the counts and the
    /// dead-letter metrics are taken — once per record, however often it was judged.
    pub fn settle(&mut self, judged: Judged) -> Vec<Outcome> {
        let Judged { refused, live, mut encoded } = judged;
        let mut emitted = Vec::new();
        if let Some(operator) = &mut self.aggregate {
            let dead_letters = refused.iter().flatten().filter_map(|outcome| match outcome {
                Outcome::DeadLetter(message, _) => Some(message),
                Outcome::Processed(_) => None,
            });
            emitted = operator.fold(&live.messages, dead_letters, &mut self.stats);
        }
        let dead_letters = refused.iter().flatten().count();
        self.stats.records_in += refused.len() as u64;
        self.stats.processed += (refused.len() - dead_letters) as u64;
        for outcome in refused.iter().flatten() {
            let Outcome::DeadLetter(message, rejection) = outcome else { continue };
            self.stats.dead_letters += 1;
            if let Some(metrics) = &self.metrics {
                metrics.dead_letter(&rejection.stage, rejection.kind());
                let reason =
                    rejection.violations.first().map_or(String::new(), |v| match v.path.as_str() {
                        "" => v.reason.clone(),
                        path => format!("{path}: {}", v.reason),
                    });
                metrics.events().dead_letter(&crate::ops::events::DeadLettered {
                    stage: &rejection.stage,
                    kind: rejection.kind(),
                    reason: &reason,
                    key: message.key.as_deref(),
                    value: &message.value,
                });
            }
        }
        // Every input not refused went through: its records, in order (none if filtered).
        let mut outputs: Vec<Vec<Output>> = (0..refused.len()).map(|_| Vec::new()).collect();
        // Window results and late copies go with the input of the record they came with.
        let mut emitted = emitted.into_iter().peekable();
        for (j, ((i, topic), mut message)) in
            live.index.into_iter().zip(live.topics).zip(live.messages).enumerate()
        {
            if let Some(bytes) = encoded.get_mut(j).and_then(Option::take) {
                message.value = bytes;
            }
            outputs[i].push(Output::record(message, topic));
            while let Some((_, extra)) = emitted.next_if(|(at, _)| *at == j) {
                if let (Role::Late(rejection), Some(metrics)) = (&extra.role, &self.metrics) {
                    metrics.dead_letter(&rejection.stage, rejection.kind());
                }
                outputs[i].push(extra);
            }
        }
        refused
            .into_iter()
            .zip(outputs)
            .map(|(refused, outputs)| refused.unwrap_or(Outcome::Processed(outputs)))
            .collect()
    }
}

/// Each live record in its topic's format (`None`: plain JSON, left as it is). An input
/// one of whose records does not fit is refused whole, as it came.
fn encode(
    formats: &Formats,
    live: &mut Remaining,
    refused: &mut [Option<Outcome>],
    originals: &mut [Option<Original>],
) -> Vec<Option<Vec<u8>>> {
    let taken = std::mem::replace(live, Remaining::with_capacity(live.index.len()));
    let mut encoded = Vec::with_capacity(taken.index.len());
    for ((i, topic), message) in taken.index.into_iter().zip(taken.topics).zip(taken.messages) {
        if refused[i].is_some() {
            continue;
        }
        match formats.encode(topic.as_deref(), &message.value) {
            Some(Err(reason)) => {
                let original = Original::restore(originals[i].take(), message);
                refused[i] = Some(Outcome::DeadLetter(
                    original,
                    Rejection::host("format", Cause::Format, reason),
                ));
            }
            bytes => {
                encoded.push(bytes.and_then(Result::ok));
                live.push(i, topic, message);
            }
        }
    }
    // Records kept before another record of their input was refused go too.
    let kept: Vec<bool> = live.index.iter().map(|&i| refused[i].is_none()).collect();
    let mut keep = kept.iter();
    encoded.retain(|_| *keep.next().unwrap());
    live.drop_refused(refused);
    encoded
}

/// What one stage holds in memory.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct StageMemory {
    pub stage: String,
    /// Live instances (more than one only for a validator per writer's schema).
    pub instances: usize,
    /// The instances' linear memory now: what their plugins allocated, at most
    /// `instances` × the limit.
    pub linear_bytes: usize,
    /// Each instance's memory limit (`limits.memory_mib`).
    pub limit_bytes: usize,
    /// Host memory a stateful stage keeps to fold again after a fault (records since its
    /// last save).
    pub kept_bytes: usize,
}

impl StageMemory {
    fn of<K: Kind>(stage: &Stage<K>) -> StageMemory {
        StageMemory {
            stage: stage.name().to_string(),
            instances: 1,
            linear_bytes: stage.memory_bytes(),
            limit_bytes: stage.limits().memory_bytes(),
            kept_bytes: stage.kept_bytes(),
        }
    }
}

/// Gives `stage` its meter, labelled with its plugin's name and digest.
pub(crate) fn observe_stage<K: Kind>(stage: &mut Stage<K>, metrics: &Metrics) {
    let path = stage.plugin_path();
    let sha256 =
        std::fs::read(path).map(|wasm| hex::encode(sha2::Sha256::digest(wasm))).unwrap_or_default();
    // An aggregator's faults are counted, but its records are delivered, never dead letters.
    let rejects = K::WORLD != crate::plugin::World::Aggregator;
    let meter = metrics.stage(stage.name(), &plugin_name(path), &sha256, rejects);
    let contract = stage.contract();
    metrics.events().stage(&crate::ops::events::StageStarted {
        name: stage.name(),
        kind: K::WORLD.name(),
        plugin: &plugin_name(path),
        sha256: &sha256,
        contract: format!("{}.{}.{}", contract.0, contract.1, contract.2),
        memory_limit_bytes: stage.limits().memory_bytes() as u64,
    });
    stage.observe(meter);
}

/// The records of a batch that no stage has rejected yet, with the place in the batch
/// of the input each comes from (several for an input fanned out, none for one filtered
/// out) and the topic of the output a transformer routed it to.
struct Remaining {
    index: Vec<usize>,
    topics: Vec<Option<String>>,
    messages: Vec<Record>,
}

impl Remaining {
    fn with_capacity(n: usize) -> Remaining {
        Remaining {
            index: Vec::with_capacity(n),
            topics: Vec::with_capacity(n),
            messages: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, index: usize, topic: Option<String>, message: Record) {
        self.index.push(index);
        self.topics.push(topic);
        self.messages.push(message);
    }

    /// Pairs each record with its stage result; `decide` keeps it (returns it) or settles it.
    fn keep<R>(
        self,
        results: Vec<R>,
        mut decide: impl FnMut(usize, Record, R) -> Option<Record>,
    ) -> Remaining {
        let mut kept = Remaining::with_capacity(self.index.len());
        for (((i, topic), message), result) in
            self.index.into_iter().zip(self.topics).zip(self.messages).zip(results)
        {
            if let Some(message) = decide(i, message, result) {
                kept.push(i, topic, message);
            }
        }
        kept
    }

    /// Drops the records of inputs refused since (another record of theirs was).
    fn drop_refused(&mut self, refused: &[Option<Outcome>]) {
        let taken = std::mem::replace(self, Remaining::with_capacity(self.index.len()));
        for ((i, topic), message) in taken.index.into_iter().zip(taken.topics).zip(taken.messages) {
            if refused[i].is_none() {
                self.push(i, topic, message);
            }
        }
    }
}

/// What an input was before the first transform changed it.
enum Original {
    /// Only its value changed (contract 0.1 transforms): key and headers are still its own.
    Value(Vec<u8>),
    /// The whole record, once a 0.2 transform made records of it.
    Whole(Record),
}

impl Original {
    /// Keeps `message` (about to be replaced by what a transform made of it) as the
    /// original, unless an earlier original is kept already.
    fn keep(slot: &mut Option<Original>, mut message: Record) {
        *slot = Some(match slot.take() {
            None => Original::Whole(message),
            Some(Original::Value(value)) => {
                message.value = value;
                Original::Whole(message)
            }
            Some(whole) => whole,
        });
    }

    /// The input as it came in, from its original and `message` (what it is now).
    fn restore(original: Option<Original>, mut message: Record) -> Record {
        match original {
            None => message,
            Some(Original::Value(value)) => {
                message.value = value;
                message
            }
            Some(Original::Whole(original)) => original,
        }
    }
}

/// The topic each emitted record goes to: its output's, the input's (`inherited`) when
/// it names none; an error naming an output the stage does not have.
fn routed(
    records: Vec<Emitted>,
    outputs: &BTreeMap<String, String>,
    inherited: &Option<String>,
) -> Result<Vec<(Emitted, Option<String>)>, String> {
    records
        .into_iter()
        .map(|emitted| {
            let topic = match &emitted.output {
                None => inherited.clone(),
                Some(name) => {
                    Some(outputs.get(name).cloned().ok_or_else(|| unknown_output(name, outputs))?)
                }
            };
            Ok((emitted, topic))
        })
        .collect()
}

fn unknown_output(name: &str, outputs: &BTreeMap<String, String>) -> String {
    let known = if outputs.is_empty() {
        "none".to_string()
    } else {
        outputs.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    };
    format!("emitted a record to output `{name}`, which the stage does not have (its `outputs`: {known})")
}

impl Emitted {
    /// The record to deliver: what the plugin emitted, from where `input` came. Headers
    /// starting with `weir.` are the host's: a plugin's are dropped.
    fn into_message(self, input: &Record) -> Record {
        let headers = self.headers.into_iter().filter(|h| !h.key.starts_with("weir.")).collect();
        Record {
            key: self.key,
            value: self.value,
            headers,
            topic: input.topic.clone(),
            partition: input.partition,
            offset: input.offset,
            timestamp: input.timestamp,
        }
    }
}
