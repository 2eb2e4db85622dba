//! Stage kind `repairer`: a repaired value, or why the record is unrepairable.

use super::{frame, Exports, Kind, Linked};
use crate::bindings::types::{Damaged, RepairOutcome};
use crate::plugin::returned::Bounded;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::{ComponentType, Lift};
use wasmtime::Store;

pub struct Repair;

/// `repair-outcome` as returned (contract 0.1), lifted within the call's budget.
#[derive(ComponentType, Lift)]
#[component(variant)]
enum ReturnedOutcome {
    #[component(name = "repaired")]
    Repaired(Bounded<Vec<u8>>),
    #[component(name = "unrepairable")]
    Unrepairable(Bounded<String>),
}

type ReturnedV1 = (Bounded<Vec<ReturnedOutcome>>,);

/// The exports, and whether batches cross as frames (0.2) or lists (0.1).
pub struct Bindings {
    exports: Exports,
    framed: bool,
}

impl Kind for Repair {
    const WORLD: World = World::Repairer;
    type Bindings = Bindings;
    type Input = Damaged;
    type Output = RepairOutcome;

    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Bindings> {
        let framed = linked.contract.framed();
        let exports = match framed {
            true => Exports::of::<(&[u8],), (Bounded<Vec<u8>>,)>(linked, store, "repair")?,
            false => Exports::of::<(&[Damaged],), ReturnedV1>(linked, store, "repair")?,
        };
        Ok(Bindings { exports, framed })
    }

    fn init(
        b: &Bindings,
        store: &mut Store<Sandbox>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        b.exports.init(store, config)
    }

    fn call(
        b: &mut Bindings,
        store: &mut Store<Sandbox>,
        batch: &[Damaged],
    ) -> wasmtime::Result<Vec<RepairOutcome>> {
        if b.framed {
            let answer = b.exports.call_framed(store, &frame::damaged(batch))?;
            return frame::repaired(&answer, batch.len());
        }
        let (outcomes,) = b.exports.call::<(&[Damaged],), ReturnedV1>(store, (batch,))?;
        Ok(outcomes
            .into_inner()
            .into_iter()
            .map(|outcome| match outcome {
                ReturnedOutcome::Repaired(value) => RepairOutcome::Repaired(value.0),
                ReturnedOutcome::Unrepairable(reason) => RepairOutcome::Unrepairable(reason.0),
            })
            .collect())
    }

    fn value_len(input: &Self::Input) -> usize {
        input.message.value.len()
    }
}
