//! `weir plugin new`: a plugin project that builds and passes its own test out of the box.

use anyhow::Context;
use std::path::{Path, PathBuf};
use weir_core::plugin::World;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    /// JavaScript (`js` or `javascript`).
    #[value(alias = "javascript")]
    Js,
    Python,
}

/// The contract generated projects are built against (the SDK carries it for Rust).
const CONTRACT: &str = include_str!("../../wit/weir.wit");

/// A template per world: `$dir/$world.$file.tmpl` for each of the four worlds.
macro_rules! per_world {
    ($world:expr, $dir:literal, $file:literal) => {
        match $world {
            World::Validator => {
                include_str!(concat!("../templates/", $dir, "/validator.", $file, ".tmpl"))
            }
            World::Transformer => {
                include_str!(concat!("../templates/", $dir, "/transformer.", $file, ".tmpl"))
            }
            World::Repairer => {
                include_str!(concat!("../templates/", $dir, "/repairer.", $file, ".tmpl"))
            }
            World::Aggregator => {
                include_str!(concat!("../templates/", $dir, "/aggregator.", $file, ".tmpl"))
            }
        }
    };
}

/// (path in the project, template)
fn rust_files(world: World) -> Vec<(&'static str, &'static str)> {
    vec![
        ("Cargo.toml", include_str!("../templates/rust/Cargo.toml.tmpl")),
        ("rust-toolchain.toml", include_str!("../templates/rust/rust-toolchain.toml.tmpl")),
        ("README.md", include_str!("../templates/rust/README.md.tmpl")),
        ("sample.jsonl", include_str!("../templates/rust/sample.jsonl.tmpl")),
        ("src/lib.rs", per_world!(world, "rust", "lib.rs")),
        ("src/logic.rs", per_world!(world, "rust", "logic.rs")),
    ]
}

const SAMPLE: &str = include_str!("../templates/rust/sample.jsonl.tmpl");

fn js_files(world: World) -> Vec<(&'static str, &'static str)> {
    let mut files = vec![
        ("plugin.js", per_world!(world, "js", "plugin.js")),
        ("plugin.test.js", per_world!(world, "js", "test.js")),
        ("frame.js", include_str!("../templates/js/frame.js.tmpl")),
        ("package.json", include_str!("../templates/js/package.json.tmpl")),
        ("build.sh", include_str!("../templates/js/build.sh.tmpl")),
        ("README.md", include_str!("../templates/js/README.md.tmpl")),
        ("sample.jsonl", SAMPLE),
        ("wit/weir.wit", CONTRACT),
    ];
    // Its logic apart from plugin.js, which imports the host's tables (absent in Node).
    if world == World::Transformer {
        files.push(("logic.js", include_str!("../templates/js/transformer.logic.js.tmpl")));
    }
    files
}

fn python_files(world: World) -> Vec<(&'static str, &'static str)> {
    let mut files = vec![
        ("app.py", per_world!(world, "python", "app.py")),
        ("logic.py", per_world!(world, "python", "logic.py")),
        ("test_logic.py", per_world!(world, "python", "test_logic.py")),
        ("weir_frame.py", include_str!("../templates/python/weir_frame.py.tmpl")),
        ("build.sh", include_str!("../templates/python/build.sh.tmpl")),
        ("README.md", include_str!("../templates/python/README.md.tmpl")),
        ("sample.jsonl", SAMPLE),
        ("wit/weir.wit", CONTRACT),
    ];
    if world == World::Aggregator {
        files.push(("aggregate.py", include_str!("../templates/python/aggregate.py.tmpl")));
    }
    files
}

/// The SDK by path when this weir was built from a checkout that is still there, else by
/// version from crates.io (once published).
fn sdk_dependency() -> String {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    match sdk.canonicalize() {
        Ok(path) if path.join("Cargo.toml").exists() => {
            format!("weir-plugin = {{ path = {:?} }}", path.display().to_string())
        }
        _ => format!(
            "weir-plugin = \"{}\"",
            weir_plugin::CONTRACT.trim_start_matches("weir:plugin@")
        ),
    }
}

