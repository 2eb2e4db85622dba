//! One table: key bytes to value bytes, in memory up to its bound and past it on disk
//! (up to a bound of its own), with the bytes it holds counted.

use super::disk::Disk;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// A table's memory bound unless its config sets one.
pub const DEFAULT_MAX_MEMORY_MIB: u64 = 256;
/// A table's disk bound unless its config sets one.
pub const DEFAULT_MAX_DISK_MIB: u64 = 4096;

/// What an entry costs beyond its key and value: the map's slots (at its load factor) and
/// two allocations' headers and rounding. Measured (`weir bench`): a million keys of 200-byte
/// values grow the process by ~130 bytes an entry beyond keys and values. Counted the same
/// on disk, where a B-tree's pages cost about as much.
const ENTRY_OVERHEAD: usize = 128;

/// Where a table may grow: memory up to `memory_mib`; past it, when `disk_mib` is not 0, a
/// store on disk up to `disk_mib`, under `dir` (default: the system's temporary directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    pub memory_mib: u64,
    pub disk_mib: u64,
    pub dir: Option<PathBuf>,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds { memory_mib: DEFAULT_MAX_MEMORY_MIB, disk_mib: DEFAULT_MAX_DISK_MIB, dir: None }
    }
}

fn bytes(mib: u64) -> usize {
    usize::try_from(mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX)
}

pub struct Table {
    name: String,
    bounds: Bounds,
    place: RwLock<Place>,
    lookups: AtomicU64,
    misses: AtomicU64,
}

enum Place {
    Memory(Entries),
    Disk(OnDisk),
    /// Its disk failed while it moved there: part of it is lost, so no lookup may answer
    /// "no such key" for what may be there (a restart rebuilds it from its topic).
    Broken(String),
}

#[derive(Default)]
struct Entries {
    map: HashMap<Box<[u8]>, Box<[u8]>>,
    bytes: usize,
}

struct OnDisk {
    disk: Disk,
    keys: usize,
    bytes: usize,
}

/// An update refused, the table left as it was: it would pass a bound, or its disk failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub table: String,
    pub reason: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table `{}` {}", self.table, self.reason)
    }
}

impl std::error::Error for Refused {}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Table({}, {} keys)", self.name, self.len())
    }
}

