//! A pipeline stage: one plugin instance of one world, with its config and limits.
//!
//! `Stage<K>` owns the instance and hides its failures: when a call traps, runs out of
//! time or memory, or answers with the wrong number of results, the instance is thrown
//! away, the batch is split in halves and retried on fresh instances until the poison
//! records are found. Only those records fail; the rest of the batch goes on.

pub mod aggregator;
mod bisect;
mod emitted;
mod frame;
mod listed;
mod recovery;
pub mod repairer;
pub mod transformer;
pub mod validator;
mod wire;

use crate::ops::metrics::StageMeter;
use crate::plugin::contract::Version;
use crate::plugin::limits::Limits;
use crate::plugin::returned;
use crate::plugin::sandbox::{LogBudget, Sandbox};
use crate::plugin::{Fault, FaultKind, PluginError};
use crate::plugin::{Plugin, World, EPOCH_TICK};
use crate::table::Grant;
use recovery::Recovery;
use std::path::PathBuf;
use wasmtime::component::{ComponentNamedList, Func, InstancePre, Lift, Lower, TypedFunc};
use wasmtime::Store;
use wire::Wire;

/// A plugin ready to instantiate (pre-linked, its exports type-checked at load), and the
/// contract version it was built for.
#[derive(Clone)]
pub struct Linked {
    pub pre: InstancePre<Sandbox>,
    pub contract: Version,
}

