//! On-disk cache of compiled components.
//!
//! Cranelift needs seconds to compile a jsonschema-sized component; loading the
//! compiled artifact takes milliseconds. Entries are keyed by the wasm's SHA-256 and
//! the engine's compatibility hash, so a new wasmtime or a new engine setting never
//! loads a stale artifact.
//!
//! Loading an artifact runs its native code, so the cache is guarded. Entries live in a
//! subdirectory of the cache directory that is weir's own, `weir-<uid>`, created 0700: the
//! cache directory itself may be shared (a Kubernetes emptyDir is root-owned and writable
//! by the pod's group). The subdirectory is opened without following symbolic links and
//! checked through that handle (ours, no one else may write it); entries are opened
//! relative to the handle, so swapping the path afterwards changes nothing. Entries are
//! written through exclusive temporary files, and each names the wasm it was compiled from
//! and the hash of its artifact, both checked before it is loaded.

use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
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
    /// Calls `compiling` first when the plugin is compiled (not found in the cache): a
    /// first start takes seconds, and says so.
    pub fn load(
        &self,
        engine: &Engine,
        wasm: &[u8],
        compiling: &dyn Fn(),
    ) -> wasmtime::Result<(Component, bool)> {
        let Some((dir, shown)) =
            self.dir.as_deref().and_then(|dir| open_own(dir).map(|fd| (fd, dir)))
        else {
            compiling();
            return Ok((Component::new(engine, wasm)?, false));
        };
        let wasm_hash = Sha256::digest(wasm);
        let entry = format!("{}.cwasm", key(engine, &wasm_hash));
        if let Ok(bytes) = read_entry(&dir, &entry) {
            match verified(&bytes, &wasm_hash) {
                // SAFETY: the artifact was written by `Component::serialize` for an engine
                // with the same compatibility hash (it is in the name), from this very wasm
                // (checked above), in a directory only this user can write.
                Ok(artifact) => match unsafe { Component::deserialize(engine, artifact) } {
                    Ok(component) => return Ok((component, true)),
                    Err(e) => {
                        tracing::warn!(entry, "ignoring unreadable compile cache entry: {e:#}")
                    }
                },
                Err(why) => {
                    tracing::warn!(entry, "ignoring compile cache entry: {why}; compiling again")
                }
            }
        }
        compiling();
        let component = Component::new(engine, wasm)?;
        if let Err(e) = store(&dir, &entry, &wasm_hash, &component) {
            tracing::warn!(
                dir = %shown.display(),
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

/// This user's subdirectory of `dir`, where the entries live.
fn own_subdirectory(dir: &Path) -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    dir.join(format!("weir-{}", unsafe { libc::getuid() }))
}

/// A handle on this user's subdirectory of `dir`, created 0700 if missing; `None` (with the
/// reason logged) when it is a link, someone else's, or others may write it, since whoever
/// writes it runs code in weir.
fn open_own(dir: &Path) -> Option<OwnedFd> {
    let own = own_subdirectory(dir);
    let refuse = |why: String| {
        tracing::warn!(
            dir = %own.display(),
            "not using the compile cache: {why}. Loading a cached plugin runs its native code; \
             use a directory only you can write (chmod 700), or set WEIR_CACHE_DIR"
        );
        None
    };
    if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&own) {
        tracing::warn!(dir = %own.display(), "compile cache unavailable ({e}); running without it");
        return None;
    }
    let path = CString::new(own.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a valid C string; the descriptor returned is owned below.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return refuse(format!(
            "it cannot be opened as a directory without following links ({})",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let meta = match File::from(fd.try_clone().ok()?).metadata() {
        Ok(meta) => meta,
        Err(e) => return refuse(e.to_string()),
    };
    // SAFETY: getuid has no preconditions and cannot fail.
    if meta.uid() != unsafe { libc::getuid() } {
        return refuse(format!("it belongs to user {}", meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return refuse(format!("others may write it (mode {:o})", meta.mode() & 0o777));
    }
    Some(fd)
}

/// `flags` on `name` inside the directory `dir`, never following a link.
fn open_in(dir: &OwnedFd, name: &str, flags: libc::c_int) -> std::io::Result<File> {
    let name = CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: `dir` is an open directory and `name` a valid C string.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn read_entry(dir: &OwnedFd, name: &str) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    open_in(dir, name, libc::O_RDONLY)?.read_to_end(&mut bytes)?;
    Ok(bytes)
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
fn store(
    dir: &OwnedFd,
    entry: &str,
    wasm_hash: &[u8],
    component: &Component,
) -> std::io::Result<()> {
    let artifact = component.serialize().map_err(std::io::Error::other)?;
    let temporary = format!(
        ".{entry}.{}",
        uuid::Builder::from_random_bytes(rand::random()).into_uuid().simple()
    );
    let written = (|| {
        let mut file = open_in(dir, &temporary, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)?;
        file.write_all(MAGIC)?;
        file.write_all(wasm_hash)?;
        file.write_all(&Sha256::digest(&artifact))?;
        file.write_all(&artifact)?;
        let (from, to) = (
            CString::new(temporary.as_str()).map_err(std::io::Error::other)?,
            CString::new(entry).map_err(std::io::Error::other)?,
        );
        // SAFETY: both names are valid C strings relative to the open directory `dir`.
        match unsafe {
            libc::renameat(dir.as_raw_fd(), from.as_ptr(), dir.as_raw_fd(), to.as_ptr())
        } {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        }
    })();
    if written.is_err() {
        let name = CString::new(temporary).map_err(std::io::Error::other)?;
        // SAFETY: a valid C string relative to the open directory `dir`.
        unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) };
    }
    written
}
