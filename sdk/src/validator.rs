//! The `validator` world: valid, or the list of violations.

wit_bindgen::generate!({
    path: "wit",
    world: "validator",
    default_bindings_module: "weir_plugin::validator",
    pub_export_macro: true,
    export_macro_name: "export_validator_world",
});

use crate::frame::{self, Record};
use crate::{Error, Violation};

/// Checks values. Implement `validate`.
pub trait Validator: Sized + 'static {
    /// The stage's config (serde, from the JSON the host passes to `init`).
    type Config: serde::de::DeserializeOwned;

    fn new(config: Self::Config) -> Result<Self, Error>;

    fn validate(&mut self, record: &Record<'_>) -> Result<(), Vec<Violation>>;

    /// `init` as the host calls it: JSON config text to a plugin.
    fn from_config(json: &str) -> Result<Self, Error> {
        Self::new(crate::parse_config(json)?)
    }
}

/// A batch frame in, the answers frame out: what the exported `validate` does.
pub fn answer<V: Validator>(plugin: &mut V, batch: &[u8]) -> Vec<u8> {
    let records = frame::records(batch).expect("weir-plugin: the host sends well-formed frames");
    let mut out = Vec::with_capacity(records.len() * 2);
    for record in &records {
        match plugin.validate(record) {
            Ok(()) => out.push(frame::ACCEPTED),
            Err(violations) => {
                out.push(frame::REFUSED);
                frame::put_violations(
                    &mut out,
                    violations.iter().map(|v| (v.path.as_str(), v.reason.as_str())),
                );
            }
        }
    }
    out
}

/// Exports a [`Validator`] as the component's `validator` world.
#[macro_export]
macro_rules! export_validator {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static PLUGIN: $crate::Slot<$plugin> = const { $crate::Slot::new() };
            }
            struct Export;
            impl $crate::validator::Guest for Export {
                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| {
                        slot.init(|| <$plugin as $crate::Validator>::from_config(&config))
                    })
                }
                fn validate(batch: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u8> {
                    PLUGIN
                        .with(|slot| slot.with(|plugin| $crate::validator::answer(plugin, &batch)))
                }
            }
    $crate::validator::export_validator_world!(Export with_types_in $crate::validator);
        };
    };
}
