//! One table in memory: key bytes to value bytes, with the bytes it holds bounded.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// A table's memory bound unless its config sets one.
pub const DEFAULT_MAX_MEMORY_MIB: u64 = 256;

/// What an entry costs beyond its key and value: the map's slots (at its load factor) and
/// two allocations' headers and rounding. Measured (`weir bench`): a million keys of 200-byte
/// values grow the process by ~130 bytes an entry beyond keys and values.
const ENTRY_OVERHEAD: usize = 128;

pub struct Table {
    name: String,
    max_bytes: usize,
    entries: RwLock<Entries>,
    lookups: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Entries {
    map: HashMap<Box<[u8]>, Box<[u8]>>,
    bytes: usize,
}

/// An update refused because the table would pass its memory bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableFull {
    pub table: String,
    pub max_bytes: usize,
}

impl fmt::Display for TableFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "table `{}` would pass its memory bound of {} MiB (`max_memory_mib`)",
            self.table,
            self.max_bytes >> 20
        )
    }
}

impl std::error::Error for TableFull {}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Table({}, {} keys)", self.name, self.len())
    }
}

fn cost(key: &[u8], value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

impl Table {
    pub fn new(name: &str, max_memory_mib: u64) -> Table {
        Table {
            name: name.to_string(),
            max_bytes: usize::try_from(max_memory_mib << 20).unwrap_or(usize::MAX),
            entries: RwLock::default(),
            lookups: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value under `key`, copied out (the lock is not held while a plugin reads it).
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let found = self.entries.read().unwrap().map.get(key).map(|v| v.to_vec());
        if found.is_none() {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Sets `key` to `value`, or deletes it when `value` is `None` (a tombstone). Refused,
    /// and the table left as it was, if the table would pass its bound.
    pub fn put(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), TableFull> {
        let mut entries = self.entries.write().unwrap();
        let old = entries.map.get(key).map_or(0, |v| cost(key, v));
        let new = value.map_or(0, |v| cost(key, v));
        let bytes = entries.bytes - old + new;
        if new > old && bytes > self.max_bytes {
            return Err(TableFull { table: self.name.clone(), max_bytes: self.max_bytes });
        }
        match value {
            Some(value) => {
                entries.map.insert(key.into(), value.into());
            }
            None => {
                entries.map.remove(key);
            }
        }
        entries.bytes = bytes;
        Ok(())
    }

    /// Keys it holds.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes it holds, as counted against its bound (keys, values, a fixed cost per entry).
    pub fn bytes(&self) -> usize {
        self.entries.read().unwrap().bytes
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Lookups, and those that found no key, since the table was made.
    pub fn lookups(&self) -> (u64, u64) {
        (self.lookups.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_value_is_set_replaced_and_deleted() {
        let table = Table::new("t", 1);
        assert_eq!(table.get(b"k"), None);
        table.put(b"k", Some(b"one")).unwrap();
        table.put(b"k", Some(b"two")).unwrap();
        assert_eq!(table.get(b"k").as_deref(), Some(&b"two"[..]));
        assert_eq!((table.len(), table.bytes()), (1, 1 + 3 + ENTRY_OVERHEAD));
        table.put(b"k", None).unwrap();
        table.put(b"never", None).unwrap();
        assert_eq!((table.get(b"k"), table.len(), table.bytes()), (None, 0, 0));
        assert_eq!(table.lookups(), (3, 2));
    }

    #[test]
    fn past_its_bound_a_table_refuses_growth_but_takes_deletes_and_shrinks() {
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
        assert_eq!(table.get(&taken.to_be_bytes()), None, "the refused key is not there");
        table.put(&0u32.to_be_bytes(), Some(b"small")).unwrap();
        table.put(&1u32.to_be_bytes(), None).unwrap();
        table.put(&taken.to_be_bytes(), Some(&value)).unwrap();
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
                prop_assert_eq!(table.get(&[key]), model.get(&vec![key]).cloned());
            }
        }
    }
}
