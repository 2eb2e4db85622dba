//! A table served from a JSON-lines file (`--table NAME=FILE.jsonl`, offline), one entry
//! per line: `{"key": "u1", "value": {...}}`. The key is a string (its UTF-8 bytes are the
//! key, as a record key); the value any JSON (kept as compact JSON text), `null` deleting
//! the key as a tombstone does on a compacted topic. Later lines win, as on a topic.

use super::{Bounds, Table};
use std::io::BufRead;
use std::path::Path;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    key: String,
    value: serde_json::Value,
}

/// Reads `path` into a new table named `name`. Errors name the file and line.
pub fn load_jsonl(name: &str, path: &Path, bounds: Bounds) -> anyhow::Result<Table> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("table `{name}`: cannot read {}: {e}", path.display()))?;
    let table = Table::bounded(name, bounds);
    let at = |n: usize| format!("table `{name}`: {} line {}", path.display(), n + 1);
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| anyhow::anyhow!("{}: {e}", at(n)))?;
        if line.trim().is_empty() {
            continue;
        }
        let Line { key, value } = serde_json::from_str(&line).map_err(|e| {
            anyhow::anyhow!("{}: {e} (each line is {{\"key\": \"…\", \"value\": …}})", at(n))
        })?;
        let value = (!value.is_null()).then(|| value.to_string());
        table
            .put(key.as_bytes(), value.as_deref().map(str::as_bytes))
            .map_err(|e| anyhow::anyhow!("{}: {e}", at(n)))?;
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, max_mib: u64) -> anyhow::Result<Table> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, text).unwrap();
        load_jsonl("profiles", &path, Bounds { memory_mib: max_mib, disk_mib: 0, dir: None })
    }

    #[test]
    fn later_lines_win_and_null_deletes() {
        let table = load(
            "{\"key\":\"u1\",\"value\":{\"plan\": \"free\"}}\n\n{\"key\":\"u2\",\"value\":\"x\"}\n{\"key\":\"u1\",\"value\":{\"plan\":\"pro\"}}\n{\"key\":\"u2\",\"value\":null}\n",
            1,
        )
        .unwrap();
        assert_eq!(table.get(b"u1").unwrap().as_deref(), Some(&br#"{"plan":"pro"}"#[..]));
        assert_eq!(table.get(b"u2"), Ok(None));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_bad_line_or_a_table_past_its_bound_is_an_error_naming_the_line() {
        let bad = load("{\"key\":\"u1\",\"value\":1}\n{\"key\":1,\"value\":2}\n", 1).unwrap_err();
        assert!(bad.to_string().contains("t.jsonl line 2"), "{bad}");
        let big = format!("{{\"key\":\"k\",\"value\":\"{}\"}}\n", "x".repeat(2 << 20));
        let full = load(&big, 1).unwrap_err().to_string();
        assert!(full.contains("line 1") && full.contains("memory bound of 1 MiB"), "{full}");
        let missing =
            load_jsonl("p", Path::new("/nonexistent/t.jsonl"), Bounds::default()).unwrap_err();
        assert!(missing.to_string().contains("cannot read /nonexistent/t.jsonl"), "{missing}");
    }
}
