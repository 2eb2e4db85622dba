//! Enrichment tables (contract 0.3): keyed tables the host keeps and plugins read by
//! name and key. A table is global: every instance holds all of it, so a lookup finds any
//! key whatever partitions the instance consumes.
//!
//! A table lives in memory up to its bound, then on local disk (`disk`) up to another.
//!
//! Where a table's entries come from is the caller's: a JSON-lines file offline
//! (`file`), a compacted topic in `weir run` (the kafka crate). A stage reads only the
//! tables its config names (`Grant`).

mod disk;
mod file;
mod grant;
mod store;

pub use file::load_jsonl;
pub use grant::Grant;
pub use store::{Bounds, Refused, Table, DEFAULT_MAX_DISK_MIB, DEFAULT_MAX_MEMORY_MIB};

use std::collections::BTreeMap;
use std::sync::Arc;

/// The tables a process serves, by name.
#[derive(Clone, Default)]
pub struct Tables(BTreeMap<String, Arc<Table>>);

impl Tables {
    pub fn insert(&mut self, table: Arc<Table>) {
        self.0.insert(table.name().to_string(), table);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Table>> {
        self.0.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Table>> {
        self.0.values()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
