//! `weir bench`: throughput, latency, start-up and memory, each against its own baseline.

use super::{Brokers, Context};
use std::path::PathBuf;
use weir_workshop::bench::{BenchOptions, ClusterOptions};

#[derive(clap::Args)]
pub struct Bench {
    #[command(flatten)]
    config: super::ConfigFile,
    /// Events through the plugin chain (wasm and native).
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Events through the embedded broker (pipeline and passthrough).
    #[arg(long, default_value_t = 100_000)]
    broker_events: usize,
    /// Input rate for the latency measurement, events per second.
    #[arg(long, default_value_t = 5_000.0)]
    latency_rate: f64,
    /// Also run `weir run` processes on the config's brokers (or --brokers): one, then two
    /// in a group, on fresh topics named weir-bench-*.
    #[arg(long)]
    cluster: bool,
    #[command(flatten)]
    brokers: Brokers,
    /// Events for each --cluster run.
    #[arg(long, default_value_t = 300_000)]
    cluster_events: usize,
    /// Keys of the enrichment table measured (200-byte values, rebuilt from the embedded
    /// broker); 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    table_keys: usize,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Rewrite this page's generated performance section with the result (the book's is
    /// docs/performance.md).
    #[arg(long, value_name = "PAGE")]
    readme: Option<PathBuf>,
}

impl Bench {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::with_brokers(&self.config, &self.brokers)?;
        // Before the run, not after minutes of it: the README must have the section.
        let readme = match &self.readme {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
                weir_workshop::bench::render::section(&text)?;
                Some((path, text))
            }
            None => None,
        };
        let cluster = match self.cluster {
            true => Some(ClusterOptions {
                config_path: self.config.path.clone(),
                client: context.kafka()?,
                events: self.cluster_events,
            }),
            false => None,
        };
        let options = BenchOptions {
            chain_events: self.events,
            broker_events: self.broker_events,
            latency_rate: self.latency_rate,
            cluster,
            table_keys: self.table_keys,
        };
        let result = weir_workshop::bench::bench(&context.config, &options)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&result)?);
        } else {
            println!("{}", result.table());
        }
        if let Some((path, text)) = readme {
            std::fs::write(path, weir_workshop::bench::render::update_readme(&text, &result)?)?;
            weir::say!("wrote the bench section of {}", path.display());
        }
        Ok(())
    }
}
