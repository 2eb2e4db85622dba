//! `login-router`: each login to the output of its app's major version (`v2`, `v3`…),
//! health checks dropped, keyed by user. Needs contract 0.2: a 0.1 transformer can
//! neither drop a record, nor route it, nor set its key.

pub mod logic;

weir_plugin::export_transformer!(logic::Router);
weir_plugin::config_schema!("../config.schema.json");
