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
            let base =
                base.canonicalize().map_err(|e| format!("cannot read {}: {e}", base.display()))?;
            load_dir(
                &Walk { base: &base, root: &path, prefix: uri },
                &path,
                &mut vec![path.clone()],
                &mut documents,
            )?;
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

/// A path from weir.toml, refused when it leads outside the config's directory (through
/// `..` or a symbolic link).
pub fn under(base: &Path, target: &str) -> Result<std::path::PathBuf, String> {
    let path = base.join(target);
    let canonical =
        path.canonicalize().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let base = base.canonicalize().map_err(|e| format!("cannot read {}: {e}", base.display()))?;
    if !canonical.starts_with(&base) {
        return Err(format!(
            "{target} is outside the config's directory {}; resources must live under it",
            base.display()
        ));
    }
    Ok(canonical)
}

/// A directory of resources being read: the config's directory (nothing may lead out of
/// it), the mapped directory and its URI prefix.
struct Walk<'a> {
    base: &'a Path,
    root: &'a Path,
    prefix: &'a str,
}

/// Every `.json` file below `dir`. A symbolic link is followed only to somewhere under the
/// config's directory, and a link back to a directory being walked (`ancestors`) is a
/// loop: each refused by name.
fn load_dir(
    walk: &Walk,
    dir: &Path,
    ancestors: &mut Vec<std::path::PathBuf>,
    documents: &mut Map<String, Value>,
) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read directory {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let target =
            path.canonicalize().map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !target.starts_with(walk.base) {
            return Err(format!(
                "{} leads outside the config's directory {}; resources must live under it",
                path.display(),
                walk.base.display()
            ));
        }
        if target.is_dir() {
            if ancestors.contains(&target) {
                return Err(format!(
                    "{} links back to {}: a loop of directories",
                    path.display(),
                    target.display()
                ));
            }
            ancestors.push(target);
            load_dir(walk, &path, ancestors, documents)?;
            ancestors.pop();
        } else if path.extension().is_some_and(|e| e == "json") {
            let relative = path.strip_prefix(walk.root).expect("below the root");
            let parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            documents.insert(format!("{}{}", walk.prefix, parts.join("/")), load_json(&path)?);
        }
    }
    Ok(())
}

fn load_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
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
        std::fs::write(dir.path().join("remotes/nested/string.json"), r#"{"type":"string"}"#)
            .unwrap();
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
            [
                "http://localhost:1234/integer.json",
                "http://localhost:1234/nested/string.json",
                "https://example.com/address.json"
            ]
        );
        assert_eq!(documents["https://example.com/address.json"], Value::Bool(true));
    }

    #[test]
    fn bad_mappings_are_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("remotes")).unwrap();
        let err =
            |table: Value| load(dir.path(), table.as_object().unwrap(), no_registry).unwrap_err();
        assert!(
            err(serde_json::json!({"http://x/a.json": "missing.json"})).contains("missing.json")
        );
        assert!(err(serde_json::json!({"http://x/a": "remotes/"})).contains("ending in `/`"));
        assert!(err(serde_json::json!({"http://x/a.json": "../../etc/passwd"}))
            .contains("outside the config's directory"));
        assert!(err(serde_json::json!({"http://x/a.json": 3})).contains("must map to"));
    }

    #[test]
    fn links_out_of_the_config_directory_and_loops_are_refused_by_name() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.json"), r#"{"secret":true}"#).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("remotes/inner")).unwrap();
        std::fs::write(dir.path().join("remotes/inner/a.json"), "true").unwrap();
        let table = serde_json::json!({"http://x/": "remotes/"});
        let load_remotes = || load(dir.path(), table.as_object().unwrap(), no_registry);
        // A link inside the config's directory is fine.
        std::os::unix::fs::symlink(
            dir.path().join("remotes/inner"),
            dir.path().join("remotes/alias"),
        )
        .unwrap();
        assert_eq!(load_remotes().unwrap().len(), 2);
        std::fs::remove_file(dir.path().join("remotes/alias")).unwrap();

        std::os::unix::fs::symlink(outside.path(), dir.path().join("remotes/out")).unwrap();
        assert!(load_remotes()
            .unwrap_err()
            .contains("remotes/out leads outside the config's directory"));
        std::fs::remove_file(dir.path().join("remotes/out")).unwrap();

        // Two links to `.`: without the check, a walk without end.
        std::os::unix::fs::symlink(".", dir.path().join("remotes/inner/self")).unwrap();
        std::os::unix::fs::symlink("..", dir.path().join("remotes/inner/up")).unwrap();
        let err = load_remotes().unwrap_err();
        assert!(err.contains("a loop of directories"), "{err}");
    }
}
