//! Contract 0.1 on the host side: a batch crosses as a list of records and comes back as
//! a list of answers. The host's records are lowered through borrowed views (nothing is
//! copied on the host); the answers are lifted `Bounded`, each string and list charged
//! against the call's budget before it is copied.

use super::emitted::Transformed;
use super::wire::Wire;
use super::{Exports, Linked};
use crate::plugin::returned::{self, Bounded};
use crate::plugin::sandbox::Sandbox;
use crate::plugin::World;
use crate::record::{Damaged, Header, Record, RepairOutcome, Violation};
use wasmtime::component::{ComponentType, Func, Instance, Lift, Lower, ResourceAny, TypedFunc};
use wasmtime::Store;

pub(super) struct Listed;

/// `header` as the plugin receives it.
#[derive(ComponentType, Lower)]
#[component(record)]
struct HeaderView<'a> {
    key: &'a str,
    value: &'a [u8],
}

/// `message` as the plugin receives it.
#[derive(ComponentType, Lower)]
#[component(record)]
struct MessageView<'a> {
    key: Option<&'a [u8]>,
    value: &'a [u8],
    headers: Vec<HeaderView<'a>>,
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
}

impl<'a> MessageView<'a> {
    fn of(record: &'a Record) -> Self {
        MessageView {
            key: record.key.as_deref(),
            value: &record.value,
            headers: record.headers.iter().map(HeaderView::of).collect(),
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp,
        }
    }
}

impl<'a> HeaderView<'a> {
    fn of(header: &'a Header) -> Self {
        HeaderView { key: &header.key, value: &header.value }
    }
}

/// `violation` as the plugin receives it (in a dead letter).
#[derive(ComponentType, Lower)]
#[component(record)]
struct ViolationView<'a> {
    path: &'a str,
    reason: &'a str,
}

/// `damaged` as the plugin receives it.
#[derive(ComponentType, Lower)]
#[component(record)]
struct DamagedView<'a> {
    message: MessageView<'a>,
    violations: Vec<ViolationView<'a>>,
}

/// `violation` as returned, lifted within the call's budget.
#[derive(ComponentType, Lift)]
#[component(record)]
struct ReturnedViolation {
    path: Bounded<String>,
    reason: Bounded<String>,
}

/// `repair-outcome` as returned, lifted within the call's budget.
#[derive(ComponentType, Lift)]
#[component(variant)]
enum ReturnedOutcome {
    #[component(name = "repaired")]
    Repaired(Bounded<Vec<u8>>),
    #[component(name = "unrepairable")]
    Unrepairable(Bounded<String>),
}

type Records<'a> = (&'a [MessageView<'a>],);
type Validated = (Bounded<Vec<Result<(), Bounded<Vec<ReturnedViolation>>>>>,);
type Transformed1 = (Bounded<Vec<Result<Bounded<Vec<u8>>, Bounded<String>>>>,);
type Repaired = (Bounded<Vec<ReturnedOutcome>>,);
type Update<'a> = (ResourceAny, &'a [MessageView<'a>]);

fn views(batch: &[Record]) -> Vec<MessageView<'_>> {
    batch.iter().map(MessageView::of).collect()
}

impl Wire for Listed {
    fn exports(
        &self,
        world: World,
        linked: &Linked,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<Exports> {
        match world {
            World::Validator => Exports::of::<Records, Validated>(linked, store, "validate"),
            World::Transformer => Exports::of::<Records, Transformed1>(linked, store, "transform"),
            World::Repairer => Exports::of::<(&[DamagedView],), Repaired>(linked, store, "repair"),
            World::Aggregator => unreachable!("an aggregator's batch function is a method"),
        }
    }

    fn validate(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Record],
    ) -> wasmtime::Result<Vec<Result<(), Vec<Violation>>>> {
        let (outcomes,) = exports.call::<Records, Validated>(store, (views(batch).as_slice(),))?;
        Ok(outcomes
            .into_inner()
            .into_iter()
            .map(|outcome| {
                outcome.map_err(|violations| {
                    violations
                        .into_inner()
                        .into_iter()
                        .map(|v| Violation { path: v.path.0, reason: v.reason.0 })
                        .collect()
                })
            })
            .collect())
    }

    fn transform(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Record],
    ) -> wasmtime::Result<Vec<Result<Transformed, String>>> {
        let (outcomes,) =
            exports.call::<Records, Transformed1>(store, (views(batch).as_slice(),))?;
        Ok(outcomes
            .into_inner()
            .into_iter()
            .map(|outcome| {
                outcome
                    .map(|value| Transformed::Value(value.into_inner()))
                    .map_err(Bounded::into_inner)
            })
            .collect())
    }

    fn repair(
        &self,
        exports: &Exports,
        store: &mut Store<Sandbox>,
        batch: &[Damaged],
    ) -> wasmtime::Result<Vec<RepairOutcome>> {
        let violations: Vec<Vec<ViolationView>> = batch
            .iter()
            .map(|d| {
                d.violations
                    .iter()
                    .map(|v| ViolationView { path: &v.path, reason: &v.reason })
                    .collect()
            })
            .collect();
        let damaged: Vec<DamagedView> = batch
            .iter()
            .zip(violations)
            .map(|(d, violations)| DamagedView { message: MessageView::of(&d.message), violations })
            .collect();
        let (outcomes,) =
            exports.call::<(&[DamagedView],), Repaired>(store, (damaged.as_slice(),))?;
        Ok(outcomes
            .into_inner()
            .into_iter()
            .map(|outcome| match outcome {
                ReturnedOutcome::Repaired(value) => RepairOutcome::Repaired(value.0),
                ReturnedOutcome::Unrepairable(reason) => RepairOutcome::Unrepairable(reason.0),
            })
            .collect())
    }

    fn update_export(
        &self,
        instance: &Instance,
        store: &mut Store<Sandbox>,
        interface: Option<&str>,
    ) -> wasmtime::Result<Func> {
        returned::export::<Update, ()>(instance, store, interface, "[method]state.update")
    }

    fn update(
        &self,
        update: Func,
        store: &mut Store<Sandbox>,
        state: ResourceAny,
        run: &[&Record],
    ) -> wasmtime::Result<()> {
        let run: Vec<MessageView> = run.iter().map(|r| MessageView::of(r)).collect();
        // SAFETY: the types were checked in `update_export`.
        let update = unsafe { TypedFunc::<Update, ()>::new_unchecked(update) };
        update.call(store, (state, run.as_slice()))
    }
}
