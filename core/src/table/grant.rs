//! The tables one stage may read: those its config names, and no others.

use super::Table;
use crate::text::{cut, escape_controls, prefix};
use std::sync::Arc;

/// Cheap to clone: every instance of a stage holds one.
#[derive(Clone, Default)]
pub struct Grant(Arc<[Arc<Table>]>);

impl Grant {
    pub fn new(tables: Vec<Arc<Table>>) -> Grant {
        Grant(tables.into())
    }

    /// A stage that names no table.
    pub fn none() -> Grant {
        Grant::default()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|t| t.name())
    }

    /// A plugin's lookup: the value, none, or why it may not read `table` (the name it gave
    /// is escaped and cut, so it cannot forge a log line or make the reason long).
    pub fn get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
        match self.0.iter().find(|t| t.name() == table) {
            Some(found) => found.get(key),
            None => {
                let asked = cut(&escape_controls(prefix(table, 64)), 60);
                let named: Vec<String> = self.names().map(|n| format!("`{n}`")).collect();
                Err(match named.is_empty() {
                    true => format!(
                        "table `{asked}` is not one of this stage's tables: it names none (a stage's `tables = [...]` in weir.toml; `--table NAME=FILE` offline)"
                    ),
                    false => format!(
                        "table `{asked}` is not one of this stage's tables (its `tables`: {})",
                        named.join(", ")
                    ),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_reads_only_the_tables_it_names() {
        let profiles = Arc::new(Table::new("user-profiles", 1));
        profiles.put(b"u1", Some(b"{}")).unwrap();
        let other = Arc::new(Table::new("rates", 1));
        other.put(b"u1", Some(b"secret")).unwrap();
        let grant = Grant::new(vec![profiles]);
        assert_eq!(grant.get("user-profiles", b"u1"), Ok(Some(b"{}".to_vec())));
        assert_eq!(grant.get("user-profiles", b"u2"), Ok(None));
        assert_eq!(
            grant.get("rates", b"u1"),
            Err("table `rates` is not one of this stage's tables (its `tables`: `user-profiles`)"
                .into())
        );
        let none = Grant::none().get("rates", b"u1").unwrap_err();
        assert!(none.contains("it names none"), "{none}");
        assert_eq!(other.lookups(), (0, 0), "a refused lookup never reaches the table");
    }

    #[test]
    fn a_hostile_table_name_cannot_forge_lines_or_grow_the_reason() {
        let hostile = format!("x\nINFO forged\x1b[31m{}", "y".repeat(1 << 20));
        let reason = Grant::none().get(&hostile, b"k").unwrap_err();
        assert!(!reason.contains('\n') && !reason.contains('\x1b'), "{reason}");
        assert!(reason.len() < 300, "{} bytes", reason.len());
    }
}
