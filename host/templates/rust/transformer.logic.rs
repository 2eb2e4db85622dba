//! The plugin's logic, plain Rust: unit-tested natively with `cargo test`.

use serde_json::Value;

/// Adds `"processed_by": "{{name}}"` to every JSON object.
pub fn transform(value: &[u8]) -> Result<Vec<u8>, String> {
    let mut doc: Value = serde_json::from_slice(value).map_err(|e| format!("not JSON: {e}"))?;
    let object = doc.as_object_mut().ok_or("not a JSON object")?;
    object.insert("processed_by".into(), Value::from("{{name}}"));
    serde_json::to_vec(&doc).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn tags_objects_and_refuses_the_rest() {
        assert_eq!(super::transform(br#"{"a":1}"#).unwrap(), br#"{"a":1,"processed_by":"{{name}}"}"#);
        assert!(super::transform(b"[1]").is_err());
        assert!(super::transform(b"nope").is_err());
    }
}
