//! An aggregator that counts records and panics on a value containing `PANIC`, for
//! testing that its state survives the instance the panic costs; after a value
//! containing `REPORT_TRAP`, its report panics, always (the snapshot keeps that: `N!`).

use weir_plugin::{Aggregator, Counter, Error, Record, Report};

#[derive(Clone, Default, serde::Deserialize)]
pub struct Config {}

pub struct Count(u64, bool);

impl Aggregator for Count {
    type Config = Config;

    fn new(_: &Config) -> Self {
        Count(0, false)
    }

    fn update(&mut self, record: &Record) {
        if record.value.windows(11).any(|w| w == b"REPORT_TRAP") {
            self.1 = true;
        }
        if record.value.windows(5).any(|w| w == b"PANIC") {
            panic!("hostile aggregator panicked on purpose");
        }
        self.0 += 1;
    }

    fn report(&self) -> Report {
        if self.1 {
            panic!("hostile aggregator's report panicked on purpose");
        }
        Report { counters: vec![Counter { name: "records".into(), value: self.0 }], tables: vec![] }
    }

    fn snapshot(&self) -> Vec<u8> {
        format!("{}{}", self.0, if self.1 { "!" } else { "" }).into_bytes()
    }

    fn restore(_: &Config, snapshot: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(snapshot).map_err(|_| "snapshot is not text")?;
        let (count, trap) = text.strip_suffix('!').map_or((text, false), |count| (count, true));
        Ok(Count(count.parse().map_err(|_| "snapshot is not a count")?, trap))
    }

    fn merge(&mut self, other: Self) {
        self.0 += other.0;
        self.1 |= other.1;
    }
}

weir_plugin::export_aggregator!(Count);
