//! `dead-letter-repair`: fixes dead letters where the fix is obvious, refuses the rest.

pub mod logic;

weir_plugin::export_repairer!(logic::DeadLetterRepair);
weir_plugin::config_schema!("../config.schema.json");
