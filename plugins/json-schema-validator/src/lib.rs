//! `json-schema-validator`: checks each value against the JSON Schema in the stage config.

pub mod logic;
mod tape;

weir_plugin::export_validator!(logic::SchemaCheck);
weir_plugin::config_schema!("../config.schema.json");
