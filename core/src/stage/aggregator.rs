//! Stage kind `aggregator`: state kept in the plugin, one per input partition, folded
//! batch by batch. Each batch folds into the state of the partition it came from, so a
//! partition's state can be checkpointed, moved to another instance and merged.

use super::{Kind, Stage};
use crate::bindings::aggregator::exports::weir::plugin::aggregate::{Counter, Report, Row, Table};
use crate::bindings::aggregator::{Aggregator as Bindings, AggregatorPre};
use crate::bindings::types::Message;
use crate::plugin::{Fault, PluginError};
use crate::plugin::returned::{self, Bounded};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::state::{self, PartitionKey};
use std::collections::BTreeMap;
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

/// The exports plus the plugin's state resources, one per input partition.
pub struct WithState {
    bindings: Bindings,
    report: Func,
    snapshot: Func,
    states: BTreeMap<PartitionKey, ResourceAny>,
}

fn key_of(message: &Message) -> PartitionKey {
    (message.topic.clone(), message.partition)
}

impl WithState {
    fn new_state(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<ResourceAny> {
        self.bindings.weir_plugin_aggregate().state().call_constructor(store)
    }

    /// The state of `key`, made empty if the partition has none yet.
    fn state(&mut self, store: &mut Store<Sandbox>, key: &PartitionKey) -> wasmtime::Result<ResourceAny> {
        if let Some(state) = self.states.get(key) {
            return Ok(*state);
        }
        let state = self.new_state(store)?;
        self.states.insert(key.clone(), state);
        Ok(state)
    }

    fn drop_state(&mut self, store: &mut Store<Sandbox>, key: &PartitionKey) -> wasmtime::Result<()> {
        match self.states.remove(key) {
            Some(state) => state.resource_drop(store),
            None => Ok(()),
        }
    }

    fn report_of(&self, store: &mut Store<Sandbox>, state: ResourceAny) -> wasmtime::Result<Report> {
        // SAFETY: the types were checked in `instantiate`.
        let report = unsafe { TypedFunc::<(ResourceAny,), (ReturnedReport,)>::new_unchecked(self.report) };
        Ok(report.call(store, (state,))?.0.into_report())
    }

    fn snapshot_of(&self, store: &mut Store<Sandbox>, state: ResourceAny) -> wasmtime::Result<Vec<u8>> {
        // SAFETY: the types were checked in `instantiate`.
        let snapshot = unsafe { TypedFunc::<(ResourceAny,), (Bounded<Vec<u8>>,)>::new_unchecked(self.snapshot) };
        Ok(snapshot.call(store, (state,))?.0.into_inner())
    }

    /// Every partition's state as one blob (`state::encode`).
    fn snapshot_all(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<Vec<u8>> {
        let mut states = Vec::with_capacity(self.states.len());
        for (key, state) in &self.states {
            states.push((key.clone(), self.snapshot_of(store, *state)?));
        }
        Ok(state::encode(&states))
    }

    /// Replaces every state with those of a blob from `snapshot_all`.
    fn restore_all(&mut self, store: &mut Store<Sandbox>, blob: &[u8]) -> wasmtime::Result<Result<(), String>> {
        let states = match state::decode(blob) {
            Ok(states) => states,
            Err(reason) => return Ok(Err(reason)),
        };
        for key in self.states.keys().cloned().collect::<Vec<_>>() {
            self.drop_state(store, &key)?;
        }
        for (key, bytes) in states {
            let state = self.state(store, &key)?;
            let aggregate = self.bindings.weir_plugin_aggregate();
            if let Err(reason) = aggregate.state().call_restore(&mut *store, state, &bytes)? {
                return Ok(Err(format!("{}/{}: {reason}", key.0, key.1)));
            }
        }
        Ok(Ok(()))
    }

    /// One report over every partition's state plus `extra` snapshots: merged into a
    /// fresh state, which is dropped after.
    fn merged_report(&self, store: &mut Store<Sandbox>, extra: &[Vec<u8>]) -> wasmtime::Result<Result<Report, String>> {
        let merged = self.new_state(store)?;
        let mut snapshots = Vec::with_capacity(self.states.len() + extra.len());
        for state in self.states.values() {
            snapshots.push(self.snapshot_of(store, *state)?);
        }
        snapshots.extend_from_slice(extra);
        let aggregate = self.bindings.weir_plugin_aggregate();
        for (i, snapshot) in snapshots.iter().enumerate() {
            if let Err(reason) = aggregate.state().call_merge(&mut *store, merged, snapshot)? {
                merged.resource_drop(&mut *store)?;
                return Ok(Err(format!("snapshot {} of {} cannot be merged: {reason}", i + 1, snapshots.len())));
            }
        }
        let report = self.report_of(store, merged);
        merged.resource_drop(&mut *store)?;
        report.map(Ok)
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
            report: returned::export::<(ResourceAny,), (ReturnedReport,)>(&instance, &mut *store, Some(INTERFACE), "[method]state.report")?,
            snapshot: returned::export::<(ResourceAny,), (Bounded<Vec<u8>>,)>(&instance, &mut *store, Some(INTERFACE), "[method]state.snapshot")?,
            states: BTreeMap::new(),
        })
    }

