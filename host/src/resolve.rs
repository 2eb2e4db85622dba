//! What a stage's plugin receives at `init`: its config from weir.toml with the documents
//! it names resolved — schema files under the config's directory, `resources`, schemas
//! from the registry. The config itself stays data; reading files and the registry
//! happens here.

use std::path::Path;
use weir_core::config::{Config, ConfigError, Resolve, StageConfig};

/// weir's resolver: schema files and `resources` under the config's directory, schemas
/// from the registry.
pub struct Resolver;

impl Resolve for Resolver {
    fn stage_json(
        &self,
        config: &Config,
        key: &str,
        stage: &StageConfig,
    ) -> Result<String, ConfigError> {
        stage_json(config, key, stage)
    }

    fn schema_source(
        &self,
        config: &Config,
    ) -> Result<std::sync::Arc<dyn weir_core::format::SchemaSource>, String> {
        let url = registry_url(config).ok_or("`[topics]` formats read schemas from a schema registry: set `registry.url` in the config or WEIR_REGISTRY")?;
        let registry =
            crate::registry::Registry::for_config(config, &url).map_err(|e| format!("{e:#}"))?;
        Ok(std::sync::Arc::new(registry))
    }
}

/// The registry's URL: `WEIR_REGISTRY`, else `registry.url`.
fn registry_url(config: &Config) -> Option<String> {
    std::env::var("WEIR_REGISTRY")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| config.registry.url.clone())
}

/// The stage's config as the JSON its plugin's `init` receives. A `schema` given as a
/// path is replaced by the schema document itself, and `resources` by the documents
/// they name (with a registry schema's references): plugins never read files.
pub fn stage_json(config: &Config, key: &str, stage: &StageConfig) -> Result<String, ConfigError> {
    use serde_json::Value;
    crate::config_schema::check(config, key, stage)?;
    let mut json = serde_json::to_value(&stage.config)
        .map_err(|e| config.key_error(&config_key(key, ""), &e.to_string()))?;
    let mut resources = match json.get("resources") {
        Some(Value::Object(table)) => {
            crate::resources::load(&config.resolve(Path::new(".")), table, |s| {
                registry_schema(config, s)
            })
            .map_err(|reason| config.key_error(&config_key(key, "resources"), &reason))?
        }
        Some(_) => {
            return Err(
                config.key_error(&config_key(key, "resources"), "must be a table of URI = path")
            )
        }
        None => serde_json::Map::new(),
    };
    if let Some(Value::String(schema)) = json.get("schema").cloned() {
        let schema_error = |reason: String| config.key_error(&config_key(key, "schema"), &reason);
        let document = if schema == weir_core::format::WRITERS_SCHEMA {
            // Each record's writer's schema, given per instance by the pipeline.
            Value::String(schema)
        } else if schema.starts_with(crate::registry::SCHEME) {
            let (document, references) = registry_schema(config, &schema).map_err(schema_error)?;
            crate::resources::add_missing(&mut resources, references);
            document
        } else if Path::new(&schema).is_absolute() {
            // An absolute path is the operator's explicit choice.
            load_schema(Path::new(&schema)).map_err(schema_error)?
        } else {
            // A relative one stays under the config's directory, as resources do (its
            // document reaches the plugin, which can copy it into records).
            let path = config.resolve(Path::new(&schema));
            if path.exists() {
                crate::resources::under(&config.resolve(Path::new(".")), &schema)
                    .map_err(schema_error)?;
            }
            load_schema(&path).map_err(schema_error)?
        };
        json["schema"] = document;
    }
    if !resources.is_empty() {
        json["resources"] = Value::Object(resources);
    }
    Ok(json.to_string())
}

/// A schema from the registry, `registry://SUBJECT[@VERSION]`, with the documents it
/// references (Confluent `references`, fetched with it), by the name it uses for each.
pub fn registry_schema(
    config: &Config,
    schema: &str,
) -> Result<(serde_json::Value, serde_json::Map<String, serde_json::Value>), String> {
    let (subject, version) = crate::registry::parse_reference(schema)
        .unwrap_or_else(|| Err(format!("`{schema}` is not registry://SUBJECT[@VERSION]")))?;
    let url = registry_url(config).ok_or_else(|| {
        format!(
            "`{schema}` needs a schema registry: set `registry.url` in the config or WEIR_REGISTRY"
        )
    })?;
    let registry =
        crate::registry::Registry::for_config(config, &url).map_err(|e| format!("{e:#}"))?;
    registry.get_with_references(&subject, version).map_err(|e| format!("{e:#}"))
}

/// How an error names a key of a stage's config: `validate.config.schema` in weir.toml;
/// just `schema` in a file that holds one stage's config (`key` empty).
fn config_key(key: &str, field: &str) -> String {
    match (key.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => format!("{key}.config"),
        (false, false) => format!("{key}.config.{field}"),
    }
}

/// Reads a JSON Schema file: the error says which file and what is wrong with it.
pub fn load_schema(path: &Path) -> Result<serde_json::Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read schema {}: {e}", path.display()))?;
    let document: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("schema {} is not JSON: {e}", path.display()))?;
    if !document.is_object() && !document.is_boolean() {
        return Err(format!("schema {} must be a JSON object", path.display()));
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_schema_file_is_named() {
        let config = Config::parse(
            "[validate]\nplugin = \"v.wasm\"\nconfig = { schema = \"nope.json\" }\n",
            Path::new("/etc/weir/weir.toml"),
        )
        .unwrap();
        let err = stage_json(&config, "validate", config.validate.as_ref().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("validate.config.schema"), "{err}");
        assert!(err.contains("/etc/weir/nope.json"), "{err}");
    }

    #[test]
    fn a_relative_schema_path_stays_under_the_config_directory() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.json"), "{}").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.json"),
            dir.path().join("linked.json"),
        )
        .unwrap();
        std::fs::write(dir.path().join("own.json"), "{}").unwrap();
        let stage = |schema: &str| {
            let text =
                format!("[validate]\nplugin = \"v.wasm\"\nconfig = {{ schema = \"{schema}\" }}\n");
            let config = Config::parse(&text, &dir.path().join("weir.toml")).unwrap();
            stage_json(&config, "validate", config.validate.as_ref().unwrap())
                .map_err(|e| e.to_string())
        };
        stage("own.json").unwrap();
        assert!(stage("linked.json").unwrap_err().contains("outside the config's directory"));
        let up =
            format!("../{}/secret.json", outside.path().file_name().unwrap().to_string_lossy());
        assert!(stage(&up).unwrap_err().contains("outside the config's directory"));
        // An absolute path is the operator's explicit choice.
        stage(outside.path().join("secret.json").to_str().unwrap()).unwrap();
    }
}
