//! `weir run`: the input topic through the stages to the output and dead-letter topics.

use super::io::KafkaIo;
use rdkafka::config::ClientConfig;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use weir_core::config::Config;
use weir_core::driver::pipeline::{drive_pipeline, FinalReport, OnTrip, PipelineOptions};
use weir_core::driver::Controls;
use weir_core::hot_swap::HotSwap;
use weir_core::ops::Ops;
use weir_core::pipeline::Pipeline;
use weir_core::report::Report;
use weir_core::stats::Stats;

pub struct RunOptions<'a> {
    pub stop: &'a AtomicBool,
    /// Show (and publish) the report this often while running.
    pub report_every: Option<Duration>,
    /// How a report is shown, and where one shown while running goes (the binary's stderr).
    pub show: &'a (dyn Fn(&Report) -> String + Sync),
    pub say: &'a (dyn Fn(&str) + Sync),
    /// How long to wait at stop for in-flight records to be acknowledged.
    pub drain_timeout: Duration,
    /// Called after every batch, e.g. to show progress.
    pub on_batch: Option<&'a (dyn Fn(&Stats) + Sync)>,
    /// Metrics and health to keep, for `/metrics`, `/healthz` and `/readyz`.
    pub ops: Option<&'a Ops>,
}

/// Runs until stopped; returns the final report (also published to the analytics topic).
pub fn process_topic(
    config: &Config,
    client: &ClientConfig,
    pipeline: &mut Pipeline,
    options: &RunOptions,
    hot_swap: Option<HotSwap>,
) -> anyhow::Result<FinalReport> {
    process(config, client, pipeline, options, hot_swap, None)
}

/// The input from each partition's position up to `range`'s end, then a stop: `weir replay`.
pub fn process_range(
    config: &Config,
    client: &ClientConfig,
    pipeline: &mut Pipeline,
    options: &RunOptions,
    range: super::range::RangeEnd,
) -> anyhow::Result<FinalReport> {
    process(config, client, pipeline, options, None, Some(range))
}

fn process(
    config: &Config,
    client: &ClientConfig,
    pipeline: &mut Pipeline,
    options: &RunOptions,
    hot_swap: Option<HotSwap>,
    range: Option<super::range::RangeEnd>,
) -> anyhow::Result<FinalReport> {
    let kafka = &config.kafka;
    let state_topic = config.state_topic();
    if state_topic.is_some() {
        super::topics::ensure_state_topic(config, client)?;
        pipeline.keep_partition_states();
    }
    let mut io = KafkaIo::new(
        config,
        client,
        &kafka.group_id,
        &kafka.input_topic,
        state_topic.clone(),
        options.stop,
        options.ops,
    )?;
    if let Some(range) = range {
        io = io.bounded(range);
    }
    tracing::info!(
        input = kafka.input_topic,
        output = kafka.output_topic,
        dead_letters = kafka.dead_letter_topic,
        "running"
    );
    let controls = Controls {
        batch_size: config.pipeline.batch_size,
        stop: options.stop,
        drain: options.drain_timeout,
        checkpoint_every: state_topic
            .is_some()
            .then(|| Duration::from_secs(config.state.checkpoint_interval_s)),
        ops: options.ops,
    };
    let cooldown = Duration::from_secs(config.pipeline.fault_cooldown_s.max(1));
    let process = PipelineOptions {
        on_trip: OnTrip::HoldAndRetry { cooldown },
        max_consecutive_faults: config.pipeline.max_consecutive_faults,
        report_every: options.report_every,
        show: options.show,
        say: options.say,
        on_batch: options.on_batch,
    };
    drive_pipeline(&mut io, pipeline, &controls, &process, hot_swap)
}
