//! On-disk cache of compiled components.
//!
//! Cranelift needs seconds to compile a jsonschema-sized component; loading the
//! compiled artifact takes milliseconds. Entries are keyed by the wasm's SHA-256 and
//! the engine's compatibility hash, so a new wasmtime or a new engine setting never
//! loads a stale artifact.
//!
//! Loading an artifact runs its native code, so the cache is guarded: the directory is
//! created 0700 and one that someone else owns or can write is not used; entries are
//! written through exclusive temporary files; and each entry names the wasm it was compiled
//! from and the hash of its artifact, both checked before it is loaded.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use wasmtime::component::Component;
use wasmtime::Engine;

/// An entry: this, the wasm's SHA-256, the artifact's SHA-256, then the artifact.
const MAGIC: &[u8; 8] = b"weir-c1\n";
const HEADER_LEN: usize = MAGIC.len() + 64;

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
        let Some(dir) = self.dir.as_deref().filter(|dir| usable(dir)) else {
            return Ok((Component::new(engine, wasm)?, false));
        };
        let wasm_hash = Sha256::digest(wasm);
        let entry = dir.join(format!("{}.cwasm", key(engine, &wasm_hash)));
        if let Ok(bytes) = std::fs::read(&entry) {
            match verified(&bytes, &wasm_hash) {
                // SAFETY: the artifact was written by `Component::serialize` for an engine
                // with the same compatibility hash (it is in the name), from this very wasm
                // (checked above), in a directory only this user can write.
                Ok(artifact) => match unsafe { Component::deserialize(engine, artifact) } {
                    Ok(component) => return Ok((component, true)),
                    Err(e) => tracing::warn!(path = %entry.display(), "ignoring unreadable compile cache entry: {e:#}"),
                },
                Err(why) => tracing::warn!(path = %entry.display(), "ignoring compile cache entry: {why}; compiling again"),
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(e) = store(&entry, &wasm_hash, &component) {
            tracing::warn!(
                dir = %dir.display(),
                "compile cache is not writable ({e}); running without it. \
                 Set WEIR_CACHE_DIR to a writable directory to start faster next time"
            );
        }
        Ok((component, false))
    }
}

fn key(engine: &Engine, wasm_hash: &[u8]) -> String {
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut engine_hash);
    format!("{}-{:016x}", hex::encode(wasm_hash), engine_hash.finish())
}

/// The directory, created 0700 if missing; `false` (with the reason logged) when it is
/// someone else's or others may write it, since whoever writes it runs code in weir.
fn usable(dir: &Path) -> bool {
    if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        tracing::warn!(dir = %dir.display(), "compile cache unavailable ({e}); running without it");
        return false;
    }
    let refused = match std::fs::metadata(dir) {
        Err(e) => Some(e.to_string()),
        // SAFETY: getuid has no preconditions and cannot fail.
        Ok(meta) if meta.uid() != unsafe { libc::getuid() } => Some(format!("it belongs to user {}", meta.uid())),
        Ok(meta) if meta.mode() & 0o022 != 0 => Some(format!("others may write it (mode {:o})", meta.mode() & 0o777)),
        Ok(_) => None,
    };
    if let Some(why) = &refused {
        tracing::warn!(
            dir = %dir.display(),
            "not using the compile cache: {why}. Loading a cached plugin runs its native code; \
             use a directory only you can write (chmod 700), or set WEIR_CACHE_DIR"
        );
    }
    refused.is_none()
}

/// The artifact of an entry made from the wasm with `wasm_hash`, or why not.
fn verified<'a>(bytes: &'a [u8], wasm_hash: &[u8]) -> Result<&'a [u8], &'static str> {
    if bytes.len() < HEADER_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err("not a weir cache entry");
    }
    let (source, artifact_hash) = bytes[MAGIC.len()..HEADER_LEN].split_at(32);
    if source != wasm_hash {
        return Err("it was compiled from another plugin");
    }
    let artifact = &bytes[HEADER_LEN..];
    if Sha256::digest(artifact).as_slice() != artifact_hash {
        return Err("its contents do not match their hash");
    }
    Ok(artifact)
}

/// Writes through an exclusive, randomly named temporary file, then renames: a
/// concurrent start never reads half a file, and nobody can plant the file being written.
fn store(entry: &Path, wasm_hash: &[u8], component: &Component) -> std::io::Result<()> {
    let dir = entry.parent().expect("cache entries live in a directory");
    let artifact = component.serialize().map_err(std::io::Error::other)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(MAGIC)?;
    file.write_all(wasm_hash)?;
    file.write_all(&Sha256::digest(&artifact))?;
    file.write_all(&artifact)?;
    file.persist(entry).map_err(|e| e.error)?;
    Ok(())
}
