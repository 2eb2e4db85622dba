//! The four stage kinds of the contract, and telling which one a component implements.

use super::contract::Version;
use super::contract::TABLES;
use super::sandbox::Sandbox;
use crate::plugin::bindings::{aggregator, repairer, transformer, v2, v3, validator};
use std::fmt;
use wasmtime::component::{Component, InstancePre};
use wasmtime::Engine;

/// A world of `wit/weir.wit`: what a plugin must export to serve as a kind of stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum World {
    Validator,
    Transformer,
    Repairer,
    Aggregator,
}

impl World {
    pub const ALL: [World; 4] =
        [World::Validator, World::Transformer, World::Repairer, World::Aggregator];

    pub fn name(self) -> &'static str {
        match self {
            World::Validator => "validator",
            World::Transformer => "transformer",
            World::Repairer => "repairer",
            World::Aggregator => "aggregator",
        }
    }

    /// Whether `export` is the export only this world has (in any contract version).
    fn is_signature_export(self, export: &str) -> bool {
        match self {
            World::Validator => export == "validate",
            World::Transformer => export == "transform",
            World::Repairer => export == "repair",
            World::Aggregator => export.starts_with("weir:plugin/aggregate@"),
        }
    }

    pub fn parse(name: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Checks a pre-linked component's exports against this world's types in the
    /// contract version it was built for (the generated `*Pre`), so a mismatch is refused
    /// at load rather than at the first call.
    pub fn type_check(self, pre: &InstancePre<Sandbox>, contract: Version) -> wasmtime::Result<()> {
        let pre = pre.clone();
        if contract >= TABLES {
            return match self {
                World::Validator => v3::validator::ValidatorPre::new(pre).map(drop),
                World::Transformer => v3::transformer::TransformerPre::new(pre).map(drop),
                World::Repairer => v3::repairer::RepairerPre::new(pre).map(drop),
                World::Aggregator => v3::aggregator::AggregatorPre::new(pre).map(drop),
            };
        }
        match (self, contract.framed()) {
            (World::Validator, false) => validator::ValidatorPre::new(pre).map(drop),
            (World::Transformer, false) => transformer::TransformerPre::new(pre).map(drop),
            (World::Repairer, false) => repairer::RepairerPre::new(pre).map(drop),
            (World::Aggregator, false) => aggregator::AggregatorPre::new(pre).map(drop),
            (World::Validator, true) => v2::validator::ValidatorPre::new(pre).map(drop),
            (World::Transformer, true) => v2::transformer::TransformerPre::new(pre).map(drop),
            (World::Repairer, true) => v2::repairer::RepairerPre::new(pre).map(drop),
            (World::Aggregator, true) => v2::aggregator::AggregatorPre::new(pre).map(drop),
        }
    }

    /// Which world a component implements, judged by its export names; `None` if none.
    /// The types are checked by `type_check`.
    pub fn of(component: &Component, engine: &Engine) -> Option<World> {
        let ty = component.component_type();
        let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        World::ALL
            .into_iter()
            .find(|w| exports.iter().any(|e| w.is_signature_export(e)) && exports.contains(&"init"))
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
