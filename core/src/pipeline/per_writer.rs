//! `schema = "registry://by-id"`: each record of a `confluent-json` input is validated
//! against the JSON Schema its producer wrote it with — the one whose id frames it. The
//! contract gives a validator one schema at `init`, so there is one instance per writer's
//! schema, started the first time a record names it and kept (a bounded few).
//!
//! The producer names the ids, so what they cost is bounded: the instances' memory
//! limits add up to `MEMORY` at most (16 instances at most), the least recently used
//! goes first, and instances start `STARTS_BURST` at once then one a second — ids
//! rotating past the bound cost `format` dead letters, not a validator started per batch.

use super::outcome::{Cause, Rejection};
use crate::format::Formats;
use crate::ops::Metrics;
use crate::plugin::limits::Limits;
use crate::plugin::Plugin;
use crate::record::Record;
use crate::stage::validator::Validate;
use crate::stage::Stage;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Writers' schemas with a validator instance at a time. A topic's producers rarely use
/// more than a few versions at once.
const INSTANCES: usize = 16;
/// What the instances' memory limits may add up to.
const MEMORY: usize = 256 << 20;
/// Instances started at once, then one a second.
const STARTS_BURST: f64 = 16.0;

pub struct PerWriterSchema {
    name: String,
    plugin: Plugin,
    /// The stage's resolved config; `schema` is set per instance.
    config: serde_json::Value,
    limits: Limits,
    /// The tables its instances may read.
    tables: crate::table::Grant,
    /// Per schema id, its validator, or why the schema cannot be one (ids never change
    /// their schema in a registry: an unusable one stays unusable).
    instances: HashMap<u32, Result<Stage<Validate>, String>>,
    /// Least recently used first.
    order: VecDeque<u32>,
    metrics: Option<Metrics>,
    /// Starts allowed now (a token bucket), as of `refilled`.
    starts: f64,
    refilled: Instant,
}

impl PerWriterSchema {
    pub fn new(
        name: &str,
        plugin: Plugin,
        config: serde_json::Value,
        limits: Limits,
        tables: crate::table::Grant,
    ) -> PerWriterSchema {
        PerWriterSchema {
            name: name.to_string(),
            plugin,
            config,
            limits,
            tables,
            instances: HashMap::new(),
            order: VecDeque::new(),
            metrics: None,
            starts: STARTS_BURST,
            refilled: Instant::now(),
        }
    }

    /// How many instances are kept: as many as `MEMORY` holds at the stage's memory limit.
    pub fn capacity(&self) -> usize {
        (MEMORY / self.limits.memory_bytes().max(1)).clamp(1, INSTANCES)
    }

    /// Whether an instance may start now (if so, one start is spent).
    fn may_start(&mut self) -> bool {
        let now = Instant::now();
        self.starts =
            (self.starts + now.duration_since(self.refilled).as_secs_f64()).min(STARTS_BURST);
        self.refilled = now;
        if self.starts < 1.0 {
            return false;
        }
        self.starts -= 1.0;
        true
    }

    /// The instances' memory, as one stage.
    pub fn memory(&self) -> super::StageMemory {
        let live: Vec<_> = self.instances.values().flatten().collect();
        super::StageMemory {
            stage: self.name.clone(),
            instances: live.len(),
            linear_bytes: live.iter().map(|stage| stage.memory_bytes()).sum(),
            limit_bytes: self.limits.memory_bytes(),
            kept_bytes: 0,
        }
    }

    pub fn observe(&mut self, metrics: &Metrics) {
        for stage in self.instances.values_mut().flatten() {
            super::observe_stage(stage, metrics);
        }
        self.metrics = Some(metrics.clone());
    }

    /// Each message's verdict, in order; `ids` are the schema ids that framed them.
    pub fn run(
        &mut self,
        messages: &[Record],
        ids: &[Option<u32>],
        formats: &mut Formats,
    ) -> Vec<Result<(), Rejection>> {
        let mut verdicts: Vec<Option<Result<(), Rejection>>> =
            (0..messages.len()).map(|_| None).collect();
        let mut by_id: Vec<(Option<u32>, Vec<usize>)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match by_id.iter_mut().find(|(known, _)| known == id) {
                Some((_, places)) => places.push(i),
                None => by_id.push((*id, vec![i])),
            }
        }
        for (id, places) in by_id {
            let Some(id) = id else {
                for i in places {
                    verdicts[i] = Some(Err(self.refusal("the record has no writer's schema id (it was not read from a confluent-json topic)".into())));
                }
                continue;
            };
            match self.instance(id, formats) {
                Ok(stage) => {
                    // One schema for the whole batch (the usual case): no copies.
                    let results = if places.len() == messages.len() {
                        stage.run(messages)
                    } else {
                        stage.run(&places.iter().map(|&i| messages[i].clone()).collect::<Vec<_>>())
                    };
                    for (i, result) in places.into_iter().zip(results) {
                        verdicts[i] = Some(match result {
                            Ok(Ok(())) => Ok(()),
                            Ok(Err(violations)) => Err(Rejection::new(stage, violations)),
                            Err(fault) => Err(Rejection::fault(stage, fault)),
                        });
                    }
                }
                Err(reason) => {
                    for i in places {
                        verdicts[i] = Some(Err(self.refusal(reason.clone())));
                    }
                }
            }
        }
        verdicts.into_iter().map(|v| v.expect("every message is in one group")).collect()
    }

    fn refusal(&self, reason: String) -> Rejection {
        Rejection::host(&self.name, Cause::Format, reason)
    }

    /// The validator for schema `id`, started now if it has none.
    fn instance(&mut self, id: u32, formats: &mut Formats) -> Result<&mut Stage<Validate>, String> {
        if self.instances.contains_key(&id) {
            self.order.retain(|kept| *kept != id);
            self.order.push_back(id);
        } else {
            // A registry that did not answer is not kept as the schema's verdict.
            let schema = formats.writers_schema(id)?;
            if !self.may_start() {
                return Err(format!(
                    "no validator for schema id {id} now: writers' schemas rotate faster than weir starts validators for them ({} kept, one started a second)",
                    self.capacity()
                ));
            }
            let started = self.start(id, schema.json_schema.as_deref());
            while self.order.len() >= self.capacity() {
                match self.order.pop_front() {
                    Some(least_recent) => drop(self.instances.remove(&least_recent)),
                    None => break,
                }
            }
            self.order.push_back(id);
            self.instances.insert(id, started);
        }
        self.instances
            .get_mut(&id)
            .expect("inserted above")
            .as_mut()
            .map_err(|reason| reason.clone())
    }

    fn start(&self, id: u32, schema: Option<&str>) -> Result<Stage<Validate>, String> {
        let unusable =
            |why: String| format!("the writer's schema (id {id}) cannot validate: {why}");
        let document: serde_json::Value =
            serde_json::from_str(schema.ok_or_else(|| unusable("it is not a JSON Schema".into()))?)
                .map_err(|e| unusable(format!("it is not JSON: {e}")))?;
        let mut config = self.config.clone();
        config["schema"] = document;
        let mut stage = Stage::<Validate>::reading(
            &self.name,
            &self.plugin,
            config.to_string(),
            self.limits,
            self.tables.clone(),
        )
        .map_err(|e| unusable(format!("{e:#}")))?;
        if let Some(metrics) = &self.metrics {
            super::observe_stage(&mut stage, metrics);
        }
        tracing::info!(
            stage = self.name,
            schema_id = id,
            "validating records written with schema id {id}"
        );
        Ok(stage)
    }
}
