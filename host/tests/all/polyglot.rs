//! Plugins written in JavaScript (componentize-js) and Python (componentize-py), built
//! from `plugins/` by their own build scripts (both toolchains come from the public
//! registries), swapped into a pipeline through the config only.

use crate::common;

use common::{cache_dir, login_config, plugin, repo};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Builds both once per test run, into `target/polyglot/`.
pub(crate) fn built() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().join("polyglot");
        for script in ["plugins/mask-ip-js/build.sh", "plugins/normalize-locale-py/build.sh"] {
            let status = Command::new("bash").arg(repo().join(script)).arg(&out).status().unwrap();
            assert!(status.success(), "{script} failed");
        }
        (out.join("mask-ip-js.wasm"), out.join("normalize-locale-py.wasm"))
    })
}

/// Each carries its config.schema.json, appended by its build script.
#[test]
fn the_javascript_and_python_plugins_describe_their_config() {
    let (js, python) = built();
    for (wasm, dir) in [(js, "plugins/mask-ip-js"), (python, "plugins/normalize-locale-py")] {
        let carried = weir_core::plugin::config_schema(&std::fs::read(wasm).unwrap()).unwrap();
        let written: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join(dir).join("config.schema.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(carried, Some(written), "{dir}");
    }
}

fn process(config: &str, input: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("weir.toml"), config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["process", "--config"])
        .arg(dir.path().join("weir.toml"))
        .arg("--input")
        .arg(input)
        .arg("--dead-letter")
        .arg(dir.path().join("dead.jsonl"))
        .env("WEIR_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_javascript_plugin_matches_the_rust_one_record_for_record() {
    let (js, _) = built();
    let sample = repo().join("samples/user-login.jsonl");
    let rust = process(&login_config(&plugin("mask-ip")), &sample);
    let javascript = process(&login_config(js), &sample);
    assert_eq!(javascript.lines().count(), 5);
    assert!(javascript.contains(r#""ip":"164.116.28.0""#), "{javascript}");
    assert_eq!(javascript, rust);
}

#[test]
fn the_python_plugin_runs_in_a_chain_after_a_rust_one() {
    let (_, python) = built();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let sample = std::fs::read_to_string(repo().join("samples/user-login.jsonl")).unwrap();
    std::fs::write(&input, sample.replace("\"locale\": \"MD\"", "\"locale\": \" md \"")).unwrap();
    // Two transforms in order: the Python locale normaliser, then the Rust timestamp.
    let config = login_config(&plugin("readable-timestamp")).replace(
        "[transform]\n",
        &format!(
            "[[transform]]\nname = \"normalize-locale\"\nplugin = \"{}\"\n\n[[transform]]\n",
            python.display()
        ),
    );
    let output = process(&config, &input);
    assert_eq!(output.lines().count(), 5, "{output}");
    assert_eq!(output.matches(r#""locale":"MD""#).count(), 3, "{output}");
    assert!(!output.contains(" md "));
    assert!(output.contains(r#""timestamp":"2024-10-29 23:23:20""#), "{output}");
}
