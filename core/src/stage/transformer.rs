//! Stage kind `transformer`: what each record becomes, or why it cannot go on.
//! Contract 0.1 answers a new value; 0.2 answers 0..N records (value, key, headers and
//! the output each goes to).

pub use super::emitted::{Emitted, Transformed};
use super::{frame, Exports, Kind, Linked};
use crate::bindings::types::Message;
use crate::plugin::returned::Bounded;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::Store;

pub struct Transform;

type ReturnedV1 = (Bounded<Vec<Result<Bounded<Vec<u8>>, Bounded<String>>>>,);

/// The exports, and whether batches cross as frames (0.2) or lists (0.1).
pub struct Bindings {
    exports: Exports,
    framed: bool,
}

impl Kind for Transform {
    const WORLD: World = World::Transformer;
    type Bindings = Bindings;
    type Input = Message;
    type Output = Result<Transformed, String>;

    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Bindings> {
        let framed = linked.contract.framed();
        let exports = match framed {
            true => Exports::of::<(&[u8],), (Bounded<Vec<u8>>,)>(linked, store, "transform")?,
            false => Exports::of::<(&[Message],), ReturnedV1>(linked, store, "transform")?,
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
            return frame::transformed(&answer, batch.len());
        }
        let (outcomes,) = b.exports.call::<(&[Message],), ReturnedV1>(store, (batch,))?;
        Ok(outcomes
            .into_inner()
            .into_iter()
            .map(|outcome| {
                outcome
                    .map(|value| Transformed::Value(value.into_inner()))
                    .map_err(Bounded::into_inner)
            })
            .collect())
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
