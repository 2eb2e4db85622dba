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
    anyhow::ensure!(
        !SHIPPED.is_empty(),
        "this weir was built without its plugins (WEIR_SKIP_PLUGIN_BUILD before they were built)"
    );
    std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("create {}: {e}", dir.display()))?;
    refuse_shared(dir)?;
    SHIPPED
        .iter()
        .map(|(name, wasm)| {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(there) if there == *wasm => return Ok(Installed::Unchanged(path)),
                Ok(_) if !replace => return Ok(Installed::Kept(path)),
                _ => {}
            }
            // Written beside, then renamed: a running weir never reads half a plugin. The
            // file beside is new (`create_new`: O_EXCL, which follows no link) under a
            // name of this process's, so nothing planted there is written through.
            let partial = dir.join(format!(".{name}.{}.partial", std::process::id()));
            let write = || -> std::io::Result<()> {
                use std::io::Write;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&partial)?
                    .write_all(wasm)
            };
            write().map_err(|e| anyhow::anyhow!("write {}: {e}", partial.display()))?;
            std::fs::rename(&partial, &path)
                .map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
            Ok(Installed::Written(path))
        })
        .collect()
}

/// Plugins run as weir: a directory another user owns, or that others can write, could
/// have its plugins swapped under it.
fn refuse_shared(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let me = unsafe { libc::getuid() };
    anyhow::ensure!(
        meta.uid() == me && meta.mode() & 0o022 == 0,
        "{} is not a directory for plugins: {} (plugins run as weir, so only weir's user may write them); use --dir with a directory of your own",
        dir.display(),
        if meta.uid() != me { format!("it belongs to user {}", meta.uid()) } else { format!("others can write it (mode {:o})", meta.mode() & 0o777) }
    );
    Ok(())
}
