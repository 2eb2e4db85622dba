//! Time stands still for a plugin (see `sandbox`), and it cannot wait either: WASI's
//! `subscribe-duration` and `subscribe-instant` are replaced by pollables that are ready
//! at once. A guest that sleeps (`std::thread::sleep`, a poll with a timeout) would
//! otherwise block inside host code, where the CPU budget's epoch deadline cannot fire;
//! now a sleep loop is a busy loop, and the budget ends it.

use super::sandbox::Sandbox;
use wasmtime::component::{Linker, Resource};
use wasmtime::StoreContextMut;
use wasmtime_wasi::clocks::WasiClocksView;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host as _;
use wasmtime_wasi::p2::DynPollable;

/// The interface as wasmtime-wasi links it (guests of any 0.2.x match it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Call after WASI is linked: shadows its waiting functions.
pub fn never_wait(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock
        .func_wrap("subscribe-duration", |store: StoreContextMut<'_, Sandbox>, (_,): (u64,)| {
            ready(store)
        })?;
    clock.func_wrap("subscribe-instant", |store: StoreContextMut<'_, Sandbox>, (_,): (u64,)| {
        ready(store)
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A pollable that is already ready, whatever the guest asked to wait for.
fn ready(mut store: StoreContextMut<'_, Sandbox>) -> wasmtime::Result<(Resource<DynPollable>,)> {
    Ok((store.data_mut().clocks().subscribe_duration(0)?,))
}
