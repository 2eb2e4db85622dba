//! `weir repair`: dead letters back to the input topic (or parked), or a dead-letter file.

use super::{Brokers, Context, Serve};
use std::path::PathBuf;
use std::time::Duration;
use weir::offline::{self, Files};
use weir_core::pipeline::repair::RepairPipeline;
use weir_kafka::run_repair;

#[derive(clap::Args)]
pub struct Repair {
    #[command(flatten)]
    config: super::ConfigFile,
    #[command(flatten)]
    brokers: Brokers,
    /// Repair a file instead of the dead-letter topic.
    #[arg(long)]
    input: Option<PathBuf>,
    /// With --input: where repaired values go, one per line (default: stdout).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Records that could not be repaired, with the reason (default: stderr).
    #[arg(long)]
    unrepairable: Option<PathBuf>,
    #[command(flatten)]
    serve: Serve,
}

impl Repair {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::with_brokers(&self.config, &self.brokers)?;
        let runtime = context.runtime()?;
        if let Some(input) = self.input {
            let config = context.config.for_files();
            let mut repairer =
                RepairPipeline::from_config(&runtime, &config, &weir::resolve::Resolver)?;
            let files = Files {
                input: Some(input),
                output: self.output,
                rejects: self.unrepairable,
                windows: None,
            };
            let stats = offline::repair(&mut repairer, &config, &files)?;
            weir::say!("repaired {} · unrepairable {}", stats.repaired, stats.parked);
            return Ok(());
        }
        context.config.require_topics()?;
        let mut repairer =
            RepairPipeline::from_config(&runtime, &context.config, &weir::resolve::Resolver)?;
        let (ops, _server) = context.serve(&self.serve, Vec::new())?;
        repairer.observe(&ops.metrics);
        ops.health.plugins_loaded();
        let client = context.kafka()?;
        ops.health.broker_up(true);
        let stop = Context::stop_on_signals_and_hangup()?;
        let stats = run_repair::repair_topic(
            &context.config,
            &client,
            &mut repairer,
            &stop,
            Duration::from_secs(30),
            Some(&ops),
        )?;
        weir::say!(
            "dead letters in {} · repaired {} · parked {}",
            stats.dead_letters_in,
            stats.repaired,
            stats.parked
        );
        Ok(())
    }
}
