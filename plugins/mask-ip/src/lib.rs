//! `mask-ip`: zeroes the host part of an IP address (IPv4 to /24, IPv6 to /48).

pub mod logic;

weir_plugin::export_transformer!(logic::MaskIp);
weir_plugin::config_schema!("../config.schema.json");
