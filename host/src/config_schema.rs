//! A stage's config checked against the JSON Schema its plugin carries (if it carries
//! one), before the plugin starts: a typo is refused naming the key, whatever the plugin
//! would have said of it.

use json_schema_validator::logic::SchemaCheck;
use weir_core::config::{Config, ConfigError, StageConfig};

/// Checks the config as written in weir.toml (paths not yet replaced by documents).
pub(crate) fn check(config: &Config, key: &str, stage: &StageConfig) -> Result<(), ConfigError> {
    let path = config.plugin_path(&stage.plugin);
    // A plugin that cannot be read is said by the loader, with its hints.
    let Ok(bytes) = std::fs::read(&path) else { return Ok(()) };
    // `key` is empty for `weir plugin test`'s stage file: its keys are the config's own.
    let under =
        |name: &str| if key.is_empty() { name.to_string() } else { format!("{key}.{name}") };
    let refuse = |reason: String| {
        config.key_error(&under("plugin"), &format!("{}: {reason}", path.display()))
    };
    let schema = match weir_core::plugin::config_schema(&bytes) {
        Ok(Some(schema)) => schema,
        Ok(None) => return Ok(()),
        Err(reason) => return Err(refuse(reason)),
    };
    let schema_check = SchemaCheck::from_schema(&schema)
        .map_err(|e| refuse(format!("the plugin's config schema is not usable: {e}")))?;
    let written = serde_json::to_vec(&stage.config).map_err(|e| refuse(e.to_string()))?;
    let Err(violations) = schema_check.check(&written) else { return Ok(()) };
    let first = &violations[0];
    let at = first.path.trim_start_matches('/').replace('/', ".");
    let key = if at.is_empty() { under("config") } else { under(&format!("config.{at}")) };
    Err(config.key_error(
        &key,
        &format!(
            "{} (the plugin's config schema; `weir plugin inspect {}` shows every key)",
            first.reason,
            path.display()
        ),
    ))
}
