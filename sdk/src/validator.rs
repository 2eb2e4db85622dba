//! The `validator` world: ok, or the list of violations.

wit_bindgen::generate!({
    path: "../wit",
    world: "validator",
    default_bindings_module: "weir_plugin::validator",
    pub_export_macro: true,
    export_macro_name: "export_validator_world",
    additional_derives: [PartialEq],
});

use crate::Error;

/// Checks values. Implement `validate`; override `validate_batch` to share work
/// across a batch.
pub trait Validator: Sized + 'static {
    /// The stage's config (serde, from the JSON the host passes to `init`).
    type Config: serde::de::DeserializeOwned;

    fn new(config: Self::Config) -> Result<Self, Error>;

    fn validate(&mut self, message: &Message) -> Result<(), Vec<Violation>>;

    fn validate_batch(&mut self, batch: &[Message]) -> Vec<Result<(), Vec<Violation>>> {
        batch.iter().map(|message| self.validate(message)).collect()
    }

    /// `init` as the host calls it: JSON config text to a plugin.
    fn from_config(json: &str) -> Result<Self, Error> {
        Self::new(crate::parse_config(json)?)
    }
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
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| slot.init(|| <$plugin as $crate::Validator>::from_config(&config)))
                }
                fn validate(
                    batch: ::std::vec::Vec<$crate::Message>,
                ) -> ::std::vec::Vec<::std::result::Result<(), ::std::vec::Vec<$crate::Violation>>> {
                    PLUGIN.with(|slot| slot.with(|plugin| <$plugin as $crate::Validator>::validate_batch(plugin, &batch)))
                }
            }
            $crate::validator::export_validator_world!(Export with_types_in $crate::validator);
        };
    };
}
