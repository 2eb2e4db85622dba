//! A transformer that reads enrichment tables as a hostile plugin would. Per record value:
//! `GET:table:key`: the value found (`found:…`), `none`, or the host's refusal as the
//! reason; `HOARD:table:key`: looks the key up again and again, keeping every copy (until
//! its memory limit stops it); `BIGKEY:n`: looks up a key of n MiB; `STORM`: looks up
//! missing keys forever (until its time limit stops it); anything else: itself.

use weir_plugin::{tables, Emit, Error, Record, Transformer};

#[derive(Default, serde::Deserialize)]
pub struct Config {}

pub struct Hostile;

impl Transformer for Hostile {
    type Config = Config;

    fn new(_: Config) -> Result<Self, Error> {
        Ok(Hostile)
    }

    fn transform(&mut self, record: &Record, out: &mut Emit) -> Result<(), Error> {
        let text = std::str::from_utf8(record.value).unwrap_or("");
        if let Some(rest) = text.strip_prefix("GET:") {
            let (table, key) = rest.split_once(':').unwrap_or((rest, ""));
            match tables::get(table, key.as_bytes())? {
                Some(value) => out.value(&[b"found:", &value[..]].concat()),
                None => out.value(b"none"),
            };
        } else if let Some(rest) = text.strip_prefix("HOARD:") {
            let (table, key) = rest.split_once(':').unwrap_or((rest, ""));
            let mut kept = Vec::new();
            loop {
                kept.push(tables::get(table, key.as_bytes())?);
                if kept.len() % 1_000_000 == 0 {
                    out.value(format!("kept {}", kept.len()).as_bytes());
                }
            }
        } else if let Some(mib) = text.strip_prefix("BIGKEY:") {
            let key = vec![b'k'; mib.parse::<usize>().unwrap_or(1) << 20];
            let found = tables::get("user-profiles", &key)?;
            out.value(if found.is_some() { b"found" } else { b"none" });
        } else if text == "STORM" {
            let mut n = 0u64;
            loop {
                n += 1;
                if tables::get("user-profiles", &n.to_le_bytes())?.is_some() {
                    out.value(b"found");
                }
            }
        } else {
            out.value(record.value);
        }
        Ok(())
    }
}

weir_plugin::export_transformer!(Hostile);