/// What distinguishes one world from another, for the host.
pub trait Kind {
    const WORLD: World;
    /// The typed exports of an instance (and any per-instance state such as a resource).
    type Calls;
    type Input;
    type Output;

    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<Self::Calls>;
    fn init(
        calls: &Self::Calls,
        store: &mut Store<Sandbox>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>>;
    /// Called once an instance is initialised (an aggregator creates its state here).
    fn ready(calls: Self::Calls, _store: &mut Store<Sandbox>) -> wasmtime::Result<Self::Calls> {
        Ok(calls)
    }
    fn call(
        calls: &mut Self::Calls,
        store: &mut Store<Sandbox>,
        batch: &[Self::Input],
    ) -> wasmtime::Result<Vec<Self::Output>>;
    /// Size of the value the stage's message limit applies to.
    fn value_len(input: &Self::Input) -> usize;
    /// Whether instances hold state that must outlive them (an aggregator's).
    const STATEFUL: bool = false;
    /// State that must outlive an instance (an aggregator's), as bytes; `None` for none.
    fn save(
        _calls: &mut Self::Calls,
        _store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// Puts saved state into a fresh instance.
    fn load(
        _calls: &mut Self::Calls,
        _store: &mut Store<Sandbox>,
        _state: &[u8],
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(Ok(()))
    }
}

struct Live<B> {
    store: Store<Sandbox>,
    calls: B,
}

pub struct Stage<K: Kind> {
    name: String,
    path: PathBuf,
    linked: Linked,
    engine: wasmtime::Engine,
    config: String,
    limits: Limits,
    live: Option<Live<K::Calls>>,
    /// Fresh instances made after a failure, for metrics and tests.
    restarts: u64,
    /// For a stateful kind: what a replacement instance needs to have the state back.
    recovery: Option<Recovery<K::Input>>,
    /// Where each batch is recorded, when the stage is watched (`observe`).
    meter: Option<StageMeter>,
    /// What its instances may write to weir's log, shared across restarts.
    log_budget: LogBudget,
    /// The tables its instances may read.
    tables: Grant,
}

impl<K: Kind> Stage<K> {
    /// Instantiates and initialises the plugin now, so a bad config fails at start.
    pub fn new(
        name: &str,
        plugin: &Plugin,
        config: String,
        limits: Limits,
    ) -> Result<Self, PluginError> {
        Stage::reading(name, plugin, config, limits, Grant::none())
    }

    /// A stage whose plugin may read `tables` (contract 0.3).
    pub fn reading(
        name: &str,
        plugin: &Plugin,
        config: String,
        limits: Limits,
        tables: Grant,
    ) -> Result<Self, PluginError> {
        plugin.expect_world(name, K::WORLD)?;
        let mut stage = Stage {
            name: name.to_string(),
            path: plugin.path.clone(),
            engine: plugin.pre.engine().clone(),
            linked: Linked { pre: plugin.pre.clone(), contract: plugin.contract },
            config,
            limits,
            live: None,
            restarts: 0,
            recovery: K::STATEFUL.then(Recovery::new),
            meter: None,
            log_budget: LogBudget::default(),
            tables,
        };
        stage.live = Some(stage.instantiate()?);
        Ok(stage)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn plugin_path(&self) -> &std::path::Path {
        &self.path
    }

    /// The contract version its plugin was built for.
    pub fn contract(&self) -> Version {
        self.linked.contract
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// Value bytes a stateful stage keeps to fold again after a fault (since its last save).
    pub fn kept_bytes(&self) -> usize {
        self.recovery.as_ref().map_or(0, Recovery::kept_bytes)
    }

    /// Records every batch from now on in `meter`.
    pub fn observe(&mut self, meter: StageMeter) {
        self.meter = Some(meter);
    }

    /// Linear memory of the live instance (0 between a failure and the next instance).
    pub fn memory_bytes(&self) -> usize {
        self.live.as_ref().map_or(0, |live| live.store.data().limits.used_bytes())
    }

    /// Times the stage's state (an aggregator's) was lost with a failed instance since
    /// the last call of this.
    pub fn take_lost_states(&mut self) -> u64 {
        self.recovery.as_mut().map_or(0, Recovery::take_lost)
    }

    /// Saves the live instance's state (if its kind has any) for a replacement instance.
    pub(crate) fn save(&mut self) {
        let (Some(live), Some(recovery)) = (self.live.as_mut(), self.recovery.as_mut()) else {
            return;
        };
        match guarded(live, &self.limits, self.limits.call_timeout_ms, K::save) {
            Ok(saved) => recovery.saved(saved),
            Err(trap) => {
                let fault = Fault::from_call(&trap, &self.limits, self.limits.call_timeout_ms);
                tracing::error!(stage = self.name, "could not save the plugin's state ({fault}); it starts empty on the next instance");
                recovery.lost();
                self.live = None;
            }
        }
    }

    fn instantiate(&self) -> Result<Live<K::Calls>, PluginError> {
        let instantiate_error = |e: wasmtime::Error| PluginError::Instantiate {
            path: self.path.clone(),
            world: K::WORLD,
            reason: format!("{e:#}"),
        };
        let mut store = Store::new(
            &self.engine,
            Sandbox::new(&self.name, &self.limits, self.log_budget.clone(), self.tables.clone()),
        );
        store.limiter(|sandbox| &mut sandbox.limits);
        store.set_epoch_deadline(ticks(self.limits.init_budget_ms()));
        store.epoch_deadline_trap();
        let calls = K::instantiate(&self.linked, &mut store).map_err(instantiate_error)?;
        let init_error = |reason: String| PluginError::Init {
            stage: self.name.clone(),
            path: self.path.clone(),
            reason,
        };
        K::init(&calls, &mut store, &self.config)
            .map_err(|trap| {
                init_error(
                    Fault::from_call(&trap, &self.limits, self.limits.init_budget_ms()).reason,
                )
            })?
            .map_err(init_error)?;
        let calls = K::ready(calls, &mut store).map_err(instantiate_error)?;
        Ok(Live { store, calls })
    }

    /// One result per input, in order. Never fails as a whole: faults are per record.
    /// Values over the stage's size limit fail without reaching the plugin.
    pub fn run(&mut self, batch: &[K::Input]) -> Vec<Result<K::Output, Fault>>
    where
        K::Input: Clone,
    {
        let started = std::time::Instant::now();
        let results = self.run_unmetered(batch);
        if let Some(mut meter) = self.meter.take() {
            let faults = results.iter().filter_map(|r| r.as_ref().err().map(|f| f.kind));
            meter.batch(started.elapsed(), batch.len(), faults, self.restarts, self.memory_bytes());
            self.meter = Some(meter);
        }
        results
    }

    fn run_unmetered(&mut self, batch: &[K::Input]) -> Vec<Result<K::Output, Fault>>
    where
        K::Input: Clone,
    {
        if self.recovery.as_ref().is_some_and(Recovery::save_due) {
            self.save();
        }
        let max = self.limits.max_message_bytes();
        if batch.iter().all(|input| K::value_len(input) <= max) {
            return self.run_bisecting(batch);
        }
        let fitting: Vec<K::Input> =
            batch.iter().filter(|input| K::value_len(input) <= max).cloned().collect();
        let mut outputs = self.run_bisecting(&fitting).into_iter();
        batch
            .iter()
            .map(|input| match K::value_len(input) {
                len if len > max => Err(Fault::new(FaultKind::Oversize, format!(
                    "value is {len} bytes, over the stage's limit of {} KiB (limits.max_message_kib)",
                    self.limits.max_message_kib
                ))),
                _ => outputs.next().expect("one output per fitting input"),
            })
            .collect()
    }

    fn run_bisecting(&mut self, batch: &[K::Input]) -> Vec<Result<K::Output, Fault>>
    where
        K::Input: Clone,
    {
        bisect::bisect(batch, &mut |part| self.call_once(part))
    }

    /// Calls the live instance (making one if needed); any failure discards it.
    fn call_once(&mut self, batch: &[K::Input]) -> Result<Vec<K::Output>, Fault>
    where
        K::Input: Clone,
    {
        let mut live = match self.live.take() {
            Some(live) => live,
            None => {
                self.restarts += 1;
                let mut live = self
                    .instantiate()
                    .map_err(|e| Fault::new(FaultKind::Instantiate, e.to_string()))?;
                self.put_back_state(&mut live);
                live
            }
        };
        let outputs = guarded(&mut live, &self.limits, self.limits.call_timeout_ms, |b, store| {
            K::call(b, store, batch)
        });
        let outputs = outputs
            .map_err(|trap| Fault::from_call(&trap, &self.limits, self.limits.call_timeout_ms))?;
        if outputs.len() != batch.len() {
            return Err(Fault::new(
                FaultKind::Contract,
                format!(
                    "broke the contract: returned {} results for {} messages",
                    outputs.len(),
                    batch.len()
                ),
            ));
        }
        self.live = Some(live);
        if let Some(recovery) = &mut self.recovery {
            recovery.folded(batch.to_vec(), batch.iter().map(K::value_len).sum());
        }
        Ok(outputs)
    }

    /// Gives a fresh instance the state of the one it replaces: the saved state, then the
    /// inputs folded since (they went through before, so they do again).
    fn put_back_state(&mut self, live: &mut Live<K::Calls>) {
        let Some(recovery) = &mut self.recovery else { return };
        let budget = self.limits.call_timeout_ms;
        if let Some(state) = recovery.state() {
            let failure =
                match guarded(live, &self.limits, budget, |b, store| K::load(b, store, state)) {
                    Ok(Ok(())) => None,
                    Ok(Err(reason)) => Some(reason),
                    Err(trap) => Some(Fault::from_call(&trap, &self.limits, budget).reason),
                };
            if let Some(failure) = failure {
                tracing::error!(stage = self.name, "the new instance could not take the saved state ({failure}); the analytics restart from what is left");
                return recovery.lost();
            }
        }
        for batch in recovery.since_save() {
            if let Err(trap) =
                guarded(live, &self.limits, budget, |b, store| K::call(b, store, batch))
            {
                let fault = Fault::from_call(&trap, &self.limits, budget);
                tracing::error!(stage = self.name, "folding the records since the last save again failed ({fault}); the analytics restart from what is left");
                return recovery.lost();
            }
        }
    }

    /// After the state was replaced from outside (a snapshot restored): that is the saved
    /// state now.
    pub(crate) fn state_replaced(&mut self, state: &[u8]) {
        if let Some(recovery) = &mut self.recovery {
            recovery.saved(Some(state.to_vec()));
        }
    }

    /// The live instance, making a fresh one if the last call failed.
    fn live(&mut self) -> Result<&mut Live<K::Calls>, PluginError> {
        if self.live.is_none() {
            self.restarts += 1;
            let mut live = self.instantiate()?;
            self.put_back_state(&mut live);
            self.live = Some(live);
        }
        Ok(self.live.as_mut().expect("just made"))
    }
}

/// A world's two exports: `init`, and the batch function (`validate`, `transform`…).
pub struct Exports {
    init: Func,
    batch: Func,
}

impl Exports {
    /// Instantiates `linked` and checks its exports: `init`, and `name` with parameters
    /// `P` and results `R` (lifted bounded: `returned`).
    fn of<P, R>(
        linked: &Linked,
        store: &mut Store<Sandbox>,
        name: &str,
    ) -> wasmtime::Result<Exports>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        let instance = linked.pre.instantiate(&mut *store)?;
        let init = returned::export::<(&str,), (Result<(), String>,)>(
            &instance,
            &mut *store,
            None,
            "init",
        )?;
        let batch = returned::export::<P, R>(&instance, &mut *store, None, name)?;
        Ok(Exports { init, batch })
    }

    fn init(
        &self,
        store: &mut Store<Sandbox>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        call_init(self.init, store, config)
    }

    /// Calls the batch function with `P` and `R`, the types it was checked for in `of`.
    fn call<P, R>(&self, store: &mut Store<Sandbox>, params: P) -> wasmtime::Result<R>
    where
        P: ComponentNamedList + Lower,
        R: ComponentNamedList + Lift,
    {
        // SAFETY: the types were checked in `of`.
        unsafe { TypedFunc::<P, R>::new_unchecked(self.batch) }.call(store, params)
    }
}

/// The calls of the contract version a plugin was built for.
fn wire_of(contract: Version) -> &'static dyn Wire {
    match contract.framed() {
        true => &frame::Framed,
        false => &listed::Listed,
    }
}

/// `init(config)`, checked as `(&str) -> result<_, string>` when it was found.
fn call_init(
    init: Func,
    store: &mut Store<Sandbox>,
    config: &str,
) -> wasmtime::Result<Result<(), String>> {
    // SAFETY: the types were checked by `returned::export`.
    let init = unsafe { TypedFunc::<(&str,), (Result<(), String>,)>::new_unchecked(init) };
    Ok(init.call(store, (config,))?.0)
}

/// Runs one call into `live` within the stage's limits: its CPU budget and the bytes it
/// may hand back.
fn guarded<B, R>(
    live: &mut Live<B>,
    limits: &Limits,
    budget_ms: u64,
    call: impl FnOnce(&mut B, &mut Store<Sandbox>) -> wasmtime::Result<R>,
) -> wasmtime::Result<R> {
    live.store.set_epoch_deadline(ticks(budget_ms));
    let result =
        returned::bounded(limits.memory_bytes(), || call(&mut live.calls, &mut live.store));
    live.store.data_mut().end_call();
    result
}

fn ticks(budget_ms: u64) -> u64 {
    (budget_ms / EPOCH_TICK.as_millis() as u64).max(1) + 1
}
