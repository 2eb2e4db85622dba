//! `login-enricher`: adds `country` and `plan` from the user's profile in the
//! `user-profiles` enrichment table (contract 0.3: `weir_plugin::tables`).

pub mod logic;

weir_plugin::export_transformer!(logic::Enricher);
weir_plugin::config_schema!("../config.schema.json");
