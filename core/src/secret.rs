//! Secrets — passwords, API secrets — from an environment variable or a file (a
//! Kubernetes or Docker secret), never from weir.toml; errors name the source, never the
//! value.

use std::path::Path;

/// The secret of config section `section` from `env` (a variable's name) or `file`.
pub fn read(section: &str, env: Option<&str>, file: Option<&Path>) -> anyhow::Result<String> {
    match (env, file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| anyhow::anyhow!("the password for {section} is read from ${var} ({section}.password_env), which is not set")),
        (None, Some(file)) => std::fs::read_to_string(file)
            .map(|text| text.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| anyhow::anyhow!("the password file {} ({section}.password_file) cannot be read: {e}", file.display())),
        (None, None) => anyhow::bail!("{section}: set `password_env` (an environment variable) or `password_file`"),
    }
}
