//! Stage kind `transformer`: what each record becomes, or why it cannot go on.
//! Contract 0.1 answers a new value; 0.2 answers 0..N records (value, key, headers and
//! the output each goes to).

pub use super::emitted::{Emitted, Transformed};
use super::wire::Wire;
use super::{Exports, Kind, Linked};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::record::Record;
use wasmtime::Store;

pub struct Transform;

/// The exports, and the calls of the plugin's contract version.
pub struct Calls {
    exports: Exports,
    wire: &'static dyn Wire,
}

impl Kind for Transform {
    const WORLD: World = World::Transformer;
    type Calls = Calls;
    type Input = Record;
    type Output = Result<Transformed, String>;

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
        b.wire.transform(&b.exports, store, batch)
    }

    fn value_len(input: &Self::Input) -> usize {
        input.value.len()
    }
}
