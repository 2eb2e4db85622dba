//! `resources`: the documents a stage's schema may `$ref`, loaded by the host and handed to
//! the plugin as `{absolute URI: document}` (plugins never touch files or the network).
//!
//! In weir.toml a resource maps a URI to a file, a URI prefix ending in `/` to a directory
//! (every `.json` file below it, by relative path), or either to a registry subject:
//!
//! ```toml
//! config = { schema = "schemas/order.json", resources = {
//!     "https://example.com/address.json" = "schemas/address.json",
//!     "http://localhost:1234/" = "remotes/",
//!     "https://example.com/customer.json" = "registry://customer-value" } }
//! ```

use serde_json::{Map, Value};
use std::path::Path;

/// A registry subject's document and the documents it references, by name.
pub type RegistrySchema = (Value, Map<String, Value>);

/// The table from weir.toml, resolved to documents. Paths are relative to `base` (the
/// config's directory) and must stay under it; `registry` fetches `registry://` subjects.
pub fn load(
    base: &Path,
    table: &Map<String, Value>,
    registry: impl Fn(&str) -> Result<RegistrySchema, String>,
) -> Result<Map<String, Value>, String> {
    let mut documents = Map::new();
    for (uri, target) in table {
        let Value::String(target) = target else {
            return Err(format!("`{uri}` must map to a file, a directory or registry://SUBJECT"));
        };
        if target.starts_with(crate::registry::SCHEME) {
            let (document, references) = registry(target)?;
            documents.insert(uri.clone(), document);
            add_missing(&mut documents, references);
            continue;
        }
        let path = under(base, target)?;
        if path.is_dir() {
            if !uri.ends_with('/') {
                return Err(format!("`{uri}` maps to directory {target}: a directory needs a URI prefix ending in `/`"));
            }
            load_dir(&path, &path, uri, &mut documents)?;
        } else {
            documents.insert(uri.clone(), load_json(&path)?);
        }
    }
    Ok(documents)
}

/// Adds documents whose URIs the map does not have yet (what the user maps wins).
pub fn add_missing(documents: &mut Map<String, Value>, more: Map<String, Value>) {
    for (uri, document) in more {
        documents.entry(uri).or_insert(document);
    }
}

/// A path from weir.toml, refused when it leads outside the config's directory.
fn under(base: &Path, target: &str) -> Result<std::path::PathBuf, String> {
    let path = base.join(target);
    let canonical = path.canonicalize().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = base.canonicalize().map_err(|e| format!("cannot read {}: {e}", base.display()))?;
    if !canonical.starts_with(&base) {
        return Err(format!("{target} is outside the config's directory {}; resources must live under it", base.display()));
    }
    Ok(canonical)
}

fn load_dir(root: &Path, dir: &Path, prefix: &str, documents: &mut Map<String, Value>) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            load_dir(root, &path, prefix, documents)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path.strip_prefix(root).expect("below the root");
            let parts: Vec<String> = relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            documents.insert(format!("{prefix}{}", parts.join("/")), load_json(&path)?);
        }
    }
    Ok(())
}

fn load_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_registry(subject: &str) -> Result<RegistrySchema, String> {
        Err(format!("no registry for {subject}"))
    }

    #[test]
    fn files_and_directories_become_documents_by_uri() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("remotes/nested")).unwrap();
        std::fs::write(dir.path().join("remotes/integer.json"), r#"{"type":"integer"}"#).unwrap();
        std::fs::write(dir.path().join("remotes/nested/string.json"), r#"{"type":"string"}"#).unwrap();
        std::fs::write(dir.path().join("remotes/notes.txt"), "not a schema").unwrap();
        std::fs::write(dir.path().join("address.json"), "true").unwrap();
        let table = serde_json::json!({
            "http://localhost:1234/": "remotes/",
            "https://example.com/address.json": "address.json",
        });
        let documents = load(dir.path(), table.as_object().unwrap(), no_registry).unwrap();
        let uris: Vec<&str> = documents.keys().map(String::as_str).collect();
        assert_eq!(
            uris,
            ["http://localhost:1234/integer.json", "http://localhost:1234/nested/string.json", "https://example.com/address.json"]
        );
        assert_eq!(documents["https://example.com/address.json"], Value::Bool(true));
    }

    #[test]
    fn bad_mappings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("remotes")).unwrap();
        let err = |table: Value| load(dir.path(), table.as_object().unwrap(), no_registry).unwrap_err();
        assert!(err(serde_json::json!({"http://x/a.json": "missing.json"})).contains("missing.json"));
        assert!(err(serde_json::json!({"http://x/a": "remotes/"})).contains("ending in `/`"));
        assert!(err(serde_json::json!({"http://x/a.json": "../../etc/passwd"})).contains("outside the config's directory"));
        assert!(err(serde_json::json!({"http://x/a.json": 3})).contains("must map to"));
    }
}
