//! Stage kind `aggregator`: state kept in the plugin, folded batch by batch.

use super::{Kind, Stage};
use crate::bindings::aggregator::exports::weir::plugin::aggregate::{Counter, Report, Row, Table};
use crate::bindings::aggregator::{Aggregator as Bindings, AggregatorPre};
use crate::bindings::types::Message;
use crate::plugin::{Fault, PluginError};
use crate::plugin::returned::{self, Bounded};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::{ComponentType, Func, InstancePre, Lift, ResourceAny, TypedFunc};
use wasmtime::Store;

pub struct Aggregate;

const INTERFACE: &str = "weir:plugin/aggregate@0.1.0";

/// `report` as returned, lifted within the call's budget.
#[derive(ComponentType, Lift)]
#[component(record)]
struct ReturnedReport {
    counters: Bounded<Vec<ReturnedCounter>>,
    tables: Bounded<Vec<ReturnedTable>>,
}

#[derive(ComponentType, Lift)]
#[component(record)]
struct ReturnedCounter {
    name: Bounded<String>,
    value: u64,
}

#[derive(ComponentType, Lift)]
#[component(record)]
struct ReturnedTable {
    name: Bounded<String>,
    title: Bounded<String>,
    rows: Bounded<Vec<ReturnedRow>>,
}

#[derive(ComponentType, Lift)]
#[component(record)]
struct ReturnedRow {
    label: Bounded<String>,
    count: u64,
}

impl ReturnedReport {
    fn into_report(self) -> Report {
        Report {
            counters: self.counters.0.into_iter().map(|c| Counter { name: c.name.0, value: c.value }).collect(),
            tables: self.tables.0.into_iter().map(|t| Table {
                name: t.name.0,
                title: t.title.0,
                rows: t.rows.0.into_iter().map(|r| Row { label: r.label.0, count: r.count }).collect(),
            }).collect(),
        }
    }
}

/// The exports plus the plugin's state resource; `report` and `snapshot` lifted bounded.
pub struct WithState {
    bindings: Bindings,
    state: Option<ResourceAny>,
    report: Func,
    snapshot: Func,
}

impl WithState {
    fn state(&self) -> ResourceAny {
        self.state.expect("state is made in `ready`")
    }

    fn report(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<Report> {
        // SAFETY: the types were checked in `instantiate`.
        let report = unsafe { TypedFunc::<(ResourceAny,), (ReturnedReport,)>::new_unchecked(self.report) };
        Ok(report.call(store, (self.state(),))?.0.into_report())
    }

    fn snapshot(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<Vec<u8>> {
        // SAFETY: the types were checked in `instantiate`.
        let snapshot = unsafe { TypedFunc::<(ResourceAny,), (Bounded<Vec<u8>>,)>::new_unchecked(self.snapshot) };
        Ok(snapshot.call(store, (self.state(),))?.0.into_inner())
    }
}

impl Kind for Aggregate {
    const WORLD: World = World::Aggregator;
    const STATEFUL: bool = true;
    type Pre = AggregatorPre<Sandbox>;
    type Bindings = WithState;
    type Input = Message;
    type Output = ();

    fn pre(pre: InstancePre<Sandbox>) -> wasmtime::Result<Self::Pre> {
        AggregatorPre::new(pre)
    }

    fn instantiate(pre: &Self::Pre, store: &mut Store<Sandbox>) -> wasmtime::Result<WithState> {
        let instance = pre.instance_pre().instantiate(&mut *store)?;
        Ok(WithState {
            bindings: Bindings::new(&mut *store, &instance)?,
            state: None,
            report: returned::export::<(ResourceAny,), (ReturnedReport,)>(&instance, &mut *store, Some(INTERFACE), "[method]state.report")?,
            snapshot: returned::export::<(ResourceAny,), (Bounded<Vec<u8>>,)>(&instance, &mut *store, Some(INTERFACE), "[method]state.snapshot")?,
        })
    }

    fn init(b: &WithState, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.bindings.call_init(store, config)
    }

    fn ready(mut b: WithState, store: &mut Store<Sandbox>) -> wasmtime::Result<WithState> {
        b.state = Some(b.bindings.weir_plugin_aggregate().state().call_constructor(store)?);
        Ok(b)
    }

    /// One `()` per message so a batch lines up with its inputs like other kinds.
    fn call(b: &WithState, store: &mut Store<Sandbox>, batch: &[Message]) -> wasmtime::Result<Vec<()>> {
        b.bindings.weir_plugin_aggregate().state().call_update(store, b.state(), batch)?;
        Ok(vec![(); batch.len()])
    }

    fn value_len(input: &Message) -> usize {
        input.value.len()
    }

    fn save(b: &WithState, store: &mut Store<Sandbox>) -> wasmtime::Result<Option<Vec<u8>>> {
        b.snapshot(store).map(Some)
    }

    fn load(b: &WithState, store: &mut Store<Sandbox>, state: &[u8]) -> wasmtime::Result<Result<(), String>> {
        b.bindings.weir_plugin_aggregate().state().call_restore(store, b.state(), state)
    }
}

/// Report, snapshot, restore and merge: the calls only an aggregator has.
impl Stage<Aggregate> {
    pub fn report(&mut self) -> Result<Report, PluginError> {
        self.with_state(|b, store| b.report(store))
    }

    pub fn snapshot(&mut self) -> Result<Vec<u8>, PluginError> {
        self.with_state(|b, store| b.snapshot(store))
    }

    pub fn restore(&mut self, snapshot: &[u8]) -> Result<Result<(), String>, PluginError> {
        let restored = self.with_state(|b, store| {
            b.bindings.weir_plugin_aggregate().state().call_restore(store, b.state(), snapshot)
        })?;
        if restored.is_ok() {
            self.state_replaced(snapshot);
        }
        Ok(restored)
    }

    pub fn merge(&mut self, snapshot: &[u8]) -> Result<Result<(), String>, PluginError> {
        let merged = self.with_state(|b, store| {
            b.bindings.weir_plugin_aggregate().state().call_merge(store, b.state(), snapshot)
        })?;
        if merged.is_ok() {
            self.save(); // a merge is no batch to fold again: start the log from here
        }
        Ok(merged)
    }

    fn with_state<R>(
        &mut self,
        call: impl FnOnce(&WithState, &mut Store<Sandbox>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let limits = *self.limits();
        let budget = limits.cpu_ms_per_batch;
        let name = self.name().to_string();
        let path = self.plugin_path().to_path_buf();
        let live = self.live()?;
        let result = super::guarded(live, &limits, budget, call);
        match result {
            Ok(value) => Ok(value),
            Err(trap) => {
                let reason = Fault::from_call(&trap, &limits, budget).reason;
                self.live = None;
                Err(PluginError::Call { stage: name, path, reason })
            }
        }
    }
}
