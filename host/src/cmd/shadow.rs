//! `weir shadow`: what a candidate plugin would change, on real records, before it goes live.

use super::{Brokers, Context};
use std::path::PathBuf;
use std::time::Duration;
use weir::shadow::{self, Candidate, ShadowReport, Shadowing};
use weir_core::pipeline::Pipeline;
use weir_kafka::start::{self, StartAt};

#[derive(clap::Args)]
pub struct Shadow {
    #[command(flatten)]
    config: super::ConfigFile,
    /// The stage the candidate would replace: `validate`, `transform` (or `transform[N]`,
    /// or a transformer's `name`).
    #[arg(long)]
    stage: String,
    /// The candidate plugin, a `.wasm` component of the stage's world.
    #[arg(long, value_name = "WASM")]
    candidate: PathBuf,
    /// The candidate's `config` table alone, as a TOML file (default: the stage's own);
    /// paths in it resolve as in weir.toml.
    #[arg(long, value_name = "FILE")]
    candidate_config: Option<PathBuf>,
    /// JSON lines to run both chains over (no broker).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present_any = ["from", "live"],
        conflicts_with_all = ["from", "live"]
    )]
    input: Option<PathBuf>,
    /// Or a range of the input topic, from here in each partition: earliest, an offset, or
    /// a time (RFC 3339). It is read in no consumer group: nothing is committed, nothing
    /// is produced.
    #[arg(long, value_name = "WHERE")]
    from: Option<StartAt>,
    /// Where the range ends (exclusive): latest, an offset, or a time (RFC 3339).
    #[arg(long, value_name = "WHERE", default_value = "latest", requires = "from")]
    to: StartAt,
    /// Or the live input, from now on, in no consumer group (nothing committed, nothing
    /// produced), until --for, --count or SIGINT/SIGTERM.
    #[arg(long, conflicts_with = "from")]
    live: bool,
    /// With --live: how long to watch (e.g. `10m`).
    #[arg(long = "for", value_name = "DURATION", value_parser = super::parse_duration, requires = "live")]
    watch_for: Option<Duration>,
    /// With --live: how many records to compare.
    #[arg(long, value_name = "N", requires = "live")]
    count: Option<u64>,
    #[command(flatten)]
    brokers: Brokers,
    /// Exit 1 when more than this share of the records changed (e.g. `0.01`).
    #[arg(long, value_name = "RATIO")]
    max_changed: Option<f64>,
    /// Exit 1 when the candidate sends more than this many records to the dead letters
    /// that go on today (its faults included).
    #[arg(long, value_name = "N")]
    max_new_dead_letters: Option<u64>,
    /// Exit 1 when more than this many of the aggregator's counters and tables end up
    /// different (e.g. `0` for an aggregator candidate that must agree).
    #[arg(long, value_name = "N")]
    max_analytics_changes: Option<usize>,
    /// Over a file: serve an enrichment table from a JSON-lines file to the stages naming
    /// it, as `weir process --table` does (from Kafka, each `[tables.NAME]` is read from its
    /// topic); repeatable.
    #[arg(long = "table", value_name = "NAME=FILE")]
    tables: Vec<weir::served::TableFile>,
    /// The report as JSON on stdout.
    #[command(flatten)]
    report: super::Json,
}

/// How long reading a range of the input may take.
const READ_TIMEOUT: Duration = Duration::from_secs(600);

impl Shadow {
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(ratio) = self.max_changed {
            anyhow::ensure!(
                (0.0..=1.0).contains(&ratio),
                "--max-changed is a share of the records, from 0 to 1: {ratio}"
            );
        }
        let from_kafka = self.from.is_some() || self.live;
        let context = match from_kafka {
            true => Context::for_topics(&self.config, &self.brokers)?,
            false => Context::load(&self.config)?,
        };
        let config = match from_kafka {
            true => context.config.clone(),
            false => context.config.for_files(),
        };
        let table = match &self.candidate_config {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(anyhow::Error::from)
                    .and_then(|text| Ok(toml::from_str::<toml::Table>(&text)?))
                    .map_err(|e| anyhow::anyhow!("--candidate-config {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let candidate =
            Candidate { stage: self.stage.clone(), plugin: self.candidate.clone(), config: table };
        let with_candidate = shadow::with_candidate(&config, &candidate)?;
        let runtime = context.runtime()?;
        let tables = match from_kafka {
            true => config.declared_tables(),
            false => weir::served::load(&self.tables, Some(&config))?,
        };
        let resolver = &weir_core::config::WithTables {
            tables: tables.clone(),
            inner: &weir::resolve::Resolver,
        };
        let mut current = Pipeline::from_config(&runtime, &config, resolver)?;
        let mut theirs = Pipeline::from_config(&runtime, &with_candidate, resolver)?;
        // Both read the same tables, kept from their topics while the shadow runs.
        let _feeds = match from_kafka {
            true => Some(weir_kafka::table_feed::start(
                &context.kafka()?,
                &config,
                &tables,
                &weir::resolve::Resolver,
                None,
            )?),
            false => None,
        };
        let report = ShadowReport::new(&self.stage, &self.candidate.display().to_string());
        let mut shadowing =
            Shadowing::new(&mut current, &mut theirs, config.pipeline.batch_size, report);
        match (&self.input, self.from) {
            (Some(input), _) => shadow::each_line(input, |record| shadowing.push(record))?,
            (None, Some(from)) => {
                let client = context.kafka()?;
                let input = &config.kafka.input_topic;
                let starts = start::resolve(&client, input, from)?;
                // `latest`: to the end as the read finds it (a broker may report it short).
                let ends = match self.to {
                    StartAt::Latest => None,
                    to => Some(start::resolve(&client, input, to)?),
                };
                let ends = ends.as_deref();
                weir_kafka::range::read(&client, input, &starts, ends, READ_TIMEOUT, |record| {
                    shadowing.push(record)
                })?;
            }
            (None, None) => {
                let client = context.kafka()?;
                let stop = Context::stop_on_signals()?;
                let started = std::time::Instant::now();
                let seen = std::cell::Cell::new(0u64);
                let done = || {
                    stop.load(std::sync::atomic::Ordering::Relaxed)
                        || self.watch_for.is_some_and(|d| started.elapsed() >= d)
                        || self.count.is_some_and(|n| seen.get() >= n)
                };
                weir::say!("shadowing the live {} ...", config.kafka.input_topic);
                weir_kafka::tail::live(&client, &config.kafka.input_topic, &done, |record| {
                    seen.set(seen.get() + 1);
                    shadowing.push(record)
                })?;
            }
        }
        let report = shadowing.finish()?;
        match self.report.format() {
            weir::report::Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            weir::report::Format::Text => print!("{}", report.text()),
        }
        match shadow::gate(
            &report,
            self.max_changed,
            self.max_new_dead_letters,
            self.max_analytics_changes,
        ) {
            Some(failed) => anyhow::bail!("the candidate does not pass: {failed}"),
            None => Ok(()),
        }
    }
}
