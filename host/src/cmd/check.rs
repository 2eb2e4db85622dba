//! `weir check`: load the config and every plugin it names, run nothing.

use super::Context;
use weir_core::pipeline::repair::RepairPipeline;
use weir_core::pipeline::Pipeline;

#[derive(clap::Args)]
pub struct Check {
    #[command(flatten)]
    config: super::ConfigFile,
    /// Check for `weir process` and `weir plugin test` only: the config need not name
    /// the Kafka topics.
    #[arg(long)]
    offline: bool,
}

impl Check {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::load(&self.config)?;
        if !self.offline {
            context.config.require_topics()?;
        }
        let (config, runtime) = (&context.config, context.runtime()?);
        // Each `[tables.NAME]` (`weir run` fills them from their topics); offline, any table
        // a stage names (`--table` gives them when processing).
        let mut tables = config.declared_tables();
        if self.offline {
            for (_, stage) in config.stages() {
                for name in &stage.tables {
                    if tables.get(name).is_none() {
                        tables.insert(std::sync::Arc::new(weir_core::table::Table::new(name, 0)));
                    }
                }
            }
        }
        let resolve = weir_core::config::WithTables { tables, inner: &weir::resolve::Resolver };
        Pipeline::from_config(&runtime, config, &resolve)?;
        if config.repair.is_some() {
            RepairPipeline::from_config(&runtime, config, &resolve)?;
        }
        for (key, stage) in config.stages() {
            println!("{key}: {} ok", config.plugin_path(&stage.plugin).display());
        }
        println!("kafka: {}", weir_kafka::flow::fetch_wait(&config.kafka.properties));
        println!("config {} ok", config.source.display());
        Ok(())
    }
}
