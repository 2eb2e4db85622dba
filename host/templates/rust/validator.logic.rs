//! The plugin's logic, plain Rust: unit-tested natively with `cargo test`.

use serde_json::Value;

/// Requires every field named in the config's `required` list (default: `user_id`).
pub struct Check {
    required: Vec<String>,
}

impl Check {
    pub fn from_config(config: &str) -> Result<Check, String> {
        let config: Value = serde_json::from_str(if config.trim().is_empty() { "{}" } else { config })
            .map_err(|e| format!("config is not JSON: {e}"))?;
        let required = match config.get("required") {
            None => vec!["user_id".to_string()],
            Some(Value::Array(fields)) => fields.iter().filter_map(|f| f.as_str().map(String::from)).collect(),
            Some(_) => return Err("`required` must be a list of field names".into()),
        };
        Ok(Check { required })
    }

    /// Ok, or (JSON pointer, reason) for each problem.
    pub fn check(&self, value: &[u8]) -> Result<(), Vec<(String, String)>> {
        let doc: Value = serde_json::from_slice(value).map_err(|e| vec![(String::new(), format!("not JSON: {e}"))])?;
        let missing: Vec<(String, String)> = self
            .required
            .iter()
            .filter(|f| doc.get(f.as_str()).is_none())
            .map(|f| (String::new(), format!("\"{f}\" is a required property")))
            .collect();
        if missing.is_empty() { Ok(()) } else { Err(missing) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_missing_fields() {
        let check = super::Check::from_config(r#"{"required":["a","b"]}"#).unwrap();
        assert_eq!(check.check(br#"{"a":1,"b":2}"#), Ok(()));
        assert_eq!(check.check(br#"{"a":1}"#).unwrap_err().len(), 1);
        assert!(check.check(b"nope").is_err());
    }
}
