//! Dead-letter repair, free of wasm glue so it is unit-tested natively.
//!
//! Reads the violations the validator reported and fixes what has an obvious fix:
//! a missing required field gets its default, a number sent as a string becomes a
//! number. Anything else is refused with a reason, never guessed at.

use serde::Deserialize;
use serde_json::{Map, Value};

/// A violation as reported by the validator stage.
pub use weir_plugin::Violation;
use weir_plugin::{Damaged, Error, Repairer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The schema the repaired value must satisfy (resolved by the host).
    pub schema: Value,
    /// Per-field defaults for missing required fields, e.g. `device_type = "unknown"`.
    #[serde(default)]
    pub defaults: Map<String, Value>,
}

pub struct DeadLetterRepair {
    schema: Value,
    defaults: Map<String, Value>,
}

impl Repairer for DeadLetterRepair {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        if !config.schema.is_object() {
            return Err("config `schema` must be a JSON Schema object".into());
        }
        Ok(DeadLetterRepair { schema: config.schema, defaults: config.defaults })
    }

    fn repair(&mut self, damaged: &Damaged) -> Result<Vec<u8>, Error> {
        self.repair_value(damaged.record.value, &damaged.violations).map_err(Error::from)
    }
}

impl DeadLetterRepair {
    pub fn from_config(config: &str) -> Result<Self, String> {
        <DeadLetterRepair as Repairer>::from_config(config).map_err(String::from)
    }

    /// The repaired value, or why it cannot be repaired.
    pub fn repair_value(&self, value: &[u8], violations: &[Violation]) -> Result<Vec<u8>, String> {
        let mut doc: Value = std::str::from_utf8(value)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .ok_or_else(|| "value is not JSON at all; nothing to repair".to_string())?;
        let Value::Object(object) = &mut doc else {
            return Err("value is JSON but not an object; nothing to repair".into());
        };
        let mut unfixed = Vec::new();
        for violation in violations {
            if let Err(why) = self.fix(object, violation) {
                unfixed.push(why);
            }
        }
        if !unfixed.is_empty() {
            return Err(unfixed.join("; "));
        }
        serde_json::to_vec(&doc).map_err(|e| e.to_string())
    }

    fn fix(&self, object: &mut Map<String, Value>, violation: &Violation) -> Result<(), String> {
        if violation.path.is_empty() {
            return match required_field_named(&violation.reason) {
                Some(field) if !object.contains_key(field) => {
                    let default = self.default_for(field)?;
                    object.insert(field.to_string(), default);
                    Ok(())
                }
                Some(_) => Ok(()), // already filled by an earlier violation
                None => Err(format!("cannot repair: {}", violation.reason)),
            };
        }
        let field = top_level_field(&violation.path)
            .ok_or_else(|| format!("cannot repair {}: {}", violation.path, violation.reason))?;
        let wanted = self.property_types(&field);
        let current = object.get(&field).cloned().unwrap_or(Value::Null);
        let fixed = coerce(&current, &wanted)
            .ok_or_else(|| format!("cannot repair {}: {}", violation.path, violation.reason))?;
        object.insert(field, fixed);
        Ok(())
    }

    /// Config default first, then the schema's own `default`, then a typed default.
    fn default_for(&self, field: &str) -> Result<Value, String> {
        if let Some(value) = self.defaults.get(field) {
            return Ok(value.clone());
        }
        let property = &self.schema["properties"][field];
        if let Some(value) = property.get("default") {
            return Ok(value.clone());
        }
        let types = self.property_types(field);
        typed_default(&types).ok_or_else(|| {
            format!(
                "cannot repair: required field `{field}` is missing and has no default \
                 (add `defaults.{field}` to the repair stage config)"
            )
        })
    }

    fn property_types(&self, field: &str) -> Vec<String> {
        match &self.schema["properties"][field]["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts.iter().filter_map(|t| t.as_str().map(String::from)).collect(),
            _ => Vec::new(),
        }
    }
}

/// `"device_type" is a required property` → `device_type`.
fn required_field_named(reason: &str) -> Option<&str> {
    let rest = reason.strip_suffix(" is a required property")?;
    rest.strip_prefix('"')?.strip_suffix('"')
}

/// `/timestamp` → `timestamp` (only top-level fields are repaired).
fn top_level_field(pointer: &str) -> Option<String> {
    let rest = pointer.strip_prefix('/')?;
    if rest.contains('/') {
        return None;
    }
    Some(rest.replace("~1", "/").replace("~0", "~"))
}

fn typed_default(types: &[String]) -> Option<Value> {
    let first = types.iter().find(|t| t.as_str() != "null").or(types.first())?;
    Some(match first.as_str() {
        "string" => Value::String(String::new()),
        "integer" | "number" => Value::from(0),
        "boolean" => Value::Bool(false),
        "array" => Value::Array(Vec::new()),
        "object" => Value::Object(Map::new()),
        "null" => Value::Null,
        _ => return None,
    })
}

