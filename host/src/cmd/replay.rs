//! `weir replay`: the pipeline over a range of the input, in a group of its own.

use super::{Brokers, Context, Serve};
use weir_core::pipeline::Pipeline;
use weir_kafka::run::{self, RunOptions};
use weir_kafka::start::{self, StartAt};

/// Reprocess a range of the input (after fixing a plugin, say) in a consumer group of its
/// own (`<group_id>-replay`), and stop at the range's end. The main group's offsets and
/// partition states are not touched; the replay's analytics are its own report.
#[derive(clap::Args)]
pub struct Replay {
    #[command(flatten)]
    config: super::ConfigFile,
    #[command(flatten)]
    brokers: Brokers,
    /// Where the range starts in each partition: earliest, an offset, or a time (RFC 3339).
    #[arg(long, value_name = "WHERE")]
    from: StartAt,
    /// Where it ends (exclusive): latest, an offset, or a time (RFC 3339).
    #[arg(long, value_name = "WHERE", default_value = "latest")]
    to: StartAt,
    /// Write the processed records here instead of the output topic.
    #[arg(long, value_name = "TOPIC")]
    to_topic: Option<String>,
    /// The replay's report (on stderr, with the logs) as JSON.
    #[command(flatten)]
    report: super::Json,
    #[command(flatten)]
    serve: Serve,
}

impl Replay {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::for_topics(&self.config, &self.brokers)?;
        let mut config = context.config.clone();
        config.kafka.group_id = format!("{}-replay", config.kafka.group_id);
        // Its own analytics, in memory: nothing of the main group's state or reports.
        config.state.enabled = false;
        config.kafka.analytics_topic = None;
        if let Some(topic) = self.to_topic {
            config.kafka.output_topic = topic;
        }
        // The plugins before the broker: a config error is said (exit 2) whatever the broker.
        let runtime = context.runtime()?;
        // Tables as they are now, not as they were when the records were produced.
        let tables = config.declared_tables();
        let resolve = weir_core::config::WithTables {
            tables: tables.clone(),
            inner: &weir::resolve::Resolver,
        };
        let mut pipeline = Pipeline::from_config(&runtime, &config, &resolve)?;
        let client = context.kafka()?;
        let _feeds = weir_kafka::table_feed::start(
            &client,
            &config,
            &tables,
            &weir::resolve::Resolver,
            None,
        )?;
        let input = config.kafka.input_topic.clone();
        let starts =
            start::position_group(&client, &config.kafka.group_id, &input, self.from, true)?;
        let ends = start::resolve(&client, &input, self.to)?;
        let range = starts.iter().map(|(p, start)| {
            let end = ends.iter().find(|(q, _)| q == p).map_or(*start, |(_, end)| *end);
            ((input.clone(), *p), *start, end)
        });
        let range = weir_kafka::range::RangeEnd::new(range.collect::<Vec<_>>());
        let total: i64 = starts
            .iter()
            .map(|(p, s)| ends.iter().find(|(q, _)| q == p).map_or(0, |(_, e)| (e - s).max(0)))
            .sum();
        weir::say!(
            "replaying {total} records of {input} into {} (group {})",
            config.kafka.output_topic,
            config.kafka.group_id
        );
        let (ops, _server) =
            context.serve_if_asked(&self.serve, weir::server::topic_roles(&context.config))?;
        pipeline.observe(&ops.metrics);
        let stop = Context::stop_on_signals()?;
        let counted = std::sync::atomic::AtomicU64::new(0);
        let bar = super::progress::Bar::new(&format!("replaying {input}"));
        let count = |stats: &weir_core::stats::Stats| {
            let before = counted.swap(stats.records_in, std::sync::atomic::Ordering::Relaxed);
            ops.metrics.replayed.inc_by(stats.records_in.saturating_sub(before));
            bar.show(weir_kafka::tail::Read { done: stats.records_in, total: total as u64 });
        };
        let options = RunOptions {
            stop: &stop,
            report_every: None,
            show: &|r| weir::report::render(r, self.report.format()),
            say: &|text| weir::say!("{text}"),
            drain_timeout: std::time::Duration::from_secs(30),
            on_batch: Some(&count),
            ops: Some(&ops),
        };
        let report = run::process_range(&config, &client, &mut pipeline, &options, range)?;
        drop(bar);
        weir::say!("{}", report.rendered);
        // The metric's final value: a replay often ends before any scrape sees it.
        weir::say!("replayed {} records (weir_replayed_records_total)", ops.metrics.replayed.get());
        Ok(())
    }
}
