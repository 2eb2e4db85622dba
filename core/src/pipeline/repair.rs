//! The repair flow, free of I/O: repair plugin, then validation of what it made.

use crate::config::Config;
use crate::format::Formats;
use crate::pipeline::load_stage;
use crate::plugin::Runtime;
use crate::record::{Damaged, Record, RepairOutcome, Violation};
use crate::stage::repairer::Repair;
use crate::stage::validator::Validate;
use crate::stage::Stage;

/// What became of one dead letter.
#[derive(Debug, Clone, PartialEq)]
pub enum Repaired {
    /// A value that now passes validation.
    Fixed(Vec<u8>),
    /// Why it cannot go back to the input topic.
    Unrepairable(String),
}

/// The repair chain: the repair plugin, then the validator on what it made.
pub struct RepairPipeline {
    repair: Stage<Repair>,
    validate: Option<Stage<Validate>>,
    pub max_attempts: u32,
    /// The input topic's format, when it has one: dead letters are read in it and the
    /// repaired records written back in it.
    formats: Option<Formats>,
}

impl RepairPipeline {
    pub fn from_config(
        runtime: &Runtime,
        config: &Config,
        resolve: &dyn crate::config::Resolve,
    ) -> anyhow::Result<RepairPipeline> {
        let Some(repair) = &config.repair else {
            anyhow::bail!(
                "config {}: no [repair] stage. Add one with `plugin = \"target/plugins/dead-letter-repair.wasm\"`",
                config.source.display()
            );
        };
        let validate = match &config.validate {
            Some(v) => Some(load_stage::<Validate>(runtime, config, "validate", v, resolve)?),
            None => None,
        };
        let k = &config.kafka;
        let formats =
            Formats::for_repair(&config.topics, &k.input_topic, &k.dead_letter_topic, || {
                resolve.schema_source(config)
            })
            .map_err(|(key, reason)| config.key_error(&key, &reason))?;
        Ok(RepairPipeline {
            repair: load_stage::<Repair>(runtime, config, "repair", &repair.stage, resolve)?,
            validate,
            max_attempts: repair.max_attempts,
            formats,
        })
    }

    /// Records what each stage does in `metrics` from now on.
    pub fn observe(&mut self, metrics: &crate::ops::Metrics) {
        crate::pipeline::observe_stage(&mut self.repair, metrics);
        if let Some(validate) = &mut self.validate {
            crate::pipeline::observe_stage(validate, metrics);
        }
    }

    /// Repairs a batch. Violations that are not known are found by validating first. With
    /// a formatted input, a dead letter that cannot be read, or a repair that does not fit
    /// the input's schema, is unrepairable, saying why.
    pub fn repair(&mut self, batch: Vec<(Record, Option<Vec<Violation>>)>) -> Vec<Repaired> {
        let Some(formats) = &mut self.formats else { return self.repair_json(batch) };
        let mut unreadable: Vec<Option<String>> = Vec::with_capacity(batch.len());
        let mut readable = Vec::with_capacity(batch.len());
        for (mut message, violations) in batch {
            match formats.decode(&message.topic, &message.value) {
                Some(Err(reason)) => {
                    unreadable.push(Some(format!("not in the input's format: {reason}")))
                }
                decoded => {
                    if let Some(Ok(json)) = decoded {
                        message.value = json;
                    }
                    unreadable.push(None);
                    readable.push((message, violations));
                }
            }
        }
        let mut repaired = self.repair_json(readable).into_iter();
        let formats = self.formats.as_ref().expect("set above");
        unreadable
            .into_iter()
            .map(|unreadable| match (unreadable, repaired.next()) {
                (Some(reason), _) => Repaired::Unrepairable(reason),
                (None, Some(Repaired::Fixed(json))) => match formats.encode(None, &json) {
                    Some(Err(reason)) => Repaired::Unrepairable(format!("repaired, but {reason}")),
                    Some(Ok(bytes)) => Repaired::Fixed(bytes),
                    None => Repaired::Fixed(json),
                },
                (None, Some(unrepairable)) => unrepairable,
                (None, None) => unreachable!("one answer per readable dead letter"),
            })
            .collect()
    }

    fn repair_json(&mut self, batch: Vec<(Record, Option<Vec<Violation>>)>) -> Vec<Repaired> {
        let unknown: Vec<Record> =
            batch.iter().filter(|(_, v)| v.is_none()).map(|(m, _)| m.clone()).collect();
        let mut found = self.violations_of(&unknown).into_iter();
        let damaged: Vec<Damaged> = batch
            .into_iter()
            .map(|(message, violations)| {
                let violations =
                    violations.unwrap_or_else(|| found.next().expect("one per unknown"));
                Damaged { message, violations }
            })
            .collect();

        let outcomes = self.repair.run(&damaged);
        let fixed: Vec<Record> = damaged
            .iter()
            .zip(&outcomes)
            .filter_map(|(d, outcome)| match outcome {
                Ok(RepairOutcome::Repaired(value)) => {
                    Some(Record { value: value.clone(), ..d.message.clone() })
                }
                _ => None,
            })
            .collect();
        let mut checks = self.violations_of(&fixed).into_iter();
        let plugin = crate::pipeline::plugin_name(self.repair.plugin_path());
        outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(RepairOutcome::Repaired(value)) => {
                    let violations = checks.next().expect("one check per repaired value");
                    if violations.is_empty() {
                        Repaired::Fixed(value)
                    } else {
                        Repaired::Unrepairable(format!(
                            "still invalid after repair: {}",
                            crate::pipeline::summary(&violations)
                        ))
                    }
                }
                Ok(RepairOutcome::Unrepairable(reason)) => Repaired::Unrepairable(reason),
                Err(fault) => {
                    Repaired::Unrepairable(format!("repair plugin {plugin} {}", fault.reason))
                }
            })
            .collect()
    }

    /// The violations of each message (empty when valid, or when there is no validator).
    fn violations_of(&mut self, messages: &[Record]) -> Vec<Vec<Violation>> {
        let Some(validate) = &mut self.validate else {
            return vec![Vec::new(); messages.len()];
        };
        validate
            .run(messages)
            .into_iter()
            .map(|verdict| match verdict {
                Ok(Ok(())) => Vec::new(),
                Ok(Err(violations)) => violations,
                Err(fault) => {
                    vec![crate::pipeline::root_violation(format!("validator {}", fault.reason))]
                }
            })
            .collect()
    }
}
