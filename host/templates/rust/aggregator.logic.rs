//! The plugin's logic, plain Rust: unit-tested natively with `cargo test`.

use serde_json::Value;
use std::collections::BTreeMap;

/// Counts records per value of `device_type`.
#[derive(Default, Debug, PartialEq)]
pub struct Counts {
    pub total: u64,
    pub by_value: BTreeMap<String, u64>,
}

impl Counts {
    pub fn update(&mut self, value: &[u8]) {
        self.total += 1;
        let label = serde_json::from_slice::<Value>(value)
            .ok()
            .and_then(|v| v.get("device_type").and_then(|d| d.as_str().map(String::from)))
            .unwrap_or_else(|| "(missing)".into());
        *self.by_value.entry(label).or_default() += 1;
    }

    /// `total` then one `label=count` per line: the snapshot format.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut text = format!("{}\n", self.total);
        for (label, n) in &self.by_value {
            text.push_str(&format!("{label}={n}\n"));
        }
        text.into_bytes()
    }

    pub fn from_snapshot(bytes: &[u8]) -> Result<Counts, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "snapshot is not text")?;
        let mut lines = text.lines();
        let total = lines.next().and_then(|l| l.parse().ok()).ok_or("snapshot has no total")?;
        let mut by_value = BTreeMap::new();
        for line in lines {
            let (label, n) = line.rsplit_once('=').ok_or("bad snapshot line")?;
            by_value.insert(label.to_string(), n.parse().map_err(|_| "bad count")?);
        }
        Ok(Counts { total, by_value })
    }

    pub fn merge(&mut self, other: Counts) {
        self.total += other.total;
        for (label, n) in other.by_value {
            *self.by_value.entry(label).or_default() += n;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_snapshots_and_merges() {
        let mut c = super::Counts::default();
        c.update(br#"{"device_type":"iOS"}"#);
        c.update(b"nope");
        assert_eq!(c.total, 2);
        let copy = super::Counts::from_snapshot(&c.snapshot()).unwrap();
        assert_eq!(copy, c);
        c.merge(copy);
        assert_eq!(c.by_value["iOS"], 2);
    }
}
