//! The four stage kinds of the contract, and telling which one a component implements.

use std::fmt;
use super::sandbox::Sandbox;
use crate::bindings::{aggregator, repairer, transformer, validator};
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

    /// The export that only this world has.
    fn signature_export(self) -> &'static str {
        match self {
            World::Validator => "validate",
            World::Transformer => "transform",
            World::Repairer => "repair",
            World::Aggregator => "weir:plugin/aggregate@0.1.0",
        }
    }

    pub fn parse(name: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Checks a pre-linked component's exports against this world's types (the generated
    /// `*Pre`), so a mismatch is refused at load rather than at the first call.
    pub fn type_check(self, pre: &InstancePre<Sandbox>) -> wasmtime::Result<()> {
        match self {
            World::Validator => validator::ValidatorPre::new(pre.clone()).map(drop),
            World::Transformer => transformer::TransformerPre::new(pre.clone()).map(drop),
            World::Repairer => repairer::RepairerPre::new(pre.clone()).map(drop),
            World::Aggregator => aggregator::AggregatorPre::new(pre.clone()).map(drop),
        }
    }

    /// Which world a component implements, judged by its export names; `None` if none.
    /// The types are checked by `type_check`.
    pub fn of(component: &Component, engine: &Engine) -> Option<World> {
        let ty = component.component_type();
        let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        World::ALL.into_iter().find(|w| {
            exports.contains(&w.signature_export()) && exports.contains(&"init")
        })
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
