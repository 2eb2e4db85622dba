//! Stage kind `aggregator`: state kept in the plugin, one per input partition, folded
//! batch by batch. Each batch folds into the state of the partition it came from, so a
//! partition's state can be checkpointed, moved to another instance and merged.

use super::wire::Wire;
use super::{Kind, Linked, Stage};
use crate::plugin::returned::{self, Bounded};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::plugin::{Fault, PluginError};
use crate::record::Record;
use crate::report::{Analytics, Counter, Row, Table};
use crate::state::{self, PartitionKey, Slot};
use std::collections::BTreeMap;
use wasmtime::component::{ComponentType, Func, Lift, ResourceAny, TypedFunc};
use wasmtime::Store;

pub struct Aggregate;

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
    fn into_report(self) -> Analytics {
        Analytics {
            counters: self
                .counters
                .0
                .into_iter()
                .map(|c| Counter { name: c.name.0, value: c.value })
                .collect(),
            tables: self
                .tables
                .0
                .into_iter()
                .map(|t| Table {
                    name: t.name.0,
                    title: t.title.0,
                    rows: t
                        .rows
                        .0
                        .into_iter()
                        .map(|r| Row { label: r.label.0, count: r.count })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// The exports plus the plugin's state resources, one per input partition. The
/// `aggregate` interface is the same in both contract versions except `update`, which
/// takes a list of records (0.1) or one frame (0.2).
pub struct WithState {
    init: Func,
    constructor: Func,
    update: Func,
    wire: &'static dyn Wire,
    report: Func,
    snapshot: Func,
    restore: Func,
    merge: Func,
    states: BTreeMap<Slot, ResourceAny>,
}

/// `restore` and `merge`: a snapshot in, whether the plugin took it out.
type TakeSnapshot = (Result<(), Bounded<String>>,);

/// The partition-wide state of the message's partition.
fn slot_of(message: &Record) -> Slot {
    ((message.topic.clone(), message.partition), None)
}

impl WithState {
    fn new_state(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<ResourceAny> {
        // SAFETY: the types were checked in `instantiate`.
        let constructor =
            unsafe { TypedFunc::<(), (ResourceAny,)>::new_unchecked(self.constructor) };
        Ok(constructor.call(store, ())?.0)
    }

    /// Folds `run` (records of one partition, not necessarily side by side) into `state`.
    fn update(
        &self,
        store: &mut Store<Sandbox>,
        state: ResourceAny,
        run: &[&Record],
    ) -> wasmtime::Result<()> {
        self.wire.update(self.update, store, state, run)
    }

    /// `restore` or `merge` (`take`) of a snapshot into `state`.
    fn take(
        &self,
        store: &mut Store<Sandbox>,
        take: Func,
        state: ResourceAny,
        snapshot: &[u8],
    ) -> wasmtime::Result<Result<(), String>> {
        // SAFETY: the types were checked in `instantiate`.
        let take = unsafe { TypedFunc::<(ResourceAny, &[u8]), TakeSnapshot>::new_unchecked(take) };
        Ok(take.call(store, (state, snapshot))?.0.map_err(Bounded::into_inner))
    }

    /// The state of `slot`, made empty if there is none yet.
    fn state(&mut self, store: &mut Store<Sandbox>, slot: &Slot) -> wasmtime::Result<ResourceAny> {
        if let Some(state) = self.states.get(slot) {
            return Ok(*state);
        }
        let state = self.new_state(store)?;
        self.states.insert(slot.clone(), state);
        Ok(state)
    }

    fn drop_state(&mut self, store: &mut Store<Sandbox>, slot: &Slot) -> wasmtime::Result<()> {
        match self.states.remove(slot) {
            Some(state) => state.resource_drop(store),
            None => Ok(()),
        }
    }

    fn report_of(
        &self,
        store: &mut Store<Sandbox>,
        state: ResourceAny,
    ) -> wasmtime::Result<Analytics> {
        // SAFETY: the types were checked in `instantiate`.
        let report =
            unsafe { TypedFunc::<(ResourceAny,), (ReturnedReport,)>::new_unchecked(self.report) };
        Ok(report.call(store, (state,))?.0.into_report())
    }

    fn snapshot_of(
        &self,
        store: &mut Store<Sandbox>,
        state: ResourceAny,
    ) -> wasmtime::Result<Vec<u8>> {
        // SAFETY: the types were checked in `instantiate`.
        let snapshot = unsafe {
            TypedFunc::<(ResourceAny,), (Bounded<Vec<u8>>,)>::new_unchecked(self.snapshot)
        };
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
    fn restore_all(
        &mut self,
        store: &mut Store<Sandbox>,
        blob: &[u8],
    ) -> wasmtime::Result<Result<(), String>> {
        let states = match state::decode(blob) {
            Ok(states) => states,
            Err(reason) => return Ok(Err(reason)),
        };
        for key in self.states.keys().cloned().collect::<Vec<_>>() {
            self.drop_state(store, &key)?;
        }
        for (key, bytes) in states {
            let state = self.state(store, &key)?;
            if let Err(reason) = self.take(store, self.restore, state, &bytes)? {
                return Ok(Err(format!("{}/{}: {reason}", key.0 .0, key.0 .1)));
            }
        }
        Ok(Ok(()))
    }

    /// One report over every partition's state plus `extra` snapshots: merged into a
    /// fresh state, which is dropped after.
    fn merged_report(
        &self,
        store: &mut Store<Sandbox>,
        extra: &[Vec<u8>],
    ) -> wasmtime::Result<Result<Analytics, String>> {
        let merged = self.new_state(store)?;
        let mut snapshots = Vec::with_capacity(self.states.len() + extra.len());
        for state in self.states.values() {
            snapshots.push(self.snapshot_of(store, *state)?);
        }
        snapshots.extend_from_slice(extra);
        for (i, snapshot) in snapshots.iter().enumerate() {
            if let Err(reason) = self.take(store, self.merge, merged, snapshot)? {
                merged.resource_drop(&mut *store)?;
                return Ok(Err(format!(
                    "snapshot {} of {} cannot be merged: {reason}",
                    i + 1,
                    snapshots.len()
                )));
            }
        }
        // A report that traps says why (dropping the state after a trap would fail and
        // hide it); the instance is thrown away with its borrowed state.
        let report = self.report_of(store, merged)?;
        merged.resource_drop(&mut *store)?;
        Ok(Ok(report))
    }
}

impl Kind for Aggregate {
    const WORLD: World = World::Aggregator;
    const STATEFUL: bool = true;
    type Calls = WithState;
    type Input = Record;
    type Output = ();

    fn instantiate(linked: &Linked, store: &mut Store<Sandbox>) -> wasmtime::Result<WithState> {
        let instance = linked.pre.instantiate(&mut *store)?;
        let contract = linked.contract;
        let interface =
            format!("weir:plugin/aggregate@{}.{}.{}", contract.0, contract.1, contract.2);
        let interface = Some(interface.as_str());
        let wire = super::wire_of(contract);
        let method = |store: &mut Store<Sandbox>, name: &str| -> wasmtime::Result<Func> {
            match name {
                "[constructor]state" => {
                    returned::export::<(), (ResourceAny,)>(&instance, store, interface, name)
                }
                "[method]state.update" => wire.update_export(&instance, store, interface),
                "[method]state.report" => returned::export::<(ResourceAny,), (ReturnedReport,)>(
                    &instance, store, interface, name,
                ),
                "[method]state.snapshot" => {
                    returned::export::<(ResourceAny,), (Bounded<Vec<u8>>,)>(
                        &instance, store, interface, name,
                    )
                }
                _ => returned::export::<(ResourceAny, &[u8]), TakeSnapshot>(
                    &instance, store, interface, name,
                ),
            }
        };
        Ok(WithState {
            init: returned::export::<(&str,), (Result<(), String>,)>(
                &instance,
                &mut *store,
                None,
                "init",
            )?,
            constructor: method(store, "[constructor]state")?,
            update: method(store, "[method]state.update")?,
            wire,
            report: method(store, "[method]state.report")?,
            snapshot: method(store, "[method]state.snapshot")?,
            restore: method(store, "[method]state.restore")?,
            merge: method(store, "[method]state.merge")?,
            states: BTreeMap::new(),
        })
    }

    fn init(
        b: &WithState,
        store: &mut Store<Sandbox>,
        config: &str,
    ) -> wasmtime::Result<Result<(), String>> {
        super::call_init(b.init, store, config)
    }

    /// Folds each run of records from one partition into that partition's state (a
    /// batch may mix partitions). One `()` per message so a batch lines up with its inputs
    /// like other kinds.
    fn call(
        b: &mut WithState,
        store: &mut Store<Sandbox>,
        batch: &[Record],
    ) -> wasmtime::Result<Vec<()>> {
        for run in batch.chunk_by(|a, b| a.partition == b.partition && a.topic == b.topic) {
            let state = b.state(store, &slot_of(&run[0]))?;
            b.update(store, state, &run.iter().collect::<Vec<_>>())?;
        }
        Ok(vec![(); batch.len()])
    }

    fn value_len(input: &Record) -> usize {
        input.value.len()
    }

    fn save(b: &mut WithState, store: &mut Store<Sandbox>) -> wasmtime::Result<Option<Vec<u8>>> {
        b.snapshot_all(store).map(Some)
    }

    fn load(
        b: &mut WithState,
        store: &mut Store<Sandbox>,
        blob: &[u8],
    ) -> wasmtime::Result<Result<(), String>> {
        b.restore_all(store, blob)
    }
}

/// Reports, snapshots and restores: the calls only an aggregator has.
impl Stage<Aggregate> {
    /// One report over every partition this stage holds.
    pub fn report(&mut self) -> Result<Analytics, PluginError> {
        self.merged_report(&[])?.map_err(|reason| self.call_error(reason))
    }

    /// The report over this stage's partitions and the plugin snapshots `extra` (other
    /// instances' partitions); `Ok(Err)` when the plugin cannot read one of them.
    pub fn merged_report(
        &mut self,
        extra: &[Vec<u8>],
    ) -> Result<Result<Analytics, String>, PluginError> {
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
        let mut keys: Vec<PartitionKey> = self
            .live
            .as_ref()
            .map(|live| live.calls.states.keys().map(|(key, _)| key.clone()).collect())
            .unwrap_or_default();
        keys.dedup();
        keys
    }

    /// The plugin's snapshot of one state (empty if it has none yet).
    pub fn slot_snapshot(&mut self, slot: &Slot) -> Result<Vec<u8>, PluginError> {
        self.with_state(|b, store| {
            let state = b.state(store, slot)?;
            b.snapshot_of(store, state)
        })
    }

    /// The plugin's snapshot of one partition's state (empty if it has none yet).
    pub fn partition_snapshot(&mut self, key: &PartitionKey) -> Result<Vec<u8>, PluginError> {
        self.slot_snapshot(&(key.clone(), None))
    }

    /// A state from a plugin snapshot, or empty for `None`; `Ok(Err)` when the plugin
    /// refuses the snapshot (the state is then empty). Call `saved` after a series.
    pub fn restore_slot(
        &mut self,
        slot: &Slot,
        snapshot: Option<&[u8]>,
    ) -> Result<Result<(), String>, PluginError> {
        self.with_state(|b, store| {
            b.drop_state(store, slot)?;
            let state = b.state(store, slot)?;
            match snapshot {
                Some(bytes) => b.take(store, b.restore, state, bytes),
                None => Ok(Ok(())),
            }
        })
    }

    /// A partition's state from a plugin snapshot, or empty for `None`; `Ok(Err)` when
    /// the plugin refuses the snapshot (the partition's state is then empty).
    pub fn restore_partition(
        &mut self,
        key: &PartitionKey,
        snapshot: Option<&[u8]>,
    ) -> Result<Result<(), String>, PluginError> {
        let restored = self.restore_slot(&(key.clone(), None), snapshot)?;
        self.saved();
        Ok(restored)
    }

    /// States were restored or dropped from outside: a replacement instance starts from here.
    pub fn saved(&mut self) {
        self.save();
    }

    /// Drops every state of the partition (its windows' too).
    pub fn drop_partition(&mut self, key: &PartitionKey) -> Result<(), PluginError> {
        self.with_state(|b, store| {
            let slots: Vec<Slot> = b.states.keys().filter(|(k, _)| k == key).cloned().collect();
            slots.iter().try_for_each(|slot| b.drop_state(store, slot))
        })?;
        self.save();
        Ok(())
    }

    /// Folds records (picked from a batch, in order) into a window's state, made empty if
    /// the window has none yet.
    pub fn fold_window(&mut self, slot: &Slot, records: &[&Record]) -> Result<(), PluginError> {
        self.with_state(|b, store| {
            let state = b.state(store, slot)?;
            b.update(store, state, records)
        })
    }

    /// A window's report, its state dropped: the window is closed.
    pub fn close_window(&mut self, slot: &Slot) -> Result<Analytics, PluginError> {
        self.with_state(|b, store| {
            let state = b.state(store, slot)?;
            let report = b.report_of(store, state);
            b.drop_state(store, slot)?;
            report
        })
    }

    fn call_error(&self, reason: String) -> PluginError {
        PluginError::Call {
            stage: self.name().to_string(),
            path: self.plugin_path().to_path_buf(),
            reason,
        }
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
