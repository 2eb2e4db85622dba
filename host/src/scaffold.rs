//! `weir plugin new`: a plugin project that builds and passes its own test out of the box.

use crate::plugin::World;
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
}

const CONTRACT: &str = include_str!("../../wit/weir.wit");

/// (path in the project, template)
fn rust_files(world: World) -> Vec<(&'static str, &'static str)> {
    let (lib, logic) = match world {
        World::Validator => (include_str!("../templates/rust/validator.lib.rs"), include_str!("../templates/rust/validator.logic.rs")),
        World::Transformer => (include_str!("../templates/rust/transformer.lib.rs"), include_str!("../templates/rust/transformer.logic.rs")),
        World::Repairer => (include_str!("../templates/rust/repairer.lib.rs"), include_str!("../templates/rust/repairer.logic.rs")),
        World::Aggregator => (include_str!("../templates/rust/aggregator.lib.rs"), include_str!("../templates/rust/aggregator.logic.rs")),
    };
    vec![
        ("Cargo.toml", include_str!("../templates/rust/Cargo.toml.tmpl")),
        ("rust-toolchain.toml", include_str!("../templates/rust/rust-toolchain.toml.tmpl")),
        ("README.md", include_str!("../templates/rust/README.md.tmpl")),
        ("sample.jsonl", include_str!("../templates/rust/sample.jsonl.tmpl")),
        ("wit/weir.wit", CONTRACT),
        ("src/lib.rs", lib),
        ("src/logic.rs", logic),
    ]
}

const SAMPLE: &str = include_str!("../templates/rust/sample.jsonl.tmpl");

fn js_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("plugin.js", include_str!("../templates/js/plugin.js.tmpl")),
        ("plugin.test.js", include_str!("../templates/js/plugin.test.js.tmpl")),
        ("package.json", include_str!("../templates/js/package.json.tmpl")),
        ("build.sh", include_str!("../templates/js/build.sh.tmpl")),
        ("README.md", include_str!("../templates/js/README.md.tmpl")),
        ("sample.jsonl", SAMPLE),
        ("wit/weir.wit", CONTRACT),
    ]
}

fn python_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("logic.py", include_str!("../templates/python/logic.py.tmpl")),
        ("app.py", include_str!("../templates/python/app.py.tmpl")),
        ("test_logic.py", include_str!("../templates/python/test_logic.py.tmpl")),
        ("build.sh", include_str!("../templates/python/build.sh.tmpl")),
        ("README.md", include_str!("../templates/python/README.md.tmpl")),
        ("sample.jsonl", SAMPLE),
        ("wit/weir.wit", CONTRACT),
    ]
}

/// Creates `dir/NAME`. Refuses to overwrite anything.
pub fn new_plugin(dir: &Path, name: &str, world: World, lang: Lang) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_lowercase());
    anyhow::ensure!(valid, "plugin name `{name}` must be lowercase letters, digits and dashes, starting with a letter");
    let root = dir.join(name);
    anyhow::ensure!(!root.exists(), "{} already exists; pick another name or directory", root.display());
    let files = match (lang, world) {
        (Lang::Rust, _) => rust_files(world),
        (Lang::Js, World::Transformer) => js_files(),
        (Lang::Python, World::Transformer) => python_files(),
        (Lang::Js | Lang::Python, _) => anyhow::bail!(
            "--lang {} generates `transformer` plugins only so far; use --lang rust for a {world}",
            if lang == Lang::Js { "js" } else { "python" }
        ),
    };
    for (path, template) in files {
        let text = template
            .replace("{{name}}", name)
            .replace("{{lib}}", &name.replace('-', "_"))
            .replace("{{world}}", world.name());
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("files live in a directory"))?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(root)
}
