//! The `repairer` world: a repaired value, or why a dead letter cannot be fixed.

wit_bindgen::generate!({
    path: "wit",
    world: "repairer",
    default_bindings_module: "weir_plugin::repairer",
    pub_export_macro: true,
    export_macro_name: "export_repairer_world",
    with: {
        "weir:plugin/types@0.3.0": crate::validator::weir::plugin::types,
        "weir:plugin/host@0.3.0": crate::validator::weir::plugin::host,
        "weir:plugin/tables@0.3.0": crate::validator::weir::plugin::tables,
    },
});

use crate::frame::{self, Record};
use crate::{Error, Violation};

/// A dead letter handed to a repairer: the record as it was refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged<'a> {
    pub record: Record<'a>,
    pub violations: Vec<Violation>,
}

/// Fixes dead letters. `repair` returns the new value (validated again by the host and
/// sent back to the input), or the reason it cannot be fixed (the record is parked).
pub trait Repairer: Sized + 'static {
    type Config: serde::de::DeserializeOwned;

    fn new(config: Self::Config) -> Result<Self, Error>;

    fn repair(&mut self, damaged: &Damaged<'_>) -> Result<Vec<u8>, Error>;

    fn from_config(json: &str) -> Result<Self, Error> {
        Self::new(crate::parse_config(json)?)
    }
}

/// A repairer's batch: each record followed by its violations.
pub fn damaged(batch: &[u8]) -> Result<Vec<Damaged<'_>>, frame::FrameError> {
    let mut reader = frame::Reader::new(batch);
    let count = reader.count(1)?;
    let letters = (0..count)
        .map(|_| {
            let record = Record::read(&mut reader)?;
            let violations = frame::read_violations(&mut reader)?
                .into_iter()
                .map(|(path, reason)| Violation::new(path, reason))
                .collect();
            Ok(Damaged { record, violations })
        })
        .collect::<Result<Vec<_>, _>>()?;
    reader.end()?;
    Ok(letters)
}

/// A batch frame in, the answers frame out: what the exported `repair` does.
pub fn answer<R: Repairer>(plugin: &mut R, batch: &[u8]) -> Vec<u8> {
    let letters = damaged(batch).expect("weir-plugin: the host sends well-formed frames");
    let mut out = Vec::new();
    for letter in &letters {
        match plugin.repair(letter) {
            Ok(value) => {
                out.push(frame::ACCEPTED);
                frame::put_bytes(&mut out, &value);
            }
            Err(reason) => {
                out.push(frame::REFUSED);
                frame::put_bytes(&mut out, reason.reason().as_bytes());
            }
        }
    }
    out
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
                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| {
                        slot.init(|| <$plugin as $crate::Repairer>::from_config(&config))
                    })
                }
                fn repair(batch: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u8> {
                    PLUGIN.with(|slot| slot.with(|plugin| $crate::repairer::answer(plugin, &batch)))
                }
            }
    $crate::repairer::export_repairer_world!(Export with_types_in $crate::repairer);
        };
    };
}
