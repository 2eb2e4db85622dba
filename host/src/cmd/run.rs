//! `weir run`: the input topic through the stages to the output and dead-letter topics.

use super::{Brokers, Context, Serve};
use std::time::Duration;
use weir_core::hot_swap::HotSwap;
use weir_core::pipeline::Pipeline;
use weir_kafka::run::{self, RunOptions};

#[derive(clap::Args)]
pub struct Run {
    #[command(flatten)]
    config: super::ConfigFile,
    #[command(flatten)]
    brokers: Brokers,
    /// Print the report this often while running (e.g. 10s); always printed at stop.
    #[arg(long, value_parser = super::parse_duration)]
    report_every: Option<Duration>,
    /// Reports (on stderr, with the logs) as JSON objects.
    #[command(flatten)]
    report: super::Json,
    #[command(flatten)]
    serve: Serve,
    /// Where a group with no committed offsets starts: earliest, latest, an offset, or a
    /// time (RFC 3339, e.g. 2026-11-27T22:05:00Z: the first record at or after it in each
    /// partition); default `kafka.from`, else earliest.
    #[arg(long, value_name = "WHERE")]
    from: Option<weir_kafka::start::StartAt>,
    /// Move a group that has committed offsets to --from (refused while it has members).
    #[arg(long, requires = "from")]
    reset: bool,
}

impl Run {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::for_topics(&self.config, &self.brokers)?;
        // Served from the start: /readyz says what is not ready yet while plugins load.
        let (ops, _server) =
            context.serve(&self.serve, weir::server::topic_roles(&context.config))?;
        let runtime = context.runtime()?;
        // The stages are given the tables empty; they are filled before the first record.
        let tables = context.config.declared_tables();
        // For the life of the process: a reload (SIGHUP) resolves its stages the same way.
        let resolve: &'static weir_core::config::WithTables =
            Box::leak(Box::new(weir_core::config::WithTables {
                tables: tables.clone(),
                inner: &weir::resolve::Resolver,
            }));
        let mut pipeline = Pipeline::from_config(&runtime, &context.config, resolve)?;
        pipeline.observe(&ops.metrics);
        ops.health.plugins_loaded();
        let client = context.kafka()?;
        ops.health.broker_up(true);
        let _feeds = weir_kafka::table_feed::start(
            &client,
            &context.config,
            &tables,
            &weir::resolve::Resolver,
            Some(&ops),
        )?;
        let from = match (self.from, &context.config.kafka.from) {
            (Some(from), _) => Some(from),
            (None, Some(text)) => Some(text.parse().map_err(|e: String| {
                anyhow::anyhow!("config {}: `kafka.from`: {e}", context.config.source.display())
            })?),
            (None, None) => None,
        };
        if let Some(from) = from {
            let kafka = &context.config.kafka;
            let committed = weir_kafka::start::position_group(
                &client,
                &kafka.group_id,
                &kafka.input_topic,
                from,
                self.reset,
            );
            match committed {
                Ok(_) => {}
                // From weir.toml: a group that has offsets goes on from them.
                Err(e) if self.from.is_none() => tracing::debug!("kafka.from not applied: {e:#}"),
                Err(e) => return Err(e),
            }
        }
        let stop = Context::stop_on_signals()?;
        let options = RunOptions {
            stop: &stop,
            report_every: self.report_every,
            show: &|r| weir::report::render(r, self.report.format()),
            say: &|text| weir::say!("{text}"),
            drain_timeout: Duration::from_secs(30),
            on_batch: None,
            ops: Some(&ops),
        };
        let hot_swap = HotSwap::new(
            runtime.clone(),
            context.config.clone(),
            Context::reload_on_hangup()?,
            resolve,
        );
        match run::process_topic(&context.config, &client, &mut pipeline, &options, Some(hot_swap))
        {
            Ok(report) => weir::say!("{}", report.rendered),
            Err(error) => {
                // What was done before the failure still counts: show it, then the error.
                if let Ok(report) = pipeline.report(Vec::new()) {
                    weir::say!("{}", weir::report::render(&report, self.report.format()));
                }
                return Err(error);
            }
        }
        Ok(())
    }
}
