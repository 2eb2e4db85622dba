//! `weir-plugin`: write a weir plugin in Rust as one trait impl and one export line.
//!
//! Contract `weir:plugin@0.3.0` (`wit/weir.wit`, shipped inside this crate). A plugin sees
//! each record as a borrowed [`Record`] and never the framing a batch crosses in.
//!
//! ```ignore
//! use weir_plugin::{Emit, Error, Record, Transformer};
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
//!     fn transform(&mut self, record: &Record, out: &mut Emit) -> Result<(), Error> {
//!         if record.value.is_empty() {
//!             return Ok(()); // emit nothing: the record is filtered out
//!         }
//!         out.value(&record.value.to_ascii_uppercase());
//!         Ok(())
//!     }
//! }
//!
//! weir_plugin::export_transformer!(Upper);
//! ```
//!
//! The same code runs natively (plain rlib use): unit tests and `weir bench`'s native
//! baseline call the trait directly, with no wasm in between. The export line only
//! does something when compiling for `wasm32`.

pub mod config_schema;
mod error;
pub mod frame;
pub mod json;
pub mod log;
mod slot;
pub mod tables;

pub mod aggregator;
pub mod allocator;
pub mod repairer;
pub mod transformer;
pub mod validator;

/// What an aggregator reports (`weir:plugin/aggregate`).
pub use aggregator::exports::weir::plugin::aggregate::{Counter, Report, Row, Table};
pub use aggregator::Aggregator;
pub use error::Error;
pub use frame::{Headers, Record};
pub use repairer::{Damaged, Repairer};
pub use transformer::{Emit, Emitted, Out, Transformer};
pub use validator::Validator;

#[doc(hidden)]
pub use slot::Slot;

/// The contract version this SDK builds plugins for.
pub const CONTRACT: &str = "weir:plugin@0.3.0";

/// A stage's config, as the host hands it to `init`: JSON text, empty when the stage
/// sets nothing (then the config type's defaults apply).
pub fn parse_config<C: serde::de::DeserializeOwned>(json: &str) -> Result<C, Error> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|e| Error::new(format!("bad config: {e}")))
}

/// Why a value does not satisfy a stage: where (a JSON pointer, RFC 6901; "" is the
/// root) and why, e.g. `"device_type" is a required property`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Violation {
    pub path: String,
    pub reason: String,
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

    /// Upper-cases values, drops empty ones, fans `split:` values out, routes `v2:` ones,
    /// refuses `bad`.
    struct Upper;

    impl Transformer for Upper {
        type Config = Config;
        fn new(_: Config) -> Result<Self, Error> {
            Ok(Upper)
        }
        fn transform(&mut self, record: &Record, out: &mut Emit) -> Result<(), Error> {
            match record.value {
                b"" => {}
                b"bad" => {
                    out.value(b"half-done");
                    return Err("bad".into());
                }
                b"split:ab" => {
                    out.value(b"a").value(b"b");
                }
                b"v2:x" => {
                    out.record(
                        Out::like(record, b"x")
                            .header("x-route", b"v2")
                            .to("v2")
                            .key(Some(b"new-key")),
                    );
                }
                value => {
                    out.value(&value.to_ascii_uppercase());
                }
            }
            Ok(())
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
                None => Ok(damaged.record.value.to_vec()),
            }
        }
    }

    fn batch(values: &[&[u8]]) -> Vec<u8> {
        let mut buf = Vec::new();
        frame::put_u32(&mut buf, values.len() as u32);
        for value in values {
            frame::write_record(
                &mut buf,
                value,
                Some(b"k"),
                |b| frame::put_headers(b, [("h", &b"1"[..])].into_iter()),
                "t",
                0,
                0,
                None,
            );
        }
        buf
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
    fn a_transform_filters_rewrites_fans_out_and_routes_and_an_error_takes_back_what_it_emitted() {
        let mut upper = Upper::from_config("{}").unwrap();
        let frame = batch(&[b"a", b"", b"bad", b"split:ab", b"v2:x"]);
        let records = frame::records(&frame).unwrap();
        let mut emitted = |r| transformer::transform(&mut upper, r);
        let like = |value: &[u8]| Emitted {
            value: value.to_vec(),
            key: Some(b"k".to_vec()),
            headers: vec![("h".into(), b"1".to_vec())],
            output: None,
        };
        assert_eq!(emitted(&records[0]), Ok(vec![like(b"A")]));
        assert_eq!(emitted(&records[1]), Ok(vec![]));
        assert_eq!(emitted(&records[2]), Err(Error::new("bad")));
        assert_eq!(emitted(&records[3]), Ok(vec![like(b"a"), like(b"b")]));
        let routed = Emitted {
            value: b"x".to_vec(),
            key: Some(b"new-key".to_vec()),
            headers: vec![("h".into(), b"1".to_vec()), ("x-route".into(), b"v2".to_vec())],
            output: Some("v2".into()),
        };
        assert_eq!(emitted(&records[4]), Ok(vec![routed]));

        // The whole batch's answer is one frame the host can walk: five answers, nothing after.
        let answers = transformer::answer(&mut upper, &frame);
        let mut reader = frame::Reader::new(&answers);
        let mut tags = Vec::new();
        for _ in 0..5 {
            let tag = reader.u8().unwrap();
            tags.push(tag);
            if tag == frame::REFUSED {
                reader.text().unwrap();
                continue;
            }
            for _ in 0..reader.u32().unwrap() {
                reader.bytes().unwrap();
                reader.maybe_bytes().unwrap();
                frame::Headers::read(&mut reader).unwrap();
                reader.maybe_text().unwrap();
            }
        }
        reader.end().unwrap();
        assert_eq!(tags, [0, 0, 1, 0, 0]);
    }

    #[test]
    fn a_repairer_reads_each_record_with_its_violations() {
        let mut buf = Vec::new();
        frame::put_u32(&mut buf, 2);
        for violations in [&[][..], &[("/ip", "missing")][..]] {
            Record::new(b"{}").write(&mut buf);
            frame::put_violations(&mut buf, violations.iter().copied());
        }
        let letters = repairer::damaged(&buf).unwrap();
        assert_eq!(letters[1].violations, vec![Violation::new("/ip", "missing")]);
        let mut fill = Fill::from_config("").unwrap();
        let mut expected = vec![frame::ACCEPTED];
        frame::put_bytes(&mut expected, b"{}");
        expected.push(frame::REFUSED);
        frame::put_bytes(&mut expected, b"cannot fix /ip");
        assert_eq!(repairer::answer(&mut fill, &buf), expected);
    }

    #[test]
    fn a_slot_holds_the_plugin_init_made_and_keeps_the_old_one_on_refusal() {
        let slot: Slot<u32> = Slot::new();
        assert_eq!(slot.init(|| Ok(7)), Ok(()));
        assert_eq!(slot.init(|| Err("no".into())), Err("no".to_string()));
        assert_eq!(slot.with(|n| *n), 7);
    }

    /// The WIT the SDK builds against is the contract's, as published in `wit/`.
    #[test]
    fn the_packaged_contract_is_the_workspace_contract() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/weir.wit");
        let Ok(workspace) = std::fs::read_to_string(root) else { return }; // packaged alone
        assert_eq!(
            include_str!("../wit/weir.wit"),
            workspace,
            "sdk/wit/weir.wit must be a copy of wit/weir.wit"
        );
        assert!(workspace.contains(&format!("package {CONTRACT};")));
    }
}
