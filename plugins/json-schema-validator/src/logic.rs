//! Validation logic, free of any wasm glue so it is unit-tested natively.

use serde_json::Value;

/// Why a value failed: a JSON pointer into the value and a readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub reason: String,
}

impl Violation {
    fn at_root(reason: String) -> Self {
        Violation { path: String::new(), reason }
    }
}

/// A compiled schema, built once from the stage config and reused for every message.
pub struct SchemaCheck {
    validator: jsonschema::Validator,
}

impl SchemaCheck {
    /// Builds from the stage config: `{"schema": <schema document>}`.
    pub fn from_config(config: &str) -> Result<Self, String> {
        let config: Value =
            serde_json::from_str(config).map_err(|e| format!("config is not JSON: {e}"))?;
        let schema = config
            .get("schema")
            .ok_or("config has no `schema`: set `schema = \"path/to/schema.json\"` in the stage")?;
        Self::from_schema(schema)
    }

    pub fn from_schema(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(schema)
            .map_err(|e| format!("invalid JSON Schema at {}: {e}", pointer_or_root(e.instance_path().as_str())))?;
        Ok(SchemaCheck { validator })
    }

    /// Ok, or every violation found, each with its JSON pointer.
    pub fn check(&self, value: &[u8]) -> Result<(), Vec<Violation>> {
        let instance = parse_json(value).map_err(|reason| vec![Violation::at_root(reason)])?;
        if self.validator.is_valid(&instance) {
            return Ok(());
        }
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(&instance)
            .map(|error| Violation {
                path: error.instance_path().as_str().to_string(),
                reason: error.to_string(),
            })
            .collect();
        Err(violations)
    }
}

/// Parses bytes as JSON, with a reason fit for a dead-letter header when that fails.
pub fn parse_json(value: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(value)
        .map_err(|e| format!("value is not UTF-8 text (invalid byte at offset {})", e.valid_up_to()))?;
    if text.trim().is_empty() {
        return Err("value is empty, expected a JSON document".to_string());
    }
    serde_json::from_str(text).map_err(|e| format!("value is not valid JSON: {e}"))
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
}
