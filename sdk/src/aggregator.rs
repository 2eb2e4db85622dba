//! The `aggregator` world: running state, reported by the host, snapshotted and merged.

wit_bindgen::generate!({
    path: "wit",
    world: "aggregator",
    default_bindings_module: "weir_plugin::aggregator",
    pub_export_macro: true,
    export_macro_name: "export_aggregator_world",
    with: {
        "weir:plugin/types@0.3.0": crate::validator::weir::plugin::types,
        "weir:plugin/host@0.3.0": crate::validator::weir::plugin::host,
        "weir:plugin/tables@0.3.0": crate::validator::weir::plugin::tables,
    },
    additional_derives: [PartialEq],
});

use crate::frame::{self, Record};
use crate::{Error, Report};

/// Aggregation state: the host creates one or more (each a `state` resource), folds
/// batches into them, asks for reports, and moves them around as snapshots.
pub trait Aggregator: Sized + 'static {
    /// Parsed once by `init`; every new state gets it.
    type Config: serde::de::DeserializeOwned + Clone;

    /// A fresh, empty state.
    fn new(config: &Self::Config) -> Self;

    fn update(&mut self, record: &Record<'_>);

    fn report(&self) -> Report;

    fn snapshot(&self) -> Vec<u8>;

    /// A state from one of `snapshot`'s outputs.
    fn restore(config: &Self::Config, snapshot: &[u8]) -> Result<Self, Error>;

    /// Add another state (from its snapshot) to this one.
    fn merge(&mut self, other: Self);
}

/// Folds a batch frame into `state`: what the exported `update` does.
pub fn fold<A: Aggregator>(state: &mut A, batch: &[u8]) {
    for record in frame::records(batch).expect("weir-plugin: the host sends well-formed frames") {
        state.update(&record);
    }
}

/// Exports an [`Aggregator`] as the component's `aggregator` world.
#[macro_export]
macro_rules! export_aggregator {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::aggregator::exports::weir::plugin::aggregate as wit;
            type Config = <$plugin as $crate::Aggregator>::Config;
            ::std::thread_local! {
                static CONFIG: $crate::Slot<Config> = const { $crate::Slot::new() };
            }
            fn config() -> Config {
                CONFIG.with(|slot| slot.with(|config| config.clone()))
            }
            struct Export;
            impl $crate::aggregator::Guest for Export {
                fn init(
                    json: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    CONFIG.with(|slot| slot.init(|| $crate::parse_config::<Config>(&json)))
                }
            }
            impl wit::Guest for Export {
                type State = State;
            }
            struct State(::std::cell::RefCell<$plugin>);
            impl wit::GuestState for State {
                fn new() -> Self {
                    State(::std::cell::RefCell::new(
                        <$plugin as $crate::Aggregator>::new(&config()),
                    ))
                }
                fn update(&self, batch: ::std::vec::Vec<u8>) {
                    $crate::aggregator::fold(&mut *self.0.borrow_mut(), &batch)
                }
                fn report(&self) -> $crate::Report {
                    <$plugin as $crate::Aggregator>::report(&self.0.borrow())
                }
                fn snapshot(&self) -> ::std::vec::Vec<u8> {
                    <$plugin as $crate::Aggregator>::snapshot(&self.0.borrow())
                }
                fn restore(
                    &self,
                    snapshot: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    *self.0.borrow_mut() =
                        <$plugin as $crate::Aggregator>::restore(&config(), &snapshot)?;
                    Ok(())
                }
                fn merge(
                    &self,
                    snapshot: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    let other = <$plugin as $crate::Aggregator>::restore(&config(), &snapshot)?;
                    <$plugin as $crate::Aggregator>::merge(&mut self.0.borrow_mut(), other);
                    Ok(())
                }
            }
    $crate::aggregator::export_aggregator_world!(Export with_types_in $crate::aggregator);
        };
    };
}
