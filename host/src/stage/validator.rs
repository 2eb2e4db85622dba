//! Stage kind `validator`: ok, or the violations of each message.

use super::Kind;
use crate::bindings::types::{Message, Violation};
use crate::bindings::validator::ValidatorPre;
use crate::bindings::validator::Validator as Bindings;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::InstancePre;
use wasmtime::Store;

pub struct Validate;

impl Kind for Validate {
    const WORLD: World = World::Validator;
    type Pre = ValidatorPre<Sandbox>;
    type Bindings = Bindings;
    type Input = Message;
    type Output = Result<(), Vec<Violation>>;

    fn pre(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        ValidatorPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<Bindings> {
        pre.instantiate(store)
    }

    fn init(b: &Bindings, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.call_init(store, config)
    }

    fn call(b: &Bindings, store: &mut Store<Sandbox>, batch: &[Message]) -> wasmtime::Result<Vec<Self::Output>> {
        b.call_validate(store, batch)
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