/// Converts a value to one of the wanted types when the conversion loses nothing.
fn coerce(value: &Value, wanted: &[String]) -> Option<Value> {
    let wants = |t: &str| wanted.iter().any(|w| w == t);
    match value {
        Value::String(text) => {
            let text = text.trim();
            if wants("integer") {
                if let Ok(i) = text.parse::<i64>() {
                    return Some(Value::from(i));
                }
            }
            if wants("number") {
                if let Ok(f) = text.parse::<f64>() {
                    if f.is_finite() {
                        return serde_json::Number::from_f64(f).map(Value::Number);
                    }
                }
            }
            if wants("boolean") {
                return match text {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    _ => None,
                };
            }
            None
        }
        Value::Number(n) if wants("string") => Some(Value::String(n.to_string())),
        Value::Number(n) if wants("integer") => {
            // 1730244200.0 is an integer in all but spelling.
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9.0e15).then(|| Value::from(f as i64))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repairer() -> DeadLetterRepair {
        DeadLetterRepair::from_config(
            r#"{
              "schema": {
                "type": "object",
                "required": ["user_id", "device_type", "locale", "timestamp", "retries"],
                "properties": {
                  "user_id": {"type": "string"},
                  "device_type": {"type": "string"},
                  "locale": {"type": "string", "default": "ZZ"},
                  "timestamp": {"type": "integer"},
                  "retries": {"type": ["integer", "null"]},
                  "score": {"type": "number"}
                }
              },
              "defaults": {"device_type": "unknown"}
            }"#,
        )
        .unwrap()
    }

    fn missing(field: &str) -> Violation {
        Violation { path: String::new(), reason: format!("\"{field}\" is a required property") }
    }

    fn wrong_type(path: &str) -> Violation {
        Violation { path: path.into(), reason: "wrong type".into() }
    }

    fn repaired(value: &str, violations: &[Violation]) -> String {
        String::from_utf8(repairer().repair_value(value.as_bytes(), violations).unwrap()).unwrap()
    }

    #[test]
    fn fills_missing_fields_from_config_then_schema_then_type() {
        let out = repaired(
            r#"{"user_id":"u","timestamp":1}"#,
            &[missing("device_type"), missing("locale"), missing("retries")],
        );
        assert_eq!(
            out,
            r#"{"user_id":"u","timestamp":1,"device_type":"unknown","locale":"ZZ","retries":0}"#
        );
    }

    #[test]
    fn turns_numeric_strings_into_numbers() {
        let out = repaired(
            r#"{"timestamp":"1730244200","score":" 2.5","user_id":"u"}"#,
            &[wrong_type("/timestamp"), wrong_type("/score")],
        );
        assert_eq!(out, r#"{"timestamp":1730244200,"score":2.5,"user_id":"u"}"#);
        let out = repaired(r#"{"timestamp":1730244200.0}"#, &[wrong_type("/timestamp")]);
        assert_eq!(out, r#"{"timestamp":1730244200}"#);
        let out = repaired(r#"{"user_id":42}"#, &[wrong_type("/user_id")]);
        assert_eq!(out, r#"{"user_id":"42"}"#);
    }

    #[test]
    fn refuses_what_it_cannot_repair() {
        let r = repairer();
        let err = r.repair_value(b"not json", &[wrong_type("")]).unwrap_err();
        assert!(err.contains("not JSON at all"), "{err}");
        let err = r.repair_value(b"[1,2]", &[]).unwrap_err();
        assert!(err.contains("not an object"), "{err}");
        let err = r
            .repair_value(br#"{"timestamp":"yesterday"}"#, &[wrong_type("/timestamp")])
            .unwrap_err();
        assert!(err.contains("cannot repair /timestamp"), "{err}");
        let err = r
            .repair_value(
                br#"{"a":1}"#,
                &[Violation { path: String::new(), reason: "too many".into() }],
            )
            .unwrap_err();
        assert!(err.contains("too many"), "{err}");
    }

    #[test]
    fn a_missing_field_without_any_default_names_the_fix() {
        let r = DeadLetterRepair::from_config(
            r#"{"schema":{"required":["x"],"properties":{"x":{"enum":[1,2]}}}}"#,
        )
        .unwrap();
        let err = r.repair_value(b"{}", &[missing("x")]).unwrap_err();
        assert!(err.contains("defaults.x"), "{err}");
    }

    #[test]
    fn refuses_a_config_without_schema() {
        assert!(DeadLetterRepair::from_config("{}").err().unwrap().contains("schema"));
    }
}
