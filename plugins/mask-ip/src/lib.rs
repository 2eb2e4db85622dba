//! `mask-ip`: zeroes the host part of an IP address (IPv4 to /24, IPv6 to /48).

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::logic::MaskIp;
    use std::cell::RefCell;

    wit_bindgen::generate!({ path: "../../wit", world: "transformer" });

    thread_local! {
        static MASK: RefCell<Option<MaskIp>> = const { RefCell::new(None) };
    }

    struct Plugin;

    impl Guest for Plugin {
        fn init(config: String) -> Result<(), String> {
            let mask = MaskIp::from_config(&config)?;
            MASK.with(|m| *m.borrow_mut() = Some(mask));
            Ok(())
        }

        fn transform(batch: Vec<Message>) -> Vec<Result<Vec<u8>, String>> {
            MASK.with(|m| {
                let m = m.borrow();
                let mask = m.as_ref().expect("the host calls init before transform");
                batch.iter().map(|msg| mask.apply(&msg.value)).collect()
            })
        }
    }

    export!(Plugin);
}
