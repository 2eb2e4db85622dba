//! `schema = "registry://by-id"`: each record of a `confluent-json` input is validated
//! against the JSON Schema its producer wrote it with — the one whose id frames it. The
//! contract gives a validator one schema at `init`, so there is one instance per writer's
//! schema, started the first time a record names it and kept (a bounded few).

use super::outcome::{Cause, Rejection};
use crate::bindings::types::Message;
use crate::format::Formats;
use crate::ops::Metrics;
use crate::plugin::limits::Limits;
use crate::plugin::Plugin;
use crate::stage::validator::Validate;
use crate::stage::Stage;
use std::collections::{HashMap, VecDeque};

/// Writers' schemas with a validator instance at a time; the oldest goes first. A topic's
/// producers rarely use more than a few versions at once.
const INSTANCES: usize = 16;

pub struct PerWriterSchema {
    name: String,
    plugin: Plugin,
    /// The stage's resolved config; `schema` is set per instance.
    config: serde_json::Value,
    limits: Limits,
    /// Per schema id, its validator, or why the schema cannot be one (ids never change
    /// their schema in a registry: an unusable one stays unusable).
    instances: HashMap<u32, Result<Stage<Validate>, String>>,
    order: VecDeque<u32>,
    metrics: Option<Metrics>,
}

impl PerWriterSchema {
    pub fn new(name: &str, plugin: Plugin, config: serde_json::Value, limits: Limits) -> PerWriterSchema {
        PerWriterSchema { name: name.to_string(), plugin, config, limits, instances: HashMap::new(), order: VecDeque::new(), metrics: None }
    }

    pub fn observe(&mut self, metrics: &Metrics) {
        for stage in self.instances.values_mut().flatten() {
            super::observe_stage(stage, metrics);
        }
        self.metrics = Some(metrics.clone());
    }

    /// Each message's verdict, in order; `ids` are the schema ids that framed them.
    pub fn run(&mut self, messages: &[Message], ids: &[Option<u32>], formats: &mut Formats) -> Vec<Result<(), Rejection>> {
        let mut verdicts: Vec<Option<Result<(), Rejection>>> = (0..messages.len()).map(|_| None).collect();
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
        if !self.instances.contains_key(&id) {
            // A registry that did not answer is not kept as the schema's verdict.
            let schema = formats.writers_schema(id)?;
            let started = self.start(id, schema.json_schema.as_deref());
            if self.order.len() >= INSTANCES {
                if let Some(oldest) = self.order.pop_front() {
                    self.instances.remove(&oldest);
                }
            }
            self.order.push_back(id);
            self.instances.insert(id, started);
        }
        self.instances.get_mut(&id).expect("inserted above").as_mut().map_err(|reason| reason.clone())
    }

    fn start(&self, id: u32, schema: Option<&str>) -> Result<Stage<Validate>, String> {
        let unusable = |why: String| format!("the writer's schema (id {id}) cannot validate: {why}");
        let document: serde_json::Value = serde_json::from_str(schema.ok_or_else(|| unusable("it is not a JSON Schema".into()))?)
            .map_err(|e| unusable(format!("it is not JSON: {e}")))?;
        let mut config = self.config.clone();
        config["schema"] = document;
        let mut stage = Stage::<Validate>::new(&self.name, &self.plugin, config.to_string(), self.limits).map_err(|e| unusable(format!("{e:#}")))?;
        if let Some(metrics) = &self.metrics {
            super::observe_stage(&mut stage, metrics);
        }
        tracing::info!(stage = self.name, schema_id = id, "validating records written with schema id {id}");
        Ok(stage)
    }
}
