//! `weir tail`: print a topic's records; with --schema, which fail validation and why.

use super::{Brokers, Context};
use std::path::{Path, PathBuf};
use std::time::Duration;
use weir_core::config::Config;
use weir_core::stage::{validator::Validate, Stage};
use weir_kafka::tail::{self, TailOptions};

#[derive(clap::Args)]
pub struct Tail {
    /// The topic to read, e.g. `user-login-processed-production`.
    #[arg(long)]
    topic: String,
    #[command(flatten)]
    config: super::ConfigFile,
    #[command(flatten)]
    brokers: Brokers,
    /// Validate each record against this JSON Schema (with the config's validator plugin).
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Where to start: `latest` (only new records) or `earliest` (the topic's first).
    #[arg(long, value_enum, default_value = "latest")]
    from: Start,
    /// The same as `--from earliest` (kept for scripts written before `--from`).
    #[arg(long, hide = true)]
    from_beginning: bool,
    /// Stop after this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Stop when nothing arrives for this long (e.g. 5s).
    #[arg(long, value_parser = super::parse_duration)]
    idle_exit: Option<Duration>,
    /// Show each record's key and headers too.
    #[arg(long)]
    headers: bool,
    /// How the topic's values are written: json, confluent-json or avro (decoded with the
    /// writer's schema from the registry). Default: the topic's `[topics]` entry, else json.
    #[arg(long, value_parser = parse_format)]
    format: Option<weir_core::format::Format>,
}

fn parse_format(name: &str) -> Result<weir_core::format::Format, String> {
    serde_json::from_value(serde_json::Value::String(name.into()))
        .map_err(|_| format!("`{name}` is not a format: json, confluent-json or avro"))
}

impl Tail {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::with_brokers(&self.config, &self.brokers)?;
        let validator = match &self.schema {
            Some(schema) => Some(validator(&context.config, schema)?),
            None => None,
        };
        let format = self.format.unwrap_or_else(|| {
            context.config.topics.get(&self.topic).map(|t| t.format).unwrap_or_default()
        });
        let formats = match format {
            weir_core::format::Format::Json => None,
            format => {
                let source = weir_core::config::Resolve::schema_source(
                    &weir::resolve::Resolver,
                    &context.config,
                )
                .map_err(anyhow::Error::msg)?;
                Some(weir_core::format::Formats::reading(&self.topic, format, source))
            }
        };
        let client = context.kafka()?;
        let stop = Context::stop_on_signals()?;
        let options = TailOptions {
            topic: self.topic,
            from_beginning: self.from_beginning || matches!(self.from, Start::Earliest),
            count: self.count,
            idle_exit: self.idle_exit,
            show_headers: self.headers,
            stop: &stop,
        };
        let stats =
            tail::follow(&client, &options, formats, validator, &mut std::io::stdout().lock())?;
        weir::say!(
            "{} messages · {} invalid · {} duplicate keys",
            stats.messages,
            stats.invalid,
            stats.duplicate_keys
        );
        Ok(())
    }
}

/// The config's validator plugin, checking against `schema` instead of its own.
fn validator(config: &Config, schema: &Path) -> anyhow::Result<Stage<Validate>> {
    let Some(stage) = &config.validate else {
        anyhow::bail!(
            "--schema needs a [validate] stage in {} to know which validator plugin to use",
            config.source.display()
        );
    };
    let document = weir::resolve::load_schema(schema).map_err(anyhow::Error::msg)?;
    let runtime = weir_core::runtime_for(Some(config))?;
    let plugin = runtime.load(&config.plugin_path(&stage.plugin))?;
    let json = serde_json::json!({ "schema": document }).to_string();
    Ok(Stage::new("tail", &plugin, json, stage.limits)?)
}

/// `weir tail --from`: the words `weir run --from` uses for the same two places.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Start {
    Earliest,
    Latest,
}
