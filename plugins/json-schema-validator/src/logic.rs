//! Validation logic, free of any wasm glue so it is unit-tested natively.

use crate::tape::{Document, Tape};
use jsonschema::json::Json;
use jsonschema::{Draft, Retrieve, Uri};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
/// Why a value failed: a JSON pointer into the value and a readable reason.
pub use weir_plugin::Violation;
use weir_plugin::{Error, Record, Validator};

/// Stage config. The host loads `schema` and every `resources` document from files or the
/// registry; the plugin never touches files or the network.
#[derive(Debug, Deserialize)]
pub struct Config {
    pub schema: Option<Value>,
    /// The draft for a schema that declares no `$schema` (which wins when present).
    #[serde(default)]
    pub draft: Option<DraftName>,
    /// Documents the schema may `$ref`, by absolute URI.
    #[serde(default)]
    pub resources: BTreeMap<String, Value>,
    /// Whether `format` is asserted. Default: as the draft says — yes for drafts 4, 6 and
    /// 7, no (an annotation only) for 2019-09 and 2020-12.
    #[serde(default)]
    pub formats: Option<bool>,
    /// Keys this plugin does not know: ignored with a warning (configs written for
    /// earlier versions, or shared with the repair stage, keep working).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The drafts a config may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DraftName {
    #[serde(rename = "4")]
    Draft4,
    #[serde(rename = "6")]
    Draft6,
    #[serde(rename = "7")]
    Draft7,
    #[serde(rename = "2019-09")]
    Draft201909,
    #[serde(rename = "2020-12")]
    Draft202012,
}

impl DraftName {
    fn draft(self) -> Draft {
        match self {
            DraftName::Draft4 => Draft::Draft4,
            DraftName::Draft6 => Draft::Draft6,
            DraftName::Draft7 => Draft::Draft7,
            DraftName::Draft201909 => Draft::Draft201909,
            DraftName::Draft202012 => Draft::Draft202012,
        }
    }
}

/// Serves `$ref`s from the documents the host handed over; anything else is named.
#[derive(Clone)]
struct Resources(BTreeMap<String, Value>);

impl Retrieve for Resources {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let uri = uri.as_str();
        let without_fragment = uri.split_once('#').map_or(uri, |(base, _)| base);
        // A schema without `$id` resolves `$ref: "address.json"` against jsonschema's default
        // base; Confluent names references just so, relative.
        let relative = without_fragment.strip_prefix(DEFAULT_BASE);
        let found =
            self.0.get(without_fragment).or_else(|| relative.and_then(|name| self.0.get(name)));
        found.cloned().ok_or_else(|| {
            format!("the schema references {uri}, which is not among the stage's `resources`; map it to a file or directory in weir.toml").into()
        })
    }
}

/// The base URI of a schema that declares no `$id`, in the jsonschema crate.
const DEFAULT_BASE: &str = "json-schema:///";

/// Longest reason a violation carries: dead-letter headers stay small whatever the value.
const MAX_REASON_CHARS: usize = 300;

/// A compiled schema, built once from the stage config and reused for every message; it
/// reads values as a [`Tape`].
pub struct SchemaCheck {
    validator: jsonschema::Validator<Tape>,
    /// The same schema over `serde_json::Value`, as every value was checked before the
    /// tape: the tests compare the two.
    #[cfg(test)]
    by_value: jsonschema::Validator,
}

impl Validator for SchemaCheck {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        let schema = config
            .schema
            .ok_or("config has no `schema`: set `schema = \"path/to/schema.json\"` in the stage")?;
        if !config.other.is_empty() {
            let keys: Vec<&str> = config.other.keys().map(String::as_str).collect();
            weir_plugin::log::warn(&format!(
                "ignoring config keys this validator does not know: {}",
                keys.join(", ")
            ));
        }
        let compile = Compile {
            resources: Resources(config.resources),
            draft: config.draft.filter(|_| schema.get("$schema").is_none()),
            formats: config.formats,
        };
        Ok(SchemaCheck {
            validator: compile.build(jsonschema::options_for::<Tape>(), &schema)?,
            #[cfg(test)]
            by_value: compile.build(jsonschema::options(), &schema)?,
        })
    }

    fn validate(&mut self, record: &Record) -> Result<(), Vec<Violation>> {
        self.check(record.value)
    }
}

