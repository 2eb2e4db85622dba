//! A table past its memory bound lives on local disk: a redb file (pure Rust, one file, a
//! copy-on-write B-tree with a cache of bounded size; no C++ to build as for RocksDB, kept
//! up unlike sled). Nothing in it needs to outlive the process — a start rebuilds every
//! table from its topic — so the file has no name (unlinked as it is made): the system
//! frees it when the process ends, even killed, and most commits skip the fsync.
//!
//! Updates gather in a small buffer (lookups read it first) and are committed together:
//! a transaction per record would cost more than the record.

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

const ENTRIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("entries");

/// Every this many commits one is durable: redb keeps what a non-durable commit freed in
/// memory until a durable one (its pages cannot be reused before).
const DURABLE_EVERY: u32 = 16;

pub(super) struct Disk {
    db: Database,
    /// The store's file, for its size (redb's backend holds its own handle).
    file: File,
    /// Where the file is, though no name shows it.
    parent: PathBuf,
    /// Updates not committed yet: a value, or `None` for a delete.
    pending: HashMap<Box<[u8]>, Option<Box<[u8]>>>,
    pending_bytes: usize,
    flush_bytes: usize,
    commits: u32,
}

/// A disk failure, said as the reason an update or a lookup failed.
fn failed(what: &str, e: impl std::fmt::Display) -> String {
    format!("its disk store {what}: {e}")
}

impl Disk {
    /// A new, empty store in an unnamed file under `parent` (default: the system's
    /// temporary directory), within `memory_bytes` of memory: an eighth for redb's cache, a
    /// sixteenth (at most 4 MiB) for the buffer of updates. The rest is for the move from
    /// memory: the map's entries are freed as they move, but the cache's pages cannot use
    /// the holes they leave (measured: a table moving at a 32 MiB bound grows the process by
    /// 29 MiB at most, the map's peak before it moves).
    pub fn create(parent: Option<&Path>, memory_bytes: usize) -> Result<Disk, String> {
        let parent = parent.map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
        let cannot = |e: &dyn std::fmt::Display| {
            failed(&format!("cannot be made in {}", parent.display()), e)
        };
        let file = tempfile::tempfile_in(&parent).map_err(|e| cannot(&e))?;
        let backend = redb::backends::FileBackend::new(file.try_clone().map_err(|e| cannot(&e))?);
        let db = redb::Builder::new()
            .set_cache_size(memory_bytes / 8)
            .create_with_backend(backend)
            .map_err(|e| cannot(&e))?;
        let disk = Disk {
            db,
            file,
            parent,
            pending: HashMap::new(),
            pending_bytes: 0,
            flush_bytes: (memory_bytes / 16).clamp(4096, 4 << 20),
            commits: 0,
        };
        disk.commit_with(|_| Ok(()), Durability::Immediate)
            .map_err(|e| failed("cannot be written", e))?;
        Ok(disk)
    }

    /// The directory its file is in.
    pub fn parent(&self) -> &Path {
        &self.parent
    }

    /// The size of its file.
    pub fn file_bytes(&self) -> u64 {
        self.file.metadata().map_or(0, |m| m.len())
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        if let Some(pending) = self.pending.get(key) {
            return Ok(pending.as_ref().map(|v| v.to_vec()));
        }
        self.read(key).map_err(|e| failed("cannot be read", e))
    }

    fn read(&self, key: &[u8]) -> Result<Option<Vec<u8>>, redb::Error> {
        let read = self.db.begin_read()?;
        let entries = read.open_table(ENTRIES)?;
        let found = entries.get(key)?.map(|v| v.value().to_vec());
        Ok(found)
    }

    /// Sets or deletes `key`; `cost` is what it adds to the buffer. A full buffer is
    /// committed first: when that fails, the update is refused and the buffer stays as it was.
    pub fn put(&mut self, key: &[u8], value: Option<&[u8]>, cost: usize) -> Result<(), String> {
        if self.pending_bytes >= self.flush_bytes {
            self.flush().map_err(|e| failed("cannot be written", e))?;
        }
        self.pending.insert(key.into(), value.map(Into::into));
        self.pending_bytes += cost;
        Ok(())
    }

    /// Commits the buffered updates.
    fn flush(&mut self) -> Result<(), redb::Error> {
        self.commits = self.commits.wrapping_add(1);
        let durability = match self.commits % DURABLE_EVERY {
            0 => Durability::Immediate,
            _ => Durability::None,
        };
        let pending = &self.pending;
        self.commit_with(
            |entries| {
                for (key, value) in pending {
                    match value {
                        Some(value) => entries.insert(&**key, &**value).map(drop)?,
                        None => entries.remove(&**key).map(drop)?,
                    }
                }
                Ok(())
            },
            durability,
        )?;
        self.pending.clear();
        self.pending.shrink_to(self.flush_bytes / 256);
        self.pending_bytes = 0;
        Ok(())
    }

    fn commit_with(
        &self,
        write: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<(), redb::StorageError>,
        durability: Durability,
    ) -> Result<(), redb::Error> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(durability)?;
        {
            let mut entries = tx.open_table(ENTRIES)?;
            write(&mut entries)?;
        }
        tx.commit()?;
        Ok(())
    }
}
