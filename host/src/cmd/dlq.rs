//! `weir dlq`: what the dead-letter and parked topics hold.

use super::{Brokers, Context, Serve};

#[derive(clap::Subcommand)]
pub enum DlqCommand {
    /// Count the dead-letter and parked records by stage, kind and reason (values in the
    /// reasons masked so alike rows group), with their oldest/newest times and the newest keys.
    /// Reads to the end and stops; commits nothing.
    #[command(
        after_help = "Examples:\n  weir dlq stats --config weir.toml\n  weir dlq stats --json | jq '.rows[0]'"
    )]
    Stats {
        #[command(flatten)]
        config: super::ConfigFile,
        #[command(flatten)]
        brokers: Brokers,
        /// Print the result as one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Send parked (or dead-lettered) records back to the input topic after a fix:
    /// original key and bytes, repair attempts reset, the redrive counted in
    /// `weir.redrive.count`. Resumable: a second run goes on where the first stopped.
    #[command(
        after_help = "Examples:\n  weir dlq redrive --dry-run\n  weir dlq redrive --reason 'locale' --rate 50\n  weir dlq redrive --source dead-letter --stage validate --since 2026-11-27T00:00:00Z"
    )]
    Redrive {
        #[command(flatten)]
        config: super::ConfigFile,
        #[command(flatten)]
        brokers: Brokers,
        /// Which topic to send back from: `parked` or `dead-letter`.
        // `--from`, its earlier name, still parses (scripts); elsewhere `--from` is where
        // to start reading, so the help shows only `--source`.
        #[arg(
            long = "source",
            alias = "from",
            value_name = "SOURCE",
            value_enum,
            default_value = "parked"
        )]
        from: Source,
        /// Only records refused by this stage (e.g. `validate`, `repair`).
        #[arg(long)]
        stage: Option<String>,
        /// Only records of this kind (`violation`, `late`, `trap`, …).
        #[arg(long)]
        kind: Option<String>,
        /// Only records whose reason contains this text.
        #[arg(long)]
        reason: Option<String>,
        /// Only records written at or after this time (RFC 3339).
        #[arg(long, value_parser = time)]
        since: Option<i64>,
        /// Only records written before this time (RFC 3339).
        #[arg(long, value_parser = time)]
        until: Option<i64>,
        /// Records sent per second at most.
        #[arg(long)]
        rate: Option<f64>,
        /// Leave records that were redriven this many times already.
        #[arg(long, default_value_t = 3)]
        max_redrives: u32,
        /// Print what would be sent, grouped by reason, and send nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        serve: Serve,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Source {
    Parked,
    DeadLetter,
}

fn time(text: &str) -> Result<i64, String> {
    weir_core::window::parse_time(text)
        .ok_or_else(|| format!("`{text}` is not a time like 2026-11-27T22:05:00Z"))
}

impl DlqCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            DlqCommand::Stats { config, brokers, json } => {
                let context = Context::for_topics(&config, &brokers)?;
                let client = context.kafka()?;
                let kafka = &context.config.kafka;
                let bar = super::progress::Bar::new("reading");
                let progress = |topic: &str, read: weir_kafka::tail::Read| {
                    if read.done == 0 {
                        bar.say(&format!("reading {topic}"));
                    }
                    bar.show(read)
                };
                let topics = [kafka.dead_letter_topic.as_str(), kafka.parked_topic.as_str()];
                let stats = weir_kafka::dlq::stats(&client, &topics, &progress)?;
                drop(bar);
                match json {
                    true => println!("{}", serde_json::to_string(&stats)?),
                    false => print!("{}", stats.text()),
                }
                Ok(())
            }
            DlqCommand::Redrive {
                config,
                brokers,
                from,
                stage,
                kind,
                reason,
                since,
                until,
                rate,
                max_redrives,
                dry_run,
                serve,
            } => {
                if rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
                    anyhow::bail!("--rate must be a positive number of records per second");
                }
                let context = Context::for_topics(&config, &brokers)?;
                let client = context.kafka()?;
                let kafka = &context.config.kafka;
                let source = match from {
                    Source::Parked => kafka.parked_topic.clone(),
                    Source::DeadLetter => kafka.dead_letter_topic.clone(),
                };
                let stop = Context::stop_on_signals()?;
                let (ops, _server) = context.serve_if_asked(&serve, Vec::new())?;
                let bar = super::progress::Bar::new(&format!("redriving {source}"));
                let progress = |read| bar.show(read);
                let redrive = weir_kafka::redrive::Redrive {
                    source,
                    target: kafka.input_topic.clone(),
                    group: format!("{}-redrive", kafka.group_id),
                    selection: weir_kafka::redrive::Selection { stage, kind, reason, since, until },
                    rate,
                    max_redrives,
                    stop: &stop,
                    metrics: Some(ops.metrics.clone()),
                    progress: &progress,
                };
                if dry_run {
                    let stats = weir_kafka::redrive::dry_run(&client, &redrive)?;
                    let total: u64 = stats.rows.iter().map(|r| r.count).sum();
                    print!(
                        "would send {total} records from {} back to {}:\n{}",
                        redrive.source,
                        redrive.target,
                        stats.text()
                    );
                    return Ok(());
                }
                let done = weir_kafka::redrive::run(&client, &redrive)?;
                weir::say!(
                    "redrive {} → {}: sent {} of {} read ({} not selected, {} redriven {max_redrives} times already, {} pointers, \
                     {} sent by an interrupted run and not again)",
                    redrive.source, redrive.target, done.sent, done.read, done.not_selected, done.exhausted, done.pointers, done.sent_before
                );
                Ok(())
            }
        }
    }
}
