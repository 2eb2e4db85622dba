//! `weir bench`: throughput, latency, start-up and memory, each against its own baseline.

use super::Context;
use std::path::PathBuf;
use weir::bench::BenchOptions;

#[derive(clap::Args)]
pub struct Bench {
    #[arg(long, default_value = "weir.toml")]
    config: PathBuf,
    /// Events through the plugin chain (wasm and native).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events through the embedded broker (pipeline and passthrough).
    #[arg(long, default_value_t = 100_000)]
    broker_events: usize,
    /// Input rate for the latency measurement, events per second.
    #[arg(long, default_value_t = 5_000.0)]
    latency_rate: f64,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl Bench {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::load(&self.config)?;
        let options = BenchOptions { chain_events: self.events, broker_events: self.broker_events, latency_rate: self.latency_rate };
        let result = weir::bench::bench(&context.config, &options)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&result)?);
        } else {
            println!("{}", result.table());
        }
        Ok(())
    }
}
