//! `login-analytics`: counts logins by device type, locale, app version, user, device and minute.

mod distinct;
pub mod logic;

weir_plugin::export_aggregator!(logic::LoginAnalytics);
weir_plugin::config_schema!("../config.schema.json");
