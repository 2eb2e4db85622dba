//! Plugins describe their own config (a JSON Schema in the `weir:config-schema` custom
//! section): every shipped plugin carries one, `weir plugin inspect` prints it, a stage
//! config it refuses is named by key before the plugin starts, and a plugin without one
//! still loads.

use crate::common;

use common::{cache_dir, plugin, repo, test_plugin};
use std::path::Path;
use std::process::{Command, Output};

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_CACHE_DIR", cache_dir())
        .env("WEIR_LOG", "warn")
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every Rust plugin under `plugins/` (the shipped ones): a new one without a schema fails.
#[test]
fn every_shipped_plugin_describes_its_config_and_inspect_prints_it() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    for name in &names {
        let file = plugin(name);
        let out = weir(&["plugin", "inspect", file.to_str().unwrap(), "--config-schema"]);
        assert!(out.status.success(), "{name}: {}", said(&out));
        let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let written: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("plugins").join(name).join("config.schema.json"))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(schema, written, "{name} carries its config.schema.json as written");
    }
    let inspect = weir(&["plugin", "inspect", plugin("readable-timestamp").to_str().unwrap()]);
    let text = said(&inspect);
    assert!(inspect.status.success(), "{text}");
    for line in [
        "utc_offset (string, default \"+00:00\"): A fixed offset from UTC",
        "input (\"seconds\" | \"milliseconds\" | \"rfc3339\", default \"seconds\")",
        "(no other keys)",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let repair =
        said(&weir(&["plugin", "inspect", plugin("dead-letter-repair").to_str().unwrap()]));
    assert!(repair.contains("schema (string | object | boolean, required)"), "{repair}");
}

fn check(dir: &Path, config: &str) -> Output {
    let path = dir.join("weir.toml");
    std::fs::write(&path, config).unwrap();
    weir(&["check", "--offline", "--config", path.to_str().unwrap()])
}

#[test]
fn a_stage_config_its_plugins_schema_refuses_is_named_before_the_plugin_starts() {
    let dir = tempfile::tempdir().unwrap();
    let login = common::absolute_weir_toml();
    for (why, config, key, naming) in [
        (
            "a typo",
            login.replace("utc_offset = \"+00:00\"", "utc_ofset = \"+00:00\""),
            "`transform.config`",
            "utc_ofset",
        ),
        (
            "a wrong type",
            login.replace("top_locales = 3", "top_locales = \"three\""),
            "`aggregate.config.top_locales`",
            "\"three\"",
        ),
        (
            "a value out of its enum",
            login.replace("utc_offset = \"+00:00\"", "input = \"minutes\""),
            "`transform.config.input`",
            "minutes",
        ),
        (
            "a missing required key",
            login
                .lines()
                .map(|l| match l.contains("defaults = {") {
                    true => "config = { defaults = { device_type = \"unknown\" } }",
                    false => l,
                })
                .collect::<Vec<_>>()
                .join("\n"),
            "`repair.config`",
            "schema",
        ),
    ] {
        let out = check(dir.path(), &config);
        let text = said(&out);
        assert_eq!(out.status.code(), Some(2), "{why}: {text}");
        assert!(text.contains(key) && text.contains(naming), "{why}: {text}");
        assert!(text.contains("weir plugin inspect"), "{why} says where to look: {text}");
    }
    let fine = check(dir.path(), &login);
    assert!(fine.status.success(), "{}", said(&fine));

    // `weir plugin test`'s stage file is checked the same way.
    let stage = dir.path().join("stage.toml");
    std::fs::write(&stage, "utc_ofset = \"+01:00\"\n").unwrap();
    let sample = repo().join("samples/user-login.jsonl");
    let out = weir(&[
        "plugin",
        "test",
        plugin("readable-timestamp").to_str().unwrap(),
        "--input",
        sample.to_str().unwrap(),
        "--stage-config",
        stage.to_str().unwrap(),
    ]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("`config`") && text.contains("utc_ofset"), "{text}");
}

#[test]
fn a_plugin_without_a_schema_loads_and_a_broken_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    // A test plugin carries no schema: any config reaches the plugin, as before.
    let bare = test_plugin("hostile-v2");
    let inspect = said(&weir(&["plugin", "inspect", bare.to_str().unwrap()]));
    assert!(inspect.contains("config:  no schema"), "{inspect}");
    let config =
        format!("[[transform]]\nplugin = \"{}\"\nconfig = {{ anything = 1 }}\n", bare.display());
    let loads = check(dir.path(), &config);
    assert!(loads.status.success(), "{}", said(&loads));

    // A section a tool appended at the component's top level that is not JSON.
    let mut bytes = std::fs::read(plugin("mask-ip")).unwrap();
    let name = b"weir:config-schema";
    let data = b"{not json";
    bytes.push(0); // a custom section
    bytes.push((1 + name.len() + data.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend(name);
    bytes.extend(data);
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, &bytes).unwrap();
    // The first section wins: mask-ip's own is read before the appended one.
    let first = said(&weir(&["plugin", "inspect", broken.to_str().unwrap(), "--config-schema"]));
    assert!(first.contains("\"title\": \"mask-ip\""), "{first}");
    // Without the SDK's section, the appended one is read and named as broken.
    let bare_bytes = std::fs::read(&bare).unwrap();
    let mut only_appended = bare_bytes.clone();
    only_appended.extend(&bytes[bytes.len() - (2 + 1 + name.len() + data.len())..]);
    std::fs::write(&broken, &only_appended).unwrap();
    let config = format!("[[transform]]\nplugin = \"{}\"\n", broken.display());
    let out = check(dir.path(), &config);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("`transform.plugin`") && text.contains("not JSON"), "{text}");
}

/// docs/reference/ is what the code generates: a key added, a default changed or a doc
/// comment edited without regenerating fails here, with the command that regenerates.
#[test]
fn the_generated_references_in_docs_are_current() {
    for (args, file) in [
        (&["reference"][..], "docs/reference/weir-toml.md"),
        (&["reference", "--plugins"][..], "docs/reference/plugins.md"),
    ] {
        let out = weir(args);
        assert!(out.status.success(), "{}", said(&out));
        let generated = String::from_utf8(out.stdout).unwrap();
        let written = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
        assert!(
            generated == written,
            "{file} is stale: regenerate it with `cargo run --release -- {} > {file}`",
            args.join(" ")
        );
    }
}
