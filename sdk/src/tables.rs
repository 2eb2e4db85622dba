//! Enrichment tables (`weir:plugin/tables`, contract 0.3): look a key up in a table the
//! host keeps up to date — from a compacted topic, or a file offline. A stage reads the
//! tables its section of `weir.toml` names (`tables = ["user-profiles"]`); asking for
//! another is an error.
//!
//! Natively (unit tests, benchmarks) lookups read the tables a test [`serve`]s on its
//! thread, so plugin logic that enriches is tested without a host.

use crate::Error;

/// The value under `key` in `table` (the bytes of the record that last set it, e.g. a
/// JSON document), or `None` when the table has no such key.
pub fn get(table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    #[cfg(target_arch = "wasm32")]
    return crate::validator::weir::plugin::tables::get(table, key).map_err(Error::new);
    #[cfg(not(target_arch = "wasm32"))]
    return native::get(table, key);
}

#[cfg(not(target_arch = "wasm32"))]
pub use native::serve;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use crate::Error;
    use std::cell::RefCell;
    use std::collections::HashMap;

    type Entries = HashMap<Vec<u8>, Vec<u8>>;

    thread_local! {
        static SERVED: RefCell<HashMap<String, Entries>> = RefCell::default();
    }

    /// Serves `table` with `entries` to lookups on this thread (replacing what it held).
    pub fn serve<K: AsRef<[u8]>, V: AsRef<[u8]>>(
        table: &str,
        entries: impl IntoIterator<Item = (K, V)>,
    ) {
        let entries =
            entries.into_iter().map(|(k, v)| (k.as_ref().to_vec(), v.as_ref().to_vec())).collect();
        SERVED.with(|served| served.borrow_mut().insert(table.to_string(), entries));
    }

    pub fn get(table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        SERVED.with(|served| match served.borrow().get(table) {
            Some(entries) => Ok(entries.get(key).cloned()),
            None => Err(Error::new(format!(
                "table `{table}` is not one of this stage's tables (none served under that name)"
            ))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_served_table_answers_lookups_and_an_unserved_one_is_an_error() {
        serve("profiles", [("u1", r#"{"plan":"pro"}"#)]);
        assert_eq!(get("profiles", b"u1").unwrap().as_deref(), Some(&br#"{"plan":"pro"}"#[..]));
        assert_eq!(get("profiles", b"u2").unwrap(), None);
        assert!(get("rates", b"u1").unwrap_err().to_string().contains("`rates`"));
    }
}