impl SchemaCheck {
    /// Builds from the stage config: `{"schema": <schema document>}`.
    pub fn from_config(config: &str) -> Result<Self, String> {
        <SchemaCheck as Validator>::from_config(config).map_err(String::from)
    }

    /// A schema alone: its own `$schema`, else 2020-12; no resources.
    pub fn from_schema(schema: &Value) -> Result<Self, String> {
        let config = Config {
            schema: Some(schema.clone()),
            draft: None,
            resources: BTreeMap::new(),
            formats: None,
            other: BTreeMap::new(),
        };
        <SchemaCheck as Validator>::new(config).map_err(String::from)
    }

    /// Ok, or every violation found, each with its JSON pointer.
    pub fn check(&self, value: &[u8]) -> Result<(), Vec<Violation>> {
        if let Some(document) = std::str::from_utf8(value).ok().and_then(Document::parse) {
            return verdict(&self.validator, document.root());
        }
        // What the tape leaves to serde_json: it says what is wrong, or reads the value
        // its own way (a repeated key's last value), and the tape reads what it writes.
        let unreadable = |why: String| vec![Violation::new("", why)];
        let instance = parse_json(value).map_err(unreadable)?;
        let canonical = serde_json::to_string(&instance).map_err(|e| unreadable(e.to_string()))?;
        match Document::parse_canonical(&canonical) {
            Some(document) => verdict(&self.validator, document.root()),
            None => Err(unreadable("value could not be read back from serde_json".into())),
        }
    }

    /// [`SchemaCheck::check`] through a `serde_json::Value`, as every value went before the
    /// tape.
    #[cfg(test)]
    pub fn check_as_value(&self, value: &[u8]) -> Result<(), Vec<Violation>> {
        let instance = parse_json(value).map_err(|reason| vec![Violation::new("", reason)])?;
        verdict(&self.by_value, &instance)
    }
}

/// What decides how a schema is compiled, whatever the representation it reads.
struct Compile {
    resources: Resources,
    /// The config's draft, when the schema does not declare its own.
    draft: Option<DraftName>,
    formats: Option<bool>,
}

impl Compile {
    fn build<F: Json>(
        &self,
        options: jsonschema::ValidationOptions<'_, std::sync::Arc<dyn Retrieve>, F>,
        schema: &Value,
    ) -> Result<jsonschema::Validator<F>, Error> {
        let mut options = options.with_retriever(self.resources.clone());
        if let Some(draft) = self.draft {
            options = options.with_draft(draft.draft());
        }
        if let Some(formats) = self.formats {
            options = options.should_validate_formats(formats);
        }
        options.build(schema).map_err(|e| {
            format!("invalid JSON Schema at {}: {e}", pointer_or_root(e.instance_path().as_str()))
                .into()
        })
    }
}

/// Ok, or every violation of `instance`, each with its JSON pointer.
fn verdict<'i, F: Json>(
    validator: &'i jsonschema::Validator<F>,
    instance: F::Node<'i>,
) -> Result<(), Vec<Violation>> {
    if validator.is_valid(instance.clone()) {
        return Ok(());
    }
    let violations: Vec<Violation> = validator
        .iter_errors(instance)
        .map(|error| Violation {
            path: bounded(error.instance_path().as_str()),
            reason: bounded(&error.to_string()),
        })
        .collect();
    Err(violations)
}

/// Parses bytes as JSON, with a reason fit for a dead-letter header when that fails.
pub fn parse_json(value: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(value).map_err(|e| {
        format!("value is not UTF-8 text (invalid byte at offset {})", e.valid_up_to())
    })?;
    if text.trim().is_empty() {
        return Err("value is empty, expected a JSON document".to_string());
    }
    serde_json::from_str(text).map_err(|e| format!("value is not valid JSON: {e}"))
}

