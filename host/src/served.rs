//! Tables served from files (`--table NAME=FILE.jsonl`, offline: `weir process`,
//! `weir plugin test`); `weir_core::config::WithTables` hands them to the stages naming them.

use std::path::PathBuf;
use std::sync::Arc;
use weir_core::config::Config;
use weir_core::table::Tables;

/// `NAME=FILE`: a table and the JSON-lines file it is served from.
#[derive(Debug, Clone)]
pub struct TableFile {
    pub name: String,
    pub file: PathBuf,
}

impl std::str::FromStr for TableFile {
    type Err = String;

    fn from_str(text: &str) -> Result<TableFile, String> {
        match text.split_once('=') {
            Some((name, file)) if !name.is_empty() && !file.is_empty() => {
                Ok(TableFile { name: name.to_string(), file: file.into() })
            }
            _ => {
                Err(format!("`{text}` is not NAME=FILE.jsonl (e.g. user-profiles=profiles.jsonl)"))
            }
        }
    }
}

/// Reads each file into its table, within the bounds `config` gives a table of that name
/// (`[tables.NAME]`), else the default ones.
pub fn load(files: &[TableFile], config: Option<&Config>) -> anyhow::Result<Tables> {
    let mut tables = Tables::default();
    for TableFile { name, file } in files {
        anyhow::ensure!(tables.get(name).is_none(), "table `{name}` is given twice (--table)");
        let declared = config.and_then(|c| Some(c.table_bounds(c.tables.get(name)?)));
        let table = weir_core::table::load_jsonl(name, file, declared.unwrap_or_default())?;
        tracing::info!(table = name, keys = table.len(), "serving table from {}", file.display());
        tables.insert(Arc::new(table));
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_argument_is_a_name_and_a_file() {
        let arg: TableFile = "user-profiles=p.jsonl".parse().unwrap();
        assert_eq!((arg.name.as_str(), arg.file.to_str()), ("user-profiles", Some("p.jsonl")));
        for bad in ["p.jsonl", "=p.jsonl", "name=", ""] {
            assert!(bad.parse::<TableFile>().unwrap_err().contains("NAME=FILE"), "{bad}");
        }
    }
}
