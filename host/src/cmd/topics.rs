//! `weir topics create`: the pipeline's topics, idempotently.

use super::{Brokers, Context};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum TopicsCommand {
    /// Create the input, output, dead-letter, parked and analytics topics (idempotent).
    Create {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[command(flatten)]
        brokers: Brokers,
    },
}

impl TopicsCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let TopicsCommand::Create { config, brokers } = self;
        let context = Context::with_brokers(&config, &brokers)?;
        let client = context.kafka()?;
        for line in weir::kafka::topics::create(&context.config, &client)? {
            println!("{line}");
        }
        Ok(())
    }
}
