//! Glue between the WIT `validator` world and `logic`.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    use std::cell::RefCell;

    wit_bindgen::generate!({ path: "wit", world: "validator" });

    thread_local! {
        static CHECK: RefCell<Option<crate::logic::Check>> = const { RefCell::new(None) };
    }

    struct Plugin;

    impl Guest for Plugin {
        fn init(config: String) -> Result<(), String> {
            let check = crate::logic::Check::from_config(&config)?;
            CHECK.with(|c| *c.borrow_mut() = Some(check));
            Ok(())
        }

        fn validate(batch: Vec<Message>) -> Vec<Result<(), Vec<Violation>>> {
            CHECK.with(|c| {
                let c = c.borrow();
                let check = c.as_ref().expect("init runs first");
                batch
                    .iter()
                    .map(|m| {
                        check.check(&m.value).map_err(|problems| {
                            problems.into_iter().map(|(path, reason)| Violation { path, reason }).collect()
                        })
                    })
                    .collect()
            })
        }
    }

    export!(Plugin);
}
