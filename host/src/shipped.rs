//! The shipped plugins, embedded in the binary: `weir plugin install` writes them where an
//! installed weir looks for plugins (`plugins/` beside it, or `$WEIR_PLUGIN_DIR`).

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/shipped_plugins.rs"));

/// What `install` did with one plugin.
#[derive(Debug, PartialEq)]
pub enum Installed {
    Written(PathBuf),
    /// Already there, byte for byte.
    Unchanged(PathBuf),
    /// A different file of that name is there (a plugin swapped by the user): kept.
    Kept(PathBuf),
}

/// Writes every shipped plugin into `dir` (created if needed). A different file of the
/// same name is kept unless `replace`: it may be the user's own build.
pub fn install(dir: &Path, replace: bool) -> anyhow::Result<Vec<Installed>> {
    anyhow::ensure!(!SHIPPED.is_empty(), "this weir was built without its plugins (WEIR_SKIP_PLUGIN_BUILD before they were built)");
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("create {}: {e}", dir.display()))?;
    SHIPPED
        .iter()
        .map(|(name, wasm)| {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(there) if there == *wasm => return Ok(Installed::Unchanged(path)),
                Ok(_) if !replace => return Ok(Installed::Kept(path)),
                _ => {}
            }
            // Written beside, then renamed: a running weir never reads half a plugin.
            let partial = dir.join(format!(".{name}.partial"));
            std::fs::write(&partial, wasm).map_err(|e| anyhow::anyhow!("write {}: {e}", partial.display()))?;
            std::fs::rename(&partial, &path).map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
            Ok(Installed::Written(path))
        })
        .collect()
}
