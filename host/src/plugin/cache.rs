//! On-disk cache of compiled components.
//!
//! Cranelift needs seconds to compile a jsonschema-sized component; loading the
//! compiled artifact takes milliseconds. Entries are keyed by the wasm's SHA-256 and
//! the engine's compatibility hash, so a new wasmtime or a new engine setting never
//! loads a stale artifact.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    /// A cache in `dir`; `None` disables caching.
    pub fn new(dir: Option<PathBuf>) -> Self {
        CompileCache { dir }
    }

    /// `$WEIR_CACHE_DIR`, else `$XDG_CACHE_HOME/weir`, else `~/.cache/weir`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        var("WEIR_CACHE_DIR")
            .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("weir")))
            .or_else(|| var("HOME").map(|h| h.join(".cache").join("weir")))
    }

    /// Compiles `wasm`, or loads the compiled artifact from the cache.
    /// Returns the component and whether it came from the cache.
    pub fn load(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<(Component, bool)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, wasm)?, false));
        };
        let entry = dir.join(format!("{}.cwasm", key(engine, wasm)));
        if entry.exists() {
            // SAFETY: the file was written by `Component::serialize` for an engine with
            // the same compatibility hash (it is in the name) and is only read here.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => tracing::warn!(path = %entry.display(), "ignoring unreadable compile cache entry: {e:#}"),
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = store(&entry, &component) {
            tracing::warn!(
                dir = %dir.display(),
                "compile cache is not writable ({e}); running without it. \
                 Set WEIR_CACHE_DIR to a writable directory to start faster next time"
            );
        }
        Ok((component, false))
    }
}

fn key(engine: &Engine, wasm: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    let wasm_hash = Sha256::digest(wasm);
    format!("{}-{:016x}", hex::encode(wasm_hash), engine_hash.finish())
}

/// Writes atomically (temp file + rename) so a concurrent start never reads half a file.
fn store(entry: &Path, component: &Component) -> std::io::Result<()> {
    let dir = entry.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, entry)
}
