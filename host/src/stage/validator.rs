//! Stage kind `validator`: ok, or the violations of each message.

use super::Kind;
use crate::bindings::types::{Message, Violation};
use crate::bindings::validator::Validator as Bindings;
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::Instance;
use wasmtime::Store;

pub struct Validate;

impl Kind for Validate {
    const WORLD: World = World::Validator;
    type Bindings = Bindings;
    type Input = Message;
    type Output = Result<(), Vec<Violation>>;

    fn bind(store: &mut Store<Sandbox>, instance: &Instance) -> wasmtime::Result<Bindings> {
        Bindings::new(store, instance)
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