fn trait_name(world: World) -> &'static str {
    match world {
        World::Validator => "Validator",
        World::Transformer => "Transformer",
        World::Repairer => "Repairer",
        World::Aggregator => "Aggregator",
    }
}

/// Creates `dir/NAME`. Refuses to overwrite anything.
pub fn new_plugin(dir: &Path, name: &str, world: World, lang: Lang) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    anyhow::ensure!(
        valid,
        "plugin name `{name}` must be lowercase letters, digits and dashes, starting with a letter"
    );
    let root = dir.join(name);
    anyhow::ensure!(
        !root.exists(),
        "{} already exists; pick another name or directory",
        root.display()
    );
    let files = match (lang, world) {
        (Lang::Rust, _) => rust_files(world),
        (Lang::Js, _) => js_files(world),
        (Lang::Python, _) => python_files(world),
    };
    let schema = config_schema(name, world, lang);
    let pipeline = weir_toml(world, lang);
    let generated = [("config.schema.json", schema.as_str()), ("weir.toml", pipeline.as_str())];
    for (path, template) in files.into_iter().chain(generated) {
        let text = template
            .replace("{{sdk_dependency}}", &sdk_dependency())
            .replace("{{trait}}", trait_name(world))
            .replace("{{name}}", name)
            .replace("{{lib}}", &name.replace('-', "_"))
            .replace("{{world}}", world.name());
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("files live in a directory"))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(root)
}

/// The transformers' lookup (contract 0.3): which enrichment table holds the profiles.
fn profiles_key() -> serde_json::Value {
    serde_json::json!({
        "type": "string",
        "description": "An enrichment table holding each user's profile under its user_id; when set (and named in the stage's `tables`), the profile found is added as `profile`."
    })
}

/// The generated plugin's config, described: the schema it carries (the Rust SDK's
/// `config_schema!`, or appended by the JS and Python build scripts), so `weir check`
/// names a wrong key before the plugin starts. Edit it with the plugin's `Config`.
fn config_schema(name: &str, world: World, lang: Lang) -> String {
    use serde_json::json;
    let properties = match (world, lang) {
        (World::Validator, _) => json!({ "required": {
            "type": "array", "items": { "type": "string" }, "default": ["user_id"],
            "description": "Fields every record must have." } }),
        (World::Transformer, Lang::Rust) => json!({
            "field": { "type": "string", "default": "processed_by", "description": "The field to add." },
            "profiles": profiles_key() }),
        (World::Transformer, _) => json!({ "profiles": profiles_key() }),
        (World::Repairer, _) => json!({ "device_type": {
            "type": "string", "default": "unknown",
            "description": "The value a missing `device_type` gets." } }),
        (World::Aggregator, _) => json!({ "field": {
            "type": "string", "default": "device_type",
            "description": "The field whose values are counted." } }),
    };
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "description": format!("The config of the {name} {world}."),
        "type": "object",
        "properties": properties,
        "additionalProperties": false
    });
    serde_json::to_string_pretty(&schema).expect("JSON") + "\n"
}

/// A pipeline of this one stage, so `weir process --input sample.jsonl` runs the plugin
/// where it was built, as a stage of a real weir.toml would.
fn weir_toml(world: World, lang: Lang) -> String {
    let key = match world {
        World::Validator => "validate",
        World::Transformer => "transform",
        World::Repairer => "repair",
        World::Aggregator => "aggregate",
    };
    let plugin = match lang {
        Lang::Rust => "target/wasm32-wasip2/release/{{lib}}.wasm",
        Lang::Js | Lang::Python => "{{lib}}.wasm",
    };
    let run = match world {
        World::Repairer => {
            "weir repair --input dead.jsonl (dead letters of `weir process --dead-letter`)"
        }
        _ => "weir process --input sample.jsonl",
    };
    format!(
        "# This plugin as the one stage of a pipeline: {run}.\n# A stage of your own weir.toml takes the same lines (`weir init` writes a whole one).\n[{key}]\nplugin = \"{plugin}\"\nconfig = {{}}                         # checked against config.schema.json\n"
    )
}
