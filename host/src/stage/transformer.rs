//! Stage kind `transformer`: a new value, or why there is none.

use super::Kind;
use crate::bindings::transformer::TransformerPre;
use crate::bindings::transformer::Transformer as Bindings;
use crate::bindings::types::Message;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::InstancePre;
use wasmtime::Store;

pub struct Transform;

impl Kind for Transform {
    const WORLD: World = World::Transformer;
    type Pre = TransformerPre<Sandbox>;
    type Bindings = Bindings;
    type Input = Message;
    type Output = Result<Vec<u8>, String>;

    fn pre(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        TransformerPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<Bindings> {
        pre.instantiate(store)
    }

    fn init(b: &Bindings, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.call_init(store, config)
    }

    fn call(b: &Bindings, store: &mut Store<Sandbox>, batch: &[Message]) -> wasmtime::Result<Vec<Self::Output>> {
        b.call_transform(store, batch)
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
