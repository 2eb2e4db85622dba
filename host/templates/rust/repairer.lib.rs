//! Glue between the WIT `repairer` world and `logic`.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "wit", world: "repairer" });

    struct Plugin;

    impl Guest for Plugin {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn repair(batch: Vec<Damaged>) -> Vec<RepairOutcome> {
            batch
                .iter()
                .map(|d| match crate::logic::repair(&d.message.value) {
                    Ok(value) => RepairOutcome::Repaired(value),
                    Err(reason) => RepairOutcome::Unrepairable(reason),
                })
                .collect()
        }
    }

    export!(Plugin);
}
