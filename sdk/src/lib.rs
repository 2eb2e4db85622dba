//! `weir-plugin`: write a weir plugin in Rust as one trait impl and one export line.
//!
//! ```ignore
//! use weir_plugin::{Message, Transformer, Error};
//!
//! #[derive(serde::Deserialize, Default)]
//! #[serde(default)]
//! struct Config { field: String }
//!
//! struct Upper(Config);
//!
//! impl Transformer for Upper {
//!     type Config = Config;
//!     fn new(config: Config) -> Result<Self, Error> { Ok(Upper(config)) }
//!     fn transform(&mut self, message: &Message) -> Result<Vec<u8>, Error> {
//!         Ok(message.value.to_ascii_uppercase())
//!     }
//! }
//!
//! weir_plugin::export_transformer!(Upper);
//! ```
//!
//! The same code runs natively (plain rlib use): unit tests and `weir bench`'s native
//! baseline call the trait directly, with no wasm in between. The export line only
//! does something when compiling for `wasm32`.

mod error;
pub mod json;
pub mod log;
mod slot;

pub mod aggregator;
pub mod repairer;
pub mod transformer;
pub mod validator;

pub use aggregator::Aggregator;
pub use error::Error;
pub use repairer::Repairer;
pub use transformer::Transformer;
pub use validator::Validator;

/// The contract's data types (`weir:plugin/types`), shared by every world.
pub use validator::weir::plugin::types::{Damaged, Header, Message, RepairOutcome, Violation};
/// What an aggregator reports (`weir:plugin/aggregate`).
pub use aggregator::exports::weir::plugin::aggregate::{Counter, Report, Row, Table};

#[doc(hidden)]
pub use slot::Slot;

/// A stage's config, as the host hands it to `init`: JSON text, empty when the stage
/// sets nothing (then the config type's defaults apply).
pub fn parse_config<C: serde::de::DeserializeOwned>(json: &str) -> Result<C, Error> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| Error::new(format!("bad config: {e}")))
}

impl Message {
    /// A message with only a value, as read from a file; for tests and native use.
    pub fn from_value(value: impl Into<Vec<u8>>) -> Message {
        Message {
            key: None,
            value: value.into(),
            headers: Vec::new(),
            topic: "-".to_string(),
            partition: 0,
            offset: 0,
            timestamp: None,
        }
    }
}

impl Violation {
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Violation {
        Violation { path: path.into(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Config {
        field: String,
    }

    impl Default for Config {
        fn default() -> Self {
            Config { field: "ip".into() }
        }
    }

    struct Upper;

    impl Transformer for Upper {
        type Config = Config;
        fn new(_: Config) -> Result<Self, Error> {
            Ok(Upper)
        }
        fn transform(&mut self, message: &Message) -> Result<Vec<u8>, Error> {
            if message.value.is_empty() {
                return Err("empty".into());
            }
            Ok(message.value.to_ascii_uppercase())
        }
    }

    struct Fill;

    impl Repairer for Fill {
        type Config = Config;
        fn new(_: Config) -> Result<Self, Error> {
            Ok(Fill)
        }
        fn repair(&mut self, damaged: &Damaged) -> Result<Vec<u8>, Error> {
            match damaged.violations.first() {
                Some(v) => Err(Error::new(format!("cannot fix {}", v.path))),
                None => Ok(damaged.message.value.clone()),
            }
        }
    }

    #[test]
    fn an_empty_config_means_the_defaults_and_a_bad_one_names_the_key() {
        assert_eq!(parse_config::<Config>("").unwrap(), Config::default());
        assert_eq!(parse_config::<Config>(r#"{"field":"x"}"#).unwrap().field, "x");
        let error = parse_config::<Config>(r#"{"colour":"red"}"#).unwrap_err();
        assert!(error.reason().contains("unknown field `colour`"), "{error}");
        assert!(parse_config::<Config>("not json").unwrap_err().reason().starts_with("bad config"));
    }

    #[test]
    fn batch_functions_give_one_result_per_message_in_order() {
        let mut upper = Upper::from_config("{}").unwrap();
        let batch = [Message::from_value("a"), Message::from_value(""), Message::from_value("c")];
        let results = upper.transform_batch(&batch);
        assert_eq!(results, vec![Ok(b"A".to_vec()), Err(Error::new("empty")), Ok(b"C".to_vec())]);

        let mut fill = Fill::from_config("").unwrap();
        let letters = [
            Damaged { message: Message::from_value("{}"), violations: vec![] },
            Damaged { message: Message::from_value("{}"), violations: vec![Violation::new("/ip", "missing")] },
        ];
        assert_eq!(
            fill.repair_batch(&letters),
            vec![RepairOutcome::Repaired(b"{}".to_vec()), RepairOutcome::Unrepairable("cannot fix /ip".into())]
        );
    }

    #[test]
    fn a_slot_holds_the_plugin_init_made_and_keeps_the_old_one_on_refusal() {
        let slot: Slot<u32> = Slot::new();
        assert_eq!(slot.init(|| Ok(7)), Ok(()));
        assert_eq!(slot.init(|| Err("no".into())), Err("no".to_string()));
        assert_eq!(slot.with(|n| *n), 7);
    }
}