/// At most `MAX_REASON_CHARS`, cut on a character boundary with an ellipsis.
fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_REASON_CHARS) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

fn pointer_or_root(pointer: &str) -> &str {
    if pointer.is_empty() {
        "the root"
    } else {
        pointer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn login_schema() -> Value {
        json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "required": ["user_id", "device_type", "timestamp"],
            "properties": {
                "user_id": {"type": "string"},
                "device_type": {"type": "string"},
                "timestamp": {"type": "integer"}
            }
        })
    }

    #[test]
    fn accepts_a_valid_value() {
        let check = SchemaCheck::from_schema(&login_schema()).unwrap();
        let value = br#"{"user_id":"u","device_type":"iOS","timestamp":1730244200}"#;
        assert_eq!(check.check(value), Ok(()));
    }

    #[test]
    fn reports_a_missing_field_at_the_root() {
        let check = SchemaCheck::from_schema(&login_schema()).unwrap();
        let errors = check.check(br#"{"user_id":"u","timestamp":1}"#).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "");
        assert!(errors[0].reason.contains("\"device_type\" is a required property"), "{errors:?}");
    }

    #[test]
    fn reports_every_wrong_type_with_its_pointer() {
        let check = SchemaCheck::from_schema(&login_schema()).unwrap();
        let errors = check
            .check(br#"{"user_id":7,"device_type":"iOS","timestamp":"1730244200"}"#)
            .unwrap_err();
        let mut paths: Vec<&str> = errors.iter().map(|v| v.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["/timestamp", "/user_id"]);
    }

    #[test]
    fn works_with_draft_2020_12() {
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "array",
            "prefixItems": [{"type": "integer"}],
            "items": false
        });
        let check = SchemaCheck::from_schema(&schema).unwrap();
        assert_eq!(check.check(b"[1]"), Ok(()));
        let errors = check.check(b"[1, 2]").unwrap_err();
        assert_eq!(errors.len(), 1);
        let errors = check.check(br#"["x"]"#).unwrap_err();
        assert_eq!(errors[0].path, "/0");
    }

    #[test]
    fn non_json_is_a_violation_not_a_panic() {
        let check = SchemaCheck::from_schema(&login_schema()).unwrap();
        let errors = check.check(b"hello").unwrap_err();
        assert!(errors[0].reason.starts_with("value is not valid JSON"), "{errors:?}");
        let errors = check.check(&[0xff, 0xfe]).unwrap_err();
        assert!(errors[0].reason.contains("not UTF-8"), "{errors:?}");
        let errors = check.check(b"").unwrap_err();
        assert!(errors[0].reason.contains("empty"), "{errors:?}");
    }

    #[test]
    fn a_bad_schema_is_refused_with_a_reason() {
        let err = SchemaCheck::from_schema(&json!({"type": "no-such-type"})).err().unwrap();
        assert!(err.starts_with("invalid JSON Schema"), "{err}");
        let err = SchemaCheck::from_config("{}").err().unwrap();
        assert!(err.contains("no `schema`"), "{err}");
    }
    #[test]
    fn the_config_names_the_draft_unless_the_schema_does() {
        // Array-form `items` is draft 7; 2020-12 refuses it.
        let items = json!({"items": [{"type": "integer"}]});
        assert!(SchemaCheck::from_schema(&items).is_err());
        let config = json!({"schema": items, "draft": "7"}).to_string();
        let check = SchemaCheck::from_config(&config).unwrap();
        assert_eq!(check.check(b"[1]"), Ok(()));
        assert!(check.check(br#"["x"]"#).is_err());
        // `$schema` wins over the config.
        let declared = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "prefixItems": [{"type": "integer"}]});
        let config = json!({"schema": declared, "draft": "4"}).to_string();
        assert!(SchemaCheck::from_config(&config).unwrap().check(br#"["x"]"#).is_err());
        assert!(SchemaCheck::from_config(r#"{"schema":{},"draft":"5"}"#)
            .err()
            .unwrap()
            .contains("unknown variant"));
    }

    #[test]
    fn references_resolve_from_the_resources_the_host_hands_over() {
        let schema = json!({"$ref": "http://localhost:1234/name.json"});
        let config = json!({
            "schema": schema,
            "resources": {"http://localhost:1234/name.json": {"type": "string"}}
        })
        .to_string();
        let check = SchemaCheck::from_config(&config).unwrap();
        assert_eq!(check.check(br#""ada""#), Ok(()));
        assert!(check.check(b"1").is_err());
        let missing =
            SchemaCheck::from_config(&json!({"schema": schema}).to_string()).err().unwrap();
        assert!(missing.contains("http://localhost:1234/name.json"), "{missing}");
    }

    #[test]
    fn formats_follow_the_draft_unless_the_config_says() {
        let schema = json!({"format": "ipv4"});
        assert_eq!(SchemaCheck::from_schema(&schema).unwrap().check(br#""nope""#), Ok(()));
        let asserted = json!({"schema": schema, "formats": true}).to_string();
        assert!(SchemaCheck::from_config(&asserted).unwrap().check(br#""nope""#).is_err());
        let draft7 = json!({"schema": schema, "draft": "7"}).to_string();
        assert!(SchemaCheck::from_config(&draft7).unwrap().check(br#""nope""#).is_err());
    }

    #[test]
    fn reasons_are_bounded_whatever_the_value() {
        let check = SchemaCheck::from_schema(&json!({"type": "integer"})).unwrap();
        let long = format!("\"{}\"", "é".repeat(100_000));
        let errors = check.check(long.as_bytes()).unwrap_err();
        assert!(
            errors[0].reason.chars().count() <= MAX_REASON_CHARS + 1,
            "{}",
            errors[0].reason.len()
        );
        assert!(errors[0].reason.ends_with('…'));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1_000, failure_persistence: None, ..Default::default() })]

        /// The tape and a `serde_json::Value` give the same verdict and the same violations,
        /// in order, on any value (valid, invalid JSON, keywords that read members, names,
        /// numbers and equality).
        #[test]
        fn the_tape_and_serde_json_give_the_same_verdict(text in crate::tape::tests::edited()) {
            let check = keyword_check();
            proptest::prop_assert_eq!(check.check(text.as_bytes()), check.check_as_value(text.as_bytes()));
        }

        /// Repeated names (serde_json keeps the last) and wide objects: the same verdict.
        #[test]
        fn repeated_names_give_serde_jsons_verdict((text, _) in crate::tape::tests::with_repeated_names()) {
            let check = keyword_check();
            proptest::prop_assert_eq!(check.check(text.as_bytes()), check.check_as_value(text.as_bytes()));
        }
    }

    #[test]
    fn a_repeated_key_means_what_serde_json_says_the_last_one() {
        let check = keyword_check();
        let value = br#"{"a":"x","a":7,"b":null}"#;
        assert_eq!(check.check(value), check.check_as_value(value));
        assert_eq!(check.check(br#"{"a":[],"a":"x"}"#), Ok(()));
        assert!(check.check(br#"{"a":"x","a":[]}"#).is_err());
    }

    /// A schema whose keywords read every part of a value.
    fn keyword_check() -> SchemaCheck {
        SchemaCheck::from_schema(&json!({
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": {"type": ["string", "integer"], "minLength": 1, "maximum": 10},
                "b": {"enum": [null, true, "é", 1.5, [1], {"c": 1}]},
                "c": {"const": {"a": [1, 2]}},
                "\"": {"type": "array", "uniqueItems": true, "items": {"type": "number", "multipleOf": 0.5}}
            },
            "propertyNames": {"maxLength": 2},
            "patternProperties": {"^é": {"minProperties": 1}},
            "additionalProperties": {"type": ["object", "array", "null", "boolean"]},
            "maxProperties": 5
        }))
        .unwrap()
    }
}
