//! `weir topics create`: the pipeline's topics, idempotently.

use super::{Brokers, Context};

#[derive(clap::Subcommand)]
pub enum TopicsCommand {
    /// Create the input, output, dead-letter, parked and analytics topics (idempotent).
    #[command(
        after_help = "Examples:\n  weir topics create --config weir.toml --brokers kafka:9092"
    )]
    Create {
        #[command(flatten)]
        config: super::ConfigFile,
        #[command(flatten)]
        brokers: Brokers,
    },
}

impl TopicsCommand {
    pub fn run(self) -> anyhow::Result<()> {
        let TopicsCommand::Create { config, brokers } = self;
        let context = Context::for_topics(&config, &brokers)?;
        let client = context.kafka()?;
        for line in weir_kafka::topics::create(&context.config, &client)? {
            println!("{line}");
        }
        Ok(())
    }
}
