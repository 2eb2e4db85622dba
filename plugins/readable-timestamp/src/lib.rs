//! `readable-timestamp`: rewrites a timestamp field as readable text (chrono's strftime),
//! in UTC, a fixed offset or a named time zone.

pub mod logic;

weir_plugin::export_transformer!(logic::Readable);
weir_plugin::config_schema!("../config.schema.json");
