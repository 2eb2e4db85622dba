//! Stage kind `repairer`: a repaired value, or why the record is unrepairable.

use super::Kind;
use crate::bindings::repairer::RepairerPre;
use crate::bindings::repairer::Repairer as Bindings;
use crate::bindings::types::{Damaged, RepairOutcome};
use crate::plugin::returned::Bounded;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::{ComponentType, Func, InstancePre, Lift, TypedFunc};
use wasmtime::Store;

pub struct Repair;

/// `repair-outcome` as returned, lifted within the call's budget.
#[derive(ComponentType, Lift)]
#[component(variant)]
enum ReturnedOutcome {
    #[component(name = "repaired")]
    Repaired(Bounded<Vec<u8>>),
    #[component(name = "unrepairable")]
    Unrepairable(Bounded<String>),
}

type Returned = (Bounded<Vec<ReturnedOutcome>>,);

/// The exports, with `repair` lifted bounded.
pub struct Exports {
    bindings: Bindings,
    repair: Func,
}

impl Kind for Repair {
    const WORLD: World = World::Repairer;
    type Pre = RepairerPre<Sandbox>;
    type Bindings = Exports;
    type Input = Damaged;
    type Output = RepairOutcome;

    fn pre(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        RepairerPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<Exports> {
        let (bindings, repair) =
            super::instantiate_with::<(&[Damaged],), Returned, _>(pre.instance_pre(), store, |s, i| Bindings::new(s, i), "repair")?;
        Ok(Exports { bindings, repair })
    }

    fn init(b: &Exports, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.bindings.call_init(store, config)
    }

    fn call(b: &mut Exports, store: &mut Store<Sandbox>, batch: &[Damaged]) -> wasmtime::Result<Vec<RepairOutcome>> {
        // SAFETY: the types were checked in `instantiate`.
        let repair = unsafe { TypedFunc::<(&[Damaged],), Returned>::new_unchecked(b.repair) };
        let (outcomes,) = repair.call(store, (batch,))?;
        Ok(outcomes.into_inner().into_iter().map(|outcome| match outcome {
            ReturnedOutcome::Repaired(value) => RepairOutcome::Repaired(value.0),
            ReturnedOutcome::Unrepairable(reason) => RepairOutcome::Unrepairable(reason.0),
        }).collect())
    }

    fn value_len(input: &Self::Input) -> usize {
        input.message.value.len()
    }
}
