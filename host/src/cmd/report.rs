//! `weir report`: the group-wide analytics, merged from every partition's latest state in
//! the changelog — while instances run or after all have stopped.

use super::{Brokers, Context};
use serde_json::json;
use weir::report::{analytics_text, Format};
use weir_core::pipeline::{load_stage, plugin_name};
use weir_core::report::analytics_json;
use weir_core::stage::aggregator::Aggregate;
use weir_kafka::changelog;

#[derive(clap::Args)]
pub struct Report {
    #[command(flatten)]
    config: super::ConfigFile,
    #[command(flatten)]
    brokers: Brokers,
    /// The analytics (on stdout) as one JSON object.
    #[command(flatten)]
    report: super::Json,
}

impl Report {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::with_brokers(&self.config, &self.brokers)?;
        let config = &context.config;
        let (Some(stage), Some(state_topic)) = (&config.aggregate, config.state_topic()) else {
            anyhow::bail!(
                "config {}: no partition states to report: it needs an [aggregate] stage with [state] enabled",
                config.source.display()
            );
        };
        if stage.window.is_some() {
            anyhow::bail!(
                "config {}: the aggregator has windows: its results are records on {} (`weir tail {0}`), one per closed window \
                 and partition; `weir report` merges running states only",
                config.source.display(),
                config.window_topic().unwrap_or_default()
            );
        }
        let client = context.kafka()?;
        let mut snapshots: Vec<_> = changelog::read_latest(&client, &state_topic)?
            .into_values()
            .filter(|s| s.topic == config.kafka.input_topic)
            .collect();
        snapshots.sort_by_key(|s| s.partition);
        let mut aggregate = load_stage::<Aggregate>(
            &*context.runtime()?,
            config,
            "aggregate",
            stage,
            &weir::resolve::Resolver,
        )?;
        let states: Vec<Vec<u8>> = snapshots.iter().map(|s| s.state.clone()).collect();
        let analytics = aggregate.merged_report(&states)?.map_err(|reason| {
            anyhow::anyhow!(
                "the state topic {state_topic} holds a state the aggregator cannot read: {reason}"
            )
        })?;
        let plugin = plugin_name(&config.plugin_path(&stage.plugin));
        let covered: Vec<String> = snapshots
            .iter()
            .map(|s| format!("{}/{} to offset {}", s.topic, s.partition, s.offset))
            .collect();
        match self.report.format() {
            Format::Json => {
                let partitions: Vec<_> = snapshots
                    .iter()
                    .map(|s| json!({ "topic": s.topic, "partition": s.partition, "offset": s.offset, "bytes": s.state.len() }))
                    .collect();
                println!(
                    "{}",
                    json!({ "state_topic": state_topic, "partitions": partitions, "analytics": analytics_json(&plugin, &analytics) })
                );
            }
            Format::Text => {
                println!("── weir report: group {} ({state_topic}) ──", config.kafka.group_id);
                if covered.is_empty() {
                    println!("no partition state checkpointed yet");
                }
                print!("{}", analytics_text(&plugin, &analytics, &covered));
            }
        }
        Ok(())
    }
}
