//! Glue between the WIT `aggregator` world and `logic`.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::logic::Counts;
    use std::cell::RefCell;

    wit_bindgen::generate!({ path: "wit", world: "aggregator" });

    use exports::weir::plugin::aggregate::{self, Counter, Report, Row, Table};
    use weir::plugin::types::Message;

    struct Plugin;

    impl Guest for Plugin {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }
    }

    impl aggregate::Guest for Plugin {
        type State = State;
    }

    struct State(RefCell<Counts>);

    impl aggregate::GuestState for State {
        fn new() -> Self {
            State(RefCell::new(Counts::default()))
        }

        fn update(&self, batch: Vec<Message>) {
            let mut counts = self.0.borrow_mut();
            for m in &batch {
                counts.update(&m.value);
            }
        }

        fn report(&self) -> Report {
            let counts = self.0.borrow();
            Report {
                counters: vec![Counter { name: "total".into(), value: counts.total }],
                tables: vec![Table {
                    name: "device_types".into(),
                    title: "Records by device_type".into(),
                    rows: counts.by_value.iter().map(|(label, count)| Row { label: label.clone(), count: *count }).collect(),
                }],
            }
        }

        fn snapshot(&self) -> Vec<u8> {
            self.0.borrow().snapshot()
        }

        fn restore(&self, snapshot: Vec<u8>) -> Result<(), String> {
            *self.0.borrow_mut() = Counts::from_snapshot(&snapshot)?;
            Ok(())
        }

        fn merge(&self, snapshot: Vec<u8>) -> Result<(), String> {
            let other = Counts::from_snapshot(&snapshot)?;
            self.0.borrow_mut().merge(other);
            Ok(())
        }
    }

    export!(Plugin);
}
