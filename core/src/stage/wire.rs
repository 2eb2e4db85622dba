//! How a batch crosses into a plugin, by the contract version it was built for: as lists
//! of records (0.1, `listed`) or as one frame each way (0.2, `frame`). Stage kinds call
//! through `Wire` (chosen by `stage::wire_of`) and never ask which.

use super::emitted::Transformed;
use super::{Exports, Linked};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::record::{Damaged, Record, RepairOutcome, Violation};
use wasmtime::component::{Func, Instance, ResourceAny};
use wasmtime::Store;

/// One contract version's calls. Every answer is lifted within the call's budget
/// (`plugin::returned`).
pub(super) trait Wire: Sync {
    /// Instantiates `linked` and checks `world`'s `init` and batch function for this
    /// version's types. Not for aggregators: their batch function is a method
    /// (`update_export`).
    fn exports(
        &self,
        world: World,
        linked: &Linked,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Exports>;

    fn validate(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Record],
    ) -> wasmtime::Result<Vec<Result<(), Vec<Violation>>>>;

    fn transform(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Record],
    ) -> wasmtime::Result<Vec<Result<Transformed, String>>>;

    fn repair(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Damaged],
    ) -> wasmtime::Result<Vec<RepairOutcome>>;

    /// An aggregator's `[method]state.update` in `interface`, checked for this version.
    fn update_export(
        &self,
        instance: &Instance,
        store: &mut Store<Sandbox>,
        interface: Option<&str>,
    ) -> wasmtime::Result<Func>;

    /// Folds `run` into `state` with an `update` from `update_export`.
    fn update(
        &self,
        update: Func,
        store: &mut Store<Sandbox>,
        state: ResourceAny,
        run: &[&Record],
    ) -> wasmtime::Result<()>;
}
