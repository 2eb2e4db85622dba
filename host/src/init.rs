//! `weir init`: a working project anywhere — a weir.toml naming every topic, the shipped
//! plugins, the schemas it names and a sample input — from the binary alone.

use crate::shipped::{self, Installed};
use std::path::{Path, PathBuf};

/// The project's files other than the plugins: path in the project, contents.
const FILES: [(&str, &str); 4] = [
    ("weir.toml", include_str!("../templates/init/weir.toml")),
    ("schemas/user-login.json", include_str!("../../schemas/user-login.json")),
    ("schemas/user-login-processed.json", include_str!("../../schemas/user-login-processed.json")),
    ("samples/user-login.jsonl", include_str!("../../samples/user-login.jsonl")),
];

/// What `init` wrote (or found already there, byte for byte).
pub struct Project {
    pub dir: PathBuf,
    pub written: Vec<PathBuf>,
    pub plugins: Vec<Installed>,
}

/// Writes a project into `dir` (created if needed). A file already there that differs
/// from weir's is the user's: refused unless `replace` (nothing is written then).
pub fn init(dir: &Path, replace: bool) -> anyhow::Result<Project> {
    let theirs: Vec<String> = FILES
        .iter()
        .filter(|(name, text)| {
            std::fs::read(dir.join(name)).is_ok_and(|there| !replace && there != text.as_bytes())
        })
        .map(|(name, _)| name.to_string())
        .collect();
    anyhow::ensure!(
        theirs.is_empty(),
        "{} already holds {} of its own; weir init writes nothing over them (--force replaces them, or choose another directory)",
        dir.display(),
        theirs.join(", ")
    );
    let mut written = Vec::new();
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| anyhow::anyhow!("create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
        written.push(path);
    }
    let plugins = shipped::install(&dir.join("plugins"), replace)?;
    Ok(Project { dir: dir.to_path_buf(), written, plugins })
}

impl Project {
    /// What was written, and the commands to go on with.
    pub fn next_steps(&self) -> String {
        let dir = self.dir.display();
        let kept: Vec<String> = self
            .plugins
            .iter()
            .filter_map(|p| match p {
                Installed::Kept(path) => Some(format!(
                    "kept {} (yours: it differs from the shipped one)\n",
                    path.display()
                )),
                _ => None,
            })
            .collect();
        format!(
            "wrote a weir project in {dir}: weir.toml, {} plugins in plugins/, schemas/, samples/user-login.jsonl\n{}\nnext:\n  cd {dir}\n  weir check --offline                                  # load every plugin\n  weir process --input samples/user-login.jsonl         # the pipeline over a file\n  weir run --brokers HOST:9092                          # over Kafka: first set your topics in weir.toml\n  weir plugin new my-transform --world transformer      # your own stage\n",
            self.plugins.len(),
            kept.concat()
        )
    }
}
