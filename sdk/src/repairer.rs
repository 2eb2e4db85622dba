//! The `repairer` world: fix a dead letter, or say why it cannot be fixed.

wit_bindgen::generate!({
    path: "../wit",
    world: "repairer",
    default_bindings_module: "weir_plugin::repairer",
    pub_export_macro: true,
    export_macro_name: "export_repairer_world",
    with: {
        "weir:plugin/types@0.1.0": crate::validator::weir::plugin::types,
        "weir:plugin/host@0.1.0": crate::validator::weir::plugin::host,
    },
});

use crate::Error;

/// Fixes dead letters. `repair` returns the new value (validated again by the host and
/// sent back to the input), or the reason it cannot be fixed (the record is parked).
pub trait Repairer: Sized + 'static {
    type Config: serde::de::DeserializeOwned;

    fn new(config: Self::Config) -> Result<Self, Error>;

    fn repair(&mut self, damaged: &Damaged) -> Result<Vec<u8>, Error>;

    fn repair_batch(&mut self, batch: &[Damaged]) -> Vec<RepairOutcome> {
        batch
            .iter()
            .map(|damaged| match self.repair(damaged) {
                Ok(value) => RepairOutcome::Repaired(value),
                Err(reason) => RepairOutcome::Unrepairable(reason.into()),
            })
            .collect()
    }

    fn from_config(json: &str) -> Result<Self, Error> {
        Self::new(crate::parse_config(json)?)
    }
}

/// Exports a [`Repairer`] as the component's `repairer` world.
#[macro_export]
macro_rules! export_repairer {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static PLUGIN: $crate::Slot<$plugin> = const { $crate::Slot::new() };
            }
            struct Export;
            impl $crate::repairer::Guest for Export {
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| slot.init(|| <$plugin as $crate::Repairer>::from_config(&config)))
                }
                fn repair(batch: ::std::vec::Vec<$crate::Damaged>) -> ::std::vec::Vec<$crate::RepairOutcome> {
                    PLUGIN.with(|slot| slot.with(|plugin| <$plugin as $crate::Repairer>::repair_batch(plugin, &batch)))
                }
            }
            $crate::repairer::export_repairer_world!(Export with_types_in $crate::repairer);
        };
    };
}
