//! `dead-letter-repair`: fixes dead letters where the fix is obvious, refuses the rest.

pub mod logic;

weir_plugin::export_repairer!(logic::DeadLetterRepair);