    fn init(b: &WithState, store: &mut Store<Sandbox>, config: &str) -> wasmtime::Result<Result<(), String>> {
        b.bindings.call_init(store, config)
    }

    /// Folds each run of records from one partition into that partition's state (a
    /// batch may mix partitions). One `()` per message so a batch lines up with its inputs
    /// like other kinds.
    fn call(b: &mut WithState, store: &mut Store<Sandbox>, batch: &[Message]) -> wasmtime::Result<Vec<()>> {
        for run in batch.chunk_by(|a, b| a.partition == b.partition && a.topic == b.topic) {
            let state = b.state(store, &key_of(&run[0]))?;
            b.bindings.weir_plugin_aggregate().state().call_update(&mut *store, state, run)?;
        }
        Ok(vec![(); batch.len()])
    }

    fn value_len(input: &Message) -> usize {
        input.value.len()
    }

    fn save(b: &mut WithState, store: &mut Store<Sandbox>) -> wasmtime::Result<Option<Vec<u8>>> {
        b.snapshot_all(store).map(Some)
    }

    fn load(b: &mut WithState, store: &mut Store<Sandbox>, blob: &[u8]) -> wasmtime::Result<Result<(), String>> {
        b.restore_all(store, blob)
    }
}

/// Reports, snapshots and restores: the calls only an aggregator has.
impl Stage<Aggregate> {
    /// One report over every partition this stage holds.
    pub fn report(&mut self) -> Result<Report, PluginError> {
        self.merged_report(&[])?.map_err(|reason| self.call_error(reason))
    }

    /// The report over this stage's partitions and the plugin snapshots `extra` (other
    /// instances' partitions); `Ok(Err)` when the plugin cannot read one of them.
    pub fn merged_report(&mut self, extra: &[Vec<u8>]) -> Result<Result<Report, String>, PluginError> {
        self.with_state(|b, store| b.merged_report(store, extra))
    }

    /// Every partition's state as one blob, for `restore` (roll-backs, hot swaps).
    pub fn snapshot(&mut self) -> Result<Vec<u8>, PluginError> {
        self.with_state(|b, store| b.snapshot_all(store))
    }

    pub fn restore(&mut self, blob: &[u8]) -> Result<Result<(), String>, PluginError> {
        let restored = self.with_state(|b, store| b.restore_all(store, blob))?;
        if restored.is_ok() {
            self.state_replaced(blob);
        }
        Ok(restored)
    }

    /// The partitions that have a state.
    pub fn partitions(&self) -> Vec<PartitionKey> {
        self.live.as_ref().map(|live| live.bindings.states.keys().cloned().collect()).unwrap_or_default()
    }

    /// The plugin's snapshot of one partition's state (empty if it has none yet).
    pub fn partition_snapshot(&mut self, key: &PartitionKey) -> Result<Vec<u8>, PluginError> {
        self.with_state(|b, store| {
            let state = b.state(store, key)?;
            b.snapshot_of(store, state)
        })
    }

    /// A partition's state from a plugin snapshot, or empty for `None`; `Ok(Err)` when
    /// the plugin refuses the snapshot (the partition's state is then empty).
    pub fn restore_partition(&mut self, key: &PartitionKey, snapshot: Option<&[u8]>) -> Result<Result<(), String>, PluginError> {
        let restored = self.with_state(|b, store| {
            b.drop_state(store, key)?;
            let state = b.state(store, key)?;
            match snapshot {
                Some(bytes) => b.bindings.weir_plugin_aggregate().state().call_restore(store, state, bytes),
                None => Ok(Ok(())),
            }
        })?;
        self.save(); // the replacement instance starts from here
        Ok(restored)
    }

    pub fn drop_partition(&mut self, key: &PartitionKey) -> Result<(), PluginError> {
        self.with_state(|b, store| b.drop_state(store, key))?;
        self.save();
        Ok(())
    }

    fn call_error(&self, reason: String) -> PluginError {
        PluginError::Call { stage: self.name().to_string(), path: self.plugin_path().to_path_buf(), reason }
    }

    fn with_state<R>(
        &mut self,
        call: impl FnOnce(&mut WithState, &mut Store<Sandbox>) -> wasmtime::Result<R>,
    ) -> Result<R, PluginError> {
        let limits = *self.limits();
        let budget = limits.call_timeout_ms;
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
