//! `readable-timestamp`: rewrites epoch seconds as "YYYY-MM-DD HH:MM:SS" (configurable).

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::logic::Readable;
    use std::cell::RefCell;

    wit_bindgen::generate!({ path: "../../wit", world: "transformer" });


    thread_local! {
        static READABLE: RefCell<Option<Readable>> = const { RefCell::new(None) };
    }

    struct Plugin;

    impl Guest for Plugin {
        fn init(config: String) -> Result<(), String> {
            let readable = Readable::from_config(&config)?;
            READABLE.with(|r| *r.borrow_mut() = Some(readable));
            Ok(())
        }

        fn transform(batch: Vec<Message>) -> Vec<Result<Vec<u8>, String>> {
            READABLE.with(|r| {
                let r = r.borrow();
                let readable = r.as_ref().expect("the host calls init before transform");
                batch.iter().map(|m| readable.apply(&m.value)).collect()
            })
        }
    }

    export!(Plugin);
}
