//! Stage kind `validator`: ok, or the violations of each message.

use super::{frame, Exports, Kind, Linked};
use crate::bindings::types::{Message, Violation};
use crate::plugin::returned::Bounded;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::{ComponentType, Lift};
use wasmtime::Store;

pub struct Validate;

/// `violation` as returned (contract 0.1), lifted within the call's budget.
#[derive(ComponentType, Lift)]
#[component(record)]
struct ReturnedViolation {
    path: Bounded<String>,
    reason: Bounded<String>,
}

type ReturnedV1 = (Bounded<Vec<Result<(), Bounded<Vec<ReturnedViolation>>>>>,);

/// The exports, and whether batches cross as frames (0.2) or lists (0.1).
pub struct Bindings {
    exports: Exports,
    framed: bool,
}

impl Kind for Validate {
    const WORLD: World = World::Validator;
    type Bindings = Bindings;
    type Input = Message;
    type Output = Result<(), Vec<Violation>>;

    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Bindings> {
        let framed = linked.contract.framed();
        let exports = match framed {
            true => Exports::of::<(&[u8],), (Bounded<Vec<u8>>,)>(linked, store, "validate")?,
            false => Exports::of::<(&[Message],), ReturnedV1>(linked, store, "validate")?,
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
        batch: &[Message],
    ) -> wasmtime::Result<Vec<Self::Output>> {
        if b.framed {
            let answer = b.exports.call_framed(store, &frame::batch(batch))?;
            return frame::validated(&answer, batch.len());
        }
        let (outcomes,) = b.exports.call::<(&[Message],), ReturnedV1>(store, (batch,))?;
        Ok(outcomes
            .into_inner()
            .into_iter()
            .map(|outcome| {
                outcome.map_err(|violations| {
                    violations
                        .into_inner()
                        .into_iter()
                        .map(|v| Violation { path: v.path.0, reason: v.reason.0 })
                        .collect()
                })
            })
            .collect())
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
