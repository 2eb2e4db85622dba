//! Stage kind `repairer`: a repaired value, or why the record is unrepairable.

use super::wire::Wire;
use super::{Exports, Kind, Linked};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::record::{Damaged, RepairOutcome};
use wasmtime::Store;

pub struct Repair;

/// The exports, and the calls of the plugin's contract version.
pub struct Calls {
    exports: Exports,
    wire: &'static dyn Wire,
}

impl Kind for Repair {
    const WORLD: World = World::Repairer;
    type Calls = Calls;
    type Input = Damaged;
    type Output = RepairOutcome;

    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Calls> {
        let wire = super::wire_of(linked.contract);
        Ok(Calls { exports: wire.exports(Self::WORLD, linked, store)?, wire })
    }

    fn init(
        b: &Calls,
        store: &mut Store<Sandbox>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        b.exports.init(store, config)
    }

    fn call(
        b: &mut Calls,
        store: &mut Store<Sandbox>,
        batch: &[Damaged],
    ) -> wasmtime::Result<Vec<RepairOutcome>> {
        b.wire.repair(&b.exports, store, batch)
    }

    fn value_len(input: &Self::Input) -> usize {
        input.message.value.len()
    }
}
