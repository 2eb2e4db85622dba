//! The plugin's logic, plain Rust: unit-tested natively with `cargo test`.

use serde_json::Value;

/// Fills a missing `device_type` with "unknown"; refuses what is not a JSON object.
pub fn repair(value: &[u8]) -> Result<Vec<u8>, String> {
    let mut doc: Value = serde_json::from_slice(value).map_err(|_| "not JSON; nothing to repair".to_string())?;
    let object = doc.as_object_mut().ok_or("not a JSON object; nothing to repair")?;
    object.entry("device_type").or_insert(Value::from("unknown"));
    serde_json::to_vec(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn fills_the_default_and_refuses_garbage() {
        assert_eq!(super::repair(br#"{"a":1}"#).unwrap(), br#"{"a":1,"device_type":"unknown"}"#);
        assert!(super::repair(b"nope").is_err());
    }
}
