//! `weir dlq`: what the dead-letter and parked topics hold.

use super::{Brokers, Context};

#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// Count the dead-letter and parked records by stage, kind and reason (values in the
    /// reasons masked so alike rows group), with their oldest/newest times and sample keys.
    /// Reads to the end and stops; commits nothing.
    #[command(after_help = "Examples:\n  weir dlq stats --config weir.toml\n  weir dlq stats --json | jq '.rows[0]'")]
    Stats {
        #[command(flatten)]
        config: super::ConfigFile,
        #[command(flatten)]
        brokers: Brokers,
        /// Print the result as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

impl DlqCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            DlqCommand::Stats { config, brokers, json } => {
                let context = Context::with_brokers(&config, &brokers)?;
                let client = context.kafka()?;
                let kafka = &context.config.kafka;
                let stats = weir::kafka::dlq::stats(&client, &[&kafka.dead_letter_topic, &kafka.parked_topic])?;
                match json {
                    true => println!("{}", serde_json::to_string(&stats)?),
                    false => print!("{}", stats.text()),
                }
                Ok(())
            }
        }
    }
}
