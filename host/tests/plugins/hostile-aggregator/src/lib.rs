//! An aggregator that counts records and panics on a value containing `PANIC`, for
//! testing that its state survives the instance the panic costs.

use weir_plugin::{Aggregator, Counter, Error, Record, Report};

#[derive(Clone, Default, serde::Deserialize)]
pub struct Config {}

pub struct Count(u64);

impl Aggregator for Count {
    type Config = Config;

    fn new(_: &Config) -> Self {
        Count(0)
    }

    fn update(&mut self, record: &Record) {
        if record.value.windows(5).any(|w| w == b"PANIC") {
            panic!("hostile aggregator panicked on purpose");
        }
        self.0 += 1;
    }

    fn report(&self) -> Report {
        Report { counters: vec![Counter { name: "records".into(), value: self.0 }], tables: vec![] }
    }

    fn snapshot(&self) -> Vec<u8> {
        self.0.to_string().into_bytes()
    }

    fn restore(_: &Config, snapshot: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(snapshot).map_err(|_| "snapshot is not text")?;
        Ok(Count(text.parse().map_err(|_| "snapshot is not a count")?))
    }

    fn merge(&mut self, other: Self) {
        self.0 += other.0;
    }
}

weir_plugin::export_aggregator!(Count);