fn cost(key: &[u8], value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

impl Table {
    /// A table held in memory only: past `max_memory_mib` updates are refused.
    pub fn new(name: &str, max_memory_mib: u64) -> Table {
        Table::bounded(name, Bounds { memory_mib: max_memory_mib, disk_mib: 0, dir: None })
    }

    pub fn bounded(name: &str, bounds: Bounds) -> Table {
        Table {
            name: name.to_string(),
            bounds,
            place: RwLock::new(Place::Memory(Entries::default())),
            lookups: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value under `key`, copied out (the lock is not held while a plugin reads it), or
    /// why the disk could not be read.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let found = match &*self.place.read().unwrap() {
            Place::Memory(entries) => Ok(entries.map.get(key).map(|v| v.to_vec())),
            Place::Disk(on_disk) => on_disk.disk.get(key),
            Place::Broken(reason) => Err(reason.clone()),
        };
        if matches!(found, Ok(None)) {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found.map_err(|e| format!("table `{}`: {e}", self.name))
    }

    /// Sets `key` to `value`, or deletes it when `value` is `None` (a tombstone). Past the
    /// memory bound the table moves to disk (when it may); refused, and the table left as it
    /// was, if it would pass its last bound or its disk fails.
    pub fn put(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), Refused> {
        let refused = |reason: String| Refused { table: self.name.clone(), reason };
        let mut place = self.place.write().unwrap();
        if let Place::Memory(entries) = &mut *place {
            let old = entries.map.get(key).map_or(0, |v| cost(key, v));
            let new = value.map_or(0, |v| cost(key, v));
            let total = entries.bytes - old + new;
            if new <= old || total <= bytes(self.bounds.memory_mib) {
                match value {
                    Some(value) => entries.map.insert(key.into(), value.into()),
                    None => entries.map.remove(key),
                };
                entries.bytes = total;
                return Ok(());
            }
            let memory =
                format!("memory bound of {} MiB (`max_memory_mib`)", self.bounds.memory_mib);
            if self.bounds.disk_mib == 0 {
                return Err(refused(format!("would pass its {memory}")));
            }
            let mut disk = Disk::create(self.bounds.dir.as_deref(), bytes(self.bounds.memory_mib))
                .map_err(|e| {
                    refused(format!("passed its {memory} and cannot move to disk: {e}"))
                })?;
            // Moved entry by entry, each freed as it goes: the map and the store's cache are
            // not both whole in memory at once.
            let (keys, counted) = (entries.map.len(), entries.bytes);
            let moved = std::mem::take(&mut entries.map)
                .into_iter()
                .try_for_each(|(key, value)| disk.put(&key, Some(&value), cost(&key, &value)));
            if let Err(e) = moved {
                let reason = format!("lost entries moving past its {memory} to disk: {e}");
                tracing::error!(table = self.name, "{reason}; its lookups fail from now on");
                *place = Place::Broken(reason.clone());
                return Err(refused(reason));
            }
            tracing::warn!(
                table = self.name,
                keys,
                "passed its {memory}: the table is on disk from now on, in an unnamed file in {}",
                disk.parent().display()
            );
            *place = Place::Disk(OnDisk { disk, keys, bytes: counted });
        }
        if let Place::Broken(reason) = &*place {
            return Err(refused(reason.clone()));
        }
        let Place::Disk(on_disk) = &mut *place else { unreachable!("on disk by now") };
        on_disk.put(key, value, bytes(self.bounds.disk_mib)).map_err(refused)
    }

    /// Keys it holds.
    pub fn len(&self) -> usize {
        match &*self.place.read().unwrap() {
            Place::Memory(entries) => entries.map.len(),
            Place::Disk(on_disk) => on_disk.keys,
            Place::Broken(_) => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes it holds, as counted against its bounds (keys, values, a fixed cost per entry).
    pub fn bytes(&self) -> usize {
        match &*self.place.read().unwrap() {
            Place::Memory(entries) => entries.bytes,
            Place::Disk(on_disk) => on_disk.bytes,
            Place::Broken(_) => 0,
        }
    }

    pub fn bounds(&self) -> &Bounds {
        &self.bounds
    }

    /// The size of its file on disk, once past its memory bound.
    pub fn on_disk(&self) -> Option<u64> {
        match &*self.place.read().unwrap() {
            Place::Disk(on_disk) => Some(on_disk.disk.file_bytes()),
            Place::Memory(_) | Place::Broken(_) => None,
        }
    }

    /// Lookups, and those that found no key, since the table was made.
    pub fn lookups(&self) -> (u64, u64) {
        (self.lookups.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

impl OnDisk {
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, max: usize) -> Result<(), String> {
        let old = self.disk.get(key)?.map_or(0, |v| cost(key, &v));
        let new = value.map_or(0, |v| cost(key, v));
        if old == 0 && new == 0 {
            return Ok(());
        }
        let total = self.bytes - old + new;
        if new > old && total > max {
            return Err(format!("would pass its disk bound of {} MiB (`max_disk_mib`)", max >> 20));
        }
        self.disk.put(key, value, new.max(key.len() + ENTRY_OVERHEAD))?;
        self.keys = self.keys + usize::from(new > 0) - usize::from(old > 0);
        self.bytes = total;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spilling(memory_mib: u64, disk_mib: u64, dir: &std::path::Path) -> Table {
        Table::bounded("t", Bounds { memory_mib, disk_mib, dir: Some(dir.to_path_buf()) })
    }

    #[test]
    fn a_value_is_set_replaced_and_deleted() {
        let table = Table::new("t", 1);
        assert_eq!(table.get(b"k"), Ok(None));
        table.put(b"k", Some(b"one")).unwrap();
        table.put(b"k", Some(b"two")).unwrap();
        assert_eq!(table.get(b"k").unwrap().as_deref(), Some(&b"two"[..]));
        assert_eq!((table.len(), table.bytes()), (1, 1 + 3 + ENTRY_OVERHEAD));
        table.put(b"k", None).unwrap();
        table.put(b"never", None).unwrap();
        assert_eq!((table.get(b"k"), table.len(), table.bytes()), (Ok(None), 0, 0));
        assert_eq!(table.lookups(), (3, 2));
    }

    #[test]
    fn past_its_bound_a_table_in_memory_only_refuses_growth_but_takes_deletes_and_shrinks() {
        let table = Table::new("t", 1);
        let value = vec![7u8; 1000];
        let mut taken = 0u32;
        while table.put(&taken.to_be_bytes(), Some(&value)).is_ok() {
            taken += 1;
        }
        let refused = table.put(&taken.to_be_bytes(), Some(&value)).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "table `t` would pass its memory bound of 1 MiB (`max_memory_mib`)"
        );
        let one = cost(&0u32.to_be_bytes(), &value);
        assert!(table.bytes() <= 1 << 20 && table.bytes() > (1 << 20) - one);
        assert_eq!(table.len(), taken as usize);
        assert_eq!(table.get(&taken.to_be_bytes()), Ok(None), "the refused key is not there");
        assert_eq!(table.on_disk(), None);
        table.put(&0u32.to_be_bytes(), Some(b"small")).unwrap();
        table.put(&1u32.to_be_bytes(), None).unwrap();
        table.put(&taken.to_be_bytes(), Some(&value)).unwrap();
    }

    #[test]
    fn past_its_memory_bound_a_table_moves_to_disk_whole_and_is_bounded_there() {
        let parent = tempfile::tempdir().unwrap();
        let table = spilling(1, 3, parent.path());
        let value = |n: u32| vec![(n % 251) as u8; 1000];
        let mut taken = 0u32;
        while table.put(&taken.to_be_bytes(), Some(&value(taken))).is_ok() {
            taken += 1;
        }
        let refused = table.put(&taken.to_be_bytes(), Some(&value(taken))).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "table `t` would pass its disk bound of 3 MiB (`max_disk_mib`)"
        );
        let file_bytes = table.on_disk().expect("past 1 MiB the table is on disk");
        assert!(file_bytes >= 3 << 20, "its file holds {file_bytes} bytes");
        let named = std::fs::read_dir(parent.path()).unwrap().count();
        assert_eq!(named, 0, "its file has no name: nothing is left if the process is killed");
        let one = cost(&0u32.to_be_bytes(), &value(0));
        assert!(table.bytes() <= 3 << 20 && table.bytes() > (3 << 20) - one);
        assert_eq!(table.len(), taken as usize);
        for n in 0..taken {
            assert_eq!(table.get(&n.to_be_bytes()).unwrap(), Some(value(n)), "key {n}");
        }
        assert_eq!(table.get(&taken.to_be_bytes()), Ok(None), "the refused key is not there");
        table.put(&0u32.to_be_bytes(), Some(b"small")).unwrap();
        table.put(&1u32.to_be_bytes(), None).unwrap();
        table.put(&1u32.to_be_bytes(), None).unwrap();
        table.put(&taken.to_be_bytes(), Some(&value(taken))).unwrap();
        assert_eq!(table.len(), taken as usize);
        assert_eq!(table.get(&0u32.to_be_bytes()).unwrap().as_deref(), Some(&b"small"[..]));
        assert_eq!(table.get(&1u32.to_be_bytes()), Ok(None));
    }

    #[test]
    fn a_table_that_cannot_move_to_disk_refuses_the_update_and_keeps_what_it_had() {
        let parent = tempfile::tempdir().unwrap();
        let table = spilling(1, 3, &parent.path().join("missing"));
        let value = vec![1u8; 1000];
        let mut taken = 0u32;
        while table.put(&taken.to_be_bytes(), Some(&value)).is_ok() {
            taken += 1;
        }
        let refused = table.put(&taken.to_be_bytes(), Some(&value)).unwrap_err().to_string();
        assert!(
            refused.contains("passed its memory bound of 1 MiB")
                && refused.contains("cannot move to disk"),
            "{refused}"
        );
        assert_eq!((table.len(), table.on_disk()), (taken as usize, None));
        assert_eq!(table.get(&0u32.to_be_bytes()).unwrap(), Some(value));
    }

    /// A million keys of 200-byte values past a 16 MiB memory bound: the table on disk,
    /// every key in it, and what it allocated at its peak within the bound (as the counting
    /// allocator sees it; the process's resident set: `tables::` in the integration tests
    /// and `weir bench`). In memory it would take ~330 MiB.
    #[test]
    fn a_million_keys_on_disk_stay_within_the_memory_bound() {
        let parent = tempfile::tempdir().unwrap();
        let value = |i: u32| {
            format!("{{\"plan\":\"pro\",\"since\":{i:>10},\"pad\":\"{}\"}}", "x".repeat(158))
        };
        assert_eq!(value(0).len(), 200);
        let keys = 1_000_000u32;
        let (table, peak) = crate::counting_alloc::peak_of(|| {
            let table = spilling(16, 1024, parent.path());
            for i in 0..keys {
                table.put(format!("user-{i}").as_bytes(), Some(value(i).as_bytes())).unwrap();
            }
            table
        });
        assert!(peak <= 16 << 20, "the table allocated {} MiB at its peak", peak >> 20);
        assert!(table.on_disk().is_some());
        assert_eq!(table.len(), keys as usize);
        for i in (0..keys).step_by(9973).chain([keys - 1]) {
            let found = table.get(format!("user-{i}").as_bytes()).unwrap();
            assert_eq!(found.as_deref(), Some(value(i).as_bytes()), "user-{i}");
        }
    }

    proptest! {
        /// Whatever the updates, the table holds what a plain map holds and its byte count
        /// is the sum over what it holds, never past the bound.
        #[test]
        fn a_table_is_a_map_within_its_bound(
            updates in proptest::collection::vec(
                (0u8..8, proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40_000))),
                0..80,
            )
        ) {
            let table = Table::new("t", 1);
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for (key, value) in &updates {
                let key = vec![*key];
                if table.put(&key, value.as_deref()).is_ok() {
                    match value {
                        Some(v) => model.insert(key, v.clone()),
                        None => model.remove(&key),
                    };
                }
                let counted: usize = model.iter().map(|(k, v)| cost(k, v)).sum();
                prop_assert_eq!(table.bytes(), counted);
                prop_assert!(counted <= 1 << 20);
            }
            for key in 0u8..8 {
                prop_assert_eq!(table.get(&[key]).unwrap(), model.get(&vec![key]).cloned());
            }
        }

        /// The same past the memory bound: in memory, then on disk, the table is the map,
        /// counted, within its disk bound; only growth is refused.
        #[test]
        fn a_table_on_disk_is_a_map_within_its_bound(
            updates in proptest::collection::vec(
                (0u8..24, proptest::option::of((any::<u8>(), 0usize..400_000))),
                0..60,
            )
        ) {
            let parent = tempfile::tempdir().unwrap();
            let table = spilling(1, 2, parent.path());
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for (key, value) in &updates {
                let key = vec![*key];
                let value = value.map(|(byte, len)| vec![byte; len]);
                let old = model.get(&key).map_or(0, |v| cost(&key, v));
                let new = value.as_ref().map_or(0, |v| cost(&key, v));
                match table.put(&key, value.as_deref()) {
                    Ok(()) => match value {
                        Some(v) => model.insert(key, v),
                        None => model.remove(&key),
                    },
                    Err(refused) => {
                        prop_assert!(new > old, "a delete or shrink refused: {}", refused);
                        None
                    }
                };
                let counted: usize = model.iter().map(|(k, v)| cost(k, v)).sum();
                prop_assert_eq!(table.bytes(), counted);
                prop_assert_eq!(table.len(), model.len());
                prop_assert!(counted <= 2 << 20);
            }
            for key in 0u8..24 {
                prop_assert_eq!(table.get(&[key]).unwrap(), model.get(&vec![key]).cloned());
            }
        }
    }
}
