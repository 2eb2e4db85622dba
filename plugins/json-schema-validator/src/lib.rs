//! `json-schema-validator`: checks each value against the JSON Schema in the stage config.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::logic::SchemaCheck;
    use std::cell::RefCell;

    wit_bindgen::generate!({ path: "../../wit", world: "validator" });


    thread_local! {
        static CHECK: RefCell<Option<SchemaCheck>> = const { RefCell::new(None) };
    }

    struct Plugin;

    impl Guest for Plugin {
        fn init(config: String) -> Result<(), String> {
            let check = SchemaCheck::from_config(&config)?;
            CHECK.with(|c| *c.borrow_mut() = Some(check));
            Ok(())
        }

        fn validate(batch: Vec<Message>) -> Vec<Result<(), Vec<Violation>>> {
            CHECK.with(|c| {
                let c = c.borrow();
                let check = c.as_ref().expect("the host calls init before validate");
                batch
                    .iter()
                    .map(|m| {
                        check.check(&m.value).map_err(|vs| {
                            vs.into_iter().map(|v| Violation { path: v.path, reason: v.reason }).collect()
                        })
                    })
                    .collect()
            })
        }
    }

    export!(Plugin);
}
