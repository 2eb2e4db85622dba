//! `dead-letter-repair`: fixes dead letters where the fix is obvious, refuses the rest.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::logic::{Repairer, Violation};
    use std::cell::RefCell;

    wit_bindgen::generate!({ path: "../../wit", world: "repairer" });

    thread_local! {
        static REPAIRER: RefCell<Option<Repairer>> = const { RefCell::new(None) };
    }

    struct Plugin;

    impl Guest for Plugin {
        fn init(config: String) -> Result<(), String> {
            let repairer = Repairer::from_config(&config)?;
            REPAIRER.with(|r| *r.borrow_mut() = Some(repairer));
            Ok(())
        }

        fn repair(batch: Vec<Damaged>) -> Vec<RepairOutcome> {
            REPAIRER.with(|r| {
                let r = r.borrow();
                let repairer = r.as_ref().expect("the host calls init before repair");
                batch
                    .into_iter()
                    .map(|d| {
                        let violations: Vec<Violation> = d
                            .violations
                            .into_iter()
                            .map(|v| Violation { path: v.path, reason: v.reason })
                            .collect();
                        match repairer.repair(&d.message.value, &violations) {
                            Ok(value) => RepairOutcome::Repaired(value),
                            Err(reason) => RepairOutcome::Unrepairable(reason),
                        }
                    })
                    .collect()
            })
        }
    }

    export!(Plugin);
}
