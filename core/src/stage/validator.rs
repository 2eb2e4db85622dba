//! Stage kind `validator`: ok, or the violations of each message.

use super::Kind;
use crate::bindings::types::{Message, Violation};
use crate::bindings::validator::ValidatorPre;
use crate::bindings::validator::Validator as Bindings;
use crate::plugin::returned::Bounded;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::{ComponentType, Func, InstancePre, Lift, TypedFunc};
use wasmtime::Store;

pub struct Validate;

/// `violation` as returned, lifted within the call's budget.
#[derive(ComponentType, Lift)]
#[component(record)]
struct ReturnedViolation {
    path: Bounded<String>,
    reason: Bounded<String>,
}

type Returned = (Bounded<Vec<Result<(), Bounded<Vec<ReturnedViolation>>>>>,);

/// The exports, with `validate` lifted bounded.
pub struct Exports {
    bindings: Bindings,
    validate: Func,
}

impl Kind for Validate {
    const WORLD: World = World::Validator;
    type Pre = ValidatorPre<Sandbox>;
    type Bindings = Exports;
    type Input = Message;
    type Output = Result<(), Vec<Violation>>;

    fn pre(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        ValidatorPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<Exports> {
        let (bindings, validate) =
            super::instantiate_with::<(&[Message],), Returned, _>(pre.instance_pre(), store, |s, i| Bindings::new(s, i), "validate")?;
        Ok(Exports { bindings, validate })
    }

    fn init(b: &Exports, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.bindings.call_init(store, config)
    }

    fn call(b: &mut Exports, store: &mut Store<Sandbox>, batch: &[Message]) -> wasmtime::Result<Vec<Self::Output>> {
        // SAFETY: the types were checked in `instantiate`.
        let validate = unsafe { TypedFunc::<(&[Message],), Returned>::new_unchecked(b.validate) };
        let (outcomes,) = validate.call(store, (batch,))?;
        Ok(outcomes.into_inner().into_iter().map(|outcome| {
            outcome.map_err(|violations| {
                violations.into_inner().into_iter().map(|v| Violation { path: v.path.0, reason: v.reason.0 }).collect()
            })
        }).collect())
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
