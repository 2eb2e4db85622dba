//! Stage kind `repairer`: a repaired value, or why the record is unrepairable.

use super::Kind;
use crate::bindings::repairer::RepairerPre;
use crate::bindings::repairer::Repairer as Bindings;
use crate::bindings::types::{Damaged, RepairOutcome};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::InstancePre;
use wasmtime::Store;

pub struct Repair;

impl Kind for Repair {
    const WORLD: World = World::Repairer;
    type Pre = RepairerPre<Sandbox>;
    type Bindings = Bindings;
    type Input = Damaged;
    type Output = RepairOutcome;

    fn pre(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        RepairerPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<Bindings> {
        pre.instantiate(store)
    }

    fn init(b: &Bindings, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.call_init(store, config)
    }

    fn call(b: &Bindings, store: &mut Store<Sandbox>, batch: &[Damaged]) -> wasmtime::Result<Vec<RepairOutcome>> {
        b.call_repair(store, batch)
    }

    fn value_len(input: &Self::Input) -> usize {
        input.message.value.len()
    }
}
