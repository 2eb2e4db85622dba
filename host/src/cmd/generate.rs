//! `weir generate`: simulated user-login events to the input topic.

use super::{Brokers, Context};
use std::path::PathBuf;
use weir_workshop::generate::{self, GenerateOptions};

#[derive(clap::Args)]
pub struct Generate {
    #[command(flatten)]
    config: super::ConfigFile,
    #[command(flatten)]
    brokers: Brokers,
    /// Events per second (0: as fast as possible).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Stop after this many events (default: until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
    /// Share of events with a fault (missing device_type, wrong types, not JSON, ...).
    #[arg(long, default_value_t = 0.0)]
    invalid_ratio: f64,
    /// Make the run reproducible.
    #[arg(long)]
    seed: Option<u64>,
    /// Write the key and kind of every event here, one JSON object per line.
    #[arg(long)]
    manifest: Option<PathBuf>,
}

impl Generate {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::for_topics(&self.config, &self.brokers)?;
        let client = context.kafka()?;
        let stop = Context::stop_on_signals_and_hangup()?;
        let options = GenerateOptions {
            rate: self.rate,
            count: self.count,
            invalid_ratio: self.invalid_ratio,
            seed: self.seed,
            manifest: self.manifest,
            progress: Some(&|line| weir::say!("{line}")),
            stop: &stop,
            users: None,
        };
        generate::produce(&context.config, &client, &options)?;
        Ok(())
    }
}
