//! Stage kind `transformer`: a new value, or why there is none.

use super::Kind;
use crate::bindings::transformer::TransformerPre;
use crate::bindings::transformer::Transformer as Bindings;
use crate::bindings::types::Message;
use crate::plugin::returned::Bounded;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::{Func, InstancePre, TypedFunc};
use wasmtime::Store;

pub struct Transform;

type Returned = (Bounded<Vec<Result<Bounded<Vec<u8>>, Bounded<String>>>>,);

/// The exports, with `transform` lifted bounded.
pub struct Exports {
    bindings: Bindings,
    transform: Func,
}

impl Kind for Transform {
    const WORLD: World = World::Transformer;
    type Pre = TransformerPre<Sandbox>;
    type Bindings = Exports;
    type Input = Message;
    type Output = Result<Vec<u8>, String>;

    fn pre(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        TransformerPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<Exports> {
        let (bindings, transform) =
            super::instantiate_with::<(&[Message],), Returned, _>(pre.instance_pre(), store, |s, i| Bindings::new(s, i), "transform")?;
        Ok(Exports { bindings, transform })
    }

    fn init(b: &Exports, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.bindings.call_init(store, config)
    }

    fn call(b: &mut Exports, store: &mut Store<Sandbox>, batch: &[Message]) -> wasmtime::Result<Vec<Self::Output>> {
        // SAFETY: the types were checked in `instantiate`.
        let transform = unsafe { TypedFunc::<(&[Message],), Returned>::new_unchecked(b.transform) };
        let (outcomes,) = transform.call(store, (batch,))?;
        Ok(outcomes.into_inner().into_iter().map(|outcome| outcome.map(Bounded::into_inner).map_err(Bounded::into_inner)).collect())
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
