//! Glue between the WIT `transformer` world and `logic`.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "wit", world: "transformer" });

    struct Plugin;

    impl Guest for Plugin {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn transform(batch: Vec<Message>) -> Vec<Result<Vec<u8>, String>> {
            batch.iter().map(|m| crate::logic::transform(&m.value)).collect()
        }
    }

    export!(Plugin);
}
