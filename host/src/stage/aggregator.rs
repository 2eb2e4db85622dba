//! Stage kind `aggregator`: state kept in the plugin, folded batch by batch.

use super::{Kind, Stage};
use crate::bindings::aggregator::exports::weir::plugin::aggregate::Report;
use crate::bindings::aggregator::{Aggregator as Bindings, AggregatorPre};
use crate::bindings::types::Message;
use crate::plugin::{Fault, PluginError};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use wasmtime::component::{InstancePre, ResourceAny};
use wasmtime::Store;

pub struct Aggregate;

/// The exports plus the plugin's state resource.
pub struct WithState {
    bindings: Bindings,
    state: Option<ResourceAny>,
}

impl WithState {
    fn state(&self) -> ResourceAny {
        self.state.expect("state is made in `ready`")
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
        Ok(WithState { bindings: pre.instantiate(store)?, state: None })
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
        b.bindings.weir_plugin_aggregate().state().call_snapshot(store, b.state()).map(Some)
    }

    fn load(b: &WithState, store: &mut Store<Sandbox>, state: &[u8]) -> wasmtime::Result<Result<(), String>> {
        b.bindings.weir_plugin_aggregate().state().call_restore(store, b.state(), state)
    }
}

/// Report, snapshot, restore and merge: the calls only an aggregator has.
impl Stage<Aggregate> {
    pub fn report(&mut self) -> Result<Report, PluginError> {
        self.with_state(|b, store| b.bindings.weir_plugin_aggregate().state().call_report(store, b.state()))
    }

    pub fn snapshot(&mut self) -> Result<Vec<u8>, PluginError> {
        self.with_state(|b, store| b.bindings.weir_plugin_aggregate().state().call_snapshot(store, b.state()))
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
        live.store.set_epoch_deadline(super::ticks(budget));
        let result = call(&live.bindings, &mut live.store);
        live.store.data_mut().end_call();
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
