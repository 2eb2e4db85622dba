//! `login-analytics`: counts logins by device type, locale, app version, user, device and minute.

pub mod logic;

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::logic::{self, Analytics, Config};
    use std::cell::RefCell;

    wit_bindgen::generate!({ path: "../../wit", world: "aggregator" });

    use exports::weir::plugin::aggregate::{self, Counter, Report, Row, Table};
    use weir::plugin::types::Message;

    thread_local! {
        static CONFIG: RefCell<Config> = RefCell::new(Config::default());
    }

    struct Plugin;

    impl Guest for Plugin {
        fn init(config: String) -> Result<(), String> {
            let config = Config::parse(&config)?;
            CONFIG.with(|c| *c.borrow_mut() = config);
            Ok(())
        }
    }

    struct State(RefCell<Analytics>);

    impl aggregate::Guest for Plugin {
        type State = State;
    }

    impl aggregate::GuestState for State {
        fn new() -> Self {
            State(RefCell::new(Analytics::default()))
        }

        fn update(&self, batch: Vec<Message>) {
            let mut analytics = self.0.borrow_mut();
            for message in &batch {
                analytics.update(&message.value);
            }
        }

        fn report(&self) -> Report {
            let report = CONFIG.with(|c| self.0.borrow().report(&c.borrow()));
            to_wit(report)
        }

        fn snapshot(&self) -> Vec<u8> {
            self.0.borrow().snapshot()
        }

        fn restore(&self, snapshot: Vec<u8>) -> Result<(), String> {
            *self.0.borrow_mut() = Analytics::from_snapshot(&snapshot)?;
            Ok(())
        }

        fn merge(&self, snapshot: Vec<u8>) -> Result<(), String> {
            let other = Analytics::from_snapshot(&snapshot)?;
            self.0.borrow_mut().merge(other);
            Ok(())
        }
    }

    fn to_wit(report: logic::Report) -> Report {
        let rows = |rows: Vec<(String, u64)>| {
            rows.into_iter().map(|(label, count)| Row { label, count }).collect()
        };
        Report {
            counters: report
                .counters
                .into_iter()
                .map(|(name, value)| Counter { name, value })
                .collect(),
            tables: report
                .tables
                .into_iter()
                .map(|t| Table { name: t.name, title: t.title, rows: rows(t.rows) })
                .collect(),
        }
    }

    export!(Plugin);
}
