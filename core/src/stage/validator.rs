//! Stage kind `validator`: ok, or the violations of each record.

use super::wire::Wire;
use super::{Exports, Kind, Linked};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::record::{Record, Violation};
use wasmtime::Store;

pub struct Validate;

/// The exports, and the calls of the plugin's contract version.
pub struct Calls {
    exports: Exports,
    wire: &'static dyn Wire,
}

impl Kind for Validate {
    const WORLD: World = World::Validator;
    type Calls = Calls;
    type Input = Record;
    type Output = Result<(), Vec<Violation>>;

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
        batch: &[Record],
    ) -> wasmtime::Result<Vec<Self::Output>> {
        b.wire.validate(&b.exports, store, batch)
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
