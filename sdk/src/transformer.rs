//! The `transformer` world: a new value, or an error that dead-letters the record.

wit_bindgen::generate!({
    path: "../wit",
    world: "transformer",
    default_bindings_module: "weir_plugin::transformer",
    pub_export_macro: true,
    export_macro_name: "export_transformer_world",
    with: {
        "weir:plugin/types@0.1.0": crate::validator::weir::plugin::types,
        "weir:plugin/host@0.1.0": crate::validator::weir::plugin::host,
    },
});

use crate::Error;

/// Rewrites values. Implement `transform`; override `transform_batch` to share work
/// across a batch.
pub trait Transformer: Sized + 'static {
    type Config: serde::de::DeserializeOwned;

    fn new(config: Self::Config) -> Result<Self, Error>;

    fn transform(&mut self, message: &Message) -> Result<Vec<u8>, Error>;

    fn transform_batch(&mut self, batch: &[Message]) -> Vec<Result<Vec<u8>, Error>> {
        batch.iter().map(|message| self.transform(message)).collect()
    }

    fn from_config(json: &str) -> Result<Self, Error> {
        Self::new(crate::parse_config(json)?)
    }
}

/// Exports a [`Transformer`] as the component's `transformer` world.
#[macro_export]
macro_rules! export_transformer {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static PLUGIN: $crate::Slot<$plugin> = const { $crate::Slot::new() };
            }
            struct Export;
            impl $crate::transformer::Guest for Export {
                fn init(config: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| slot.init(|| <$plugin as $crate::Transformer>::from_config(&config)))
                }
                fn transform(
                    batch: ::std::vec::Vec<$crate::Message>,
                ) -> ::std::vec::Vec<::std::result::Result<::std::vec::Vec<u8>, ::std::string::String>> {
                    PLUGIN.with(|slot| {
                        slot.with(|plugin| {
                            <$plugin as $crate::Transformer>::transform_batch(plugin, &batch)
                                .into_iter()
                                .map(|result| result.map_err(::std::string::String::from))
                                .collect()
                        })
                    })
                }
            }
            $crate::transformer::export_transformer_world!(Export with_types_in $crate::transformer);
        };
    };
}
