//! The `weir` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use weir::kafka;
use weir::config::Config;
use weir::offline::{self, Files};
use weir::pipeline::Pipeline;
use weir::repair::Repairer;
use weir::report::Format;

#[derive(Parser)]
#[command(name = "weir", version, about = "Stream Kafka records through WebAssembly plugins")]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `weir=trace`.
    #[arg(long, global = true, env = "WEIR_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline over JSON lines: stdin (or --input) to stdout (or --output).
    Process {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
        /// Dead letters with their violations, one JSON object per line (default: stderr).
        #[arg(long)]
        dead_letter: Option<PathBuf>,
        /// How the end-of-run report is printed to stderr.
        #[arg(long, value_enum, default_value = "text")]
        report: Format,
    },
    /// Stream the input topic through the stages to the output and dead-letter topics.
    Run {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[command(flatten)]
        brokers: Brokers,
        /// Print the report this often while running (e.g. 10s); always printed at stop.
        #[arg(long, value_parser = parse_duration)]
        report_every: Option<Duration>,
        #[arg(long, value_enum, default_value = "text")]
        report: Format,
    },
    /// Repair dead letters: from the dead-letter topic back to the input topic (or park
    /// them), or, with --input, from a file written by `weir process --dead-letter`.
    Repair {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[command(flatten)]
        brokers: Brokers,
        /// Repair a file instead of the dead-letter topic.
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
        /// Records that could not be repaired, with the reason (default: stderr).
        #[arg(long)]
        unrepairable: Option<PathBuf>,
    },
    /// Produce simulated user-login events to the input topic.
    Generate {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[command(flatten)]
        brokers: Brokers,
        /// Events per second (0: as fast as possible).
        #[arg(long, default_value_t = 100.0)]
        rate: f64,
        /// Stop after this many events (default: until Ctrl-C).
        #[arg(long)]
        count: Option<u64>,
        /// Share of events with a fault (missing device_type, wrong types, not JSON, ...).
        #[arg(long, default_value_t = 0.0)]
        invalid_ratio: f64,
        /// Make the run reproducible.
        #[arg(long)]
        seed: Option<u64>,
        /// Write the key and kind of every event here, one JSON object per line.
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
    /// Print a topic's records; with --schema, say which fail validation and why.
    Tail {
        #[arg(long)]
        topic: String,
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[command(flatten)]
        brokers: Brokers,
        /// Validate each record against this JSON Schema (with the config's validator plugin).
        #[arg(long)]
        schema: Option<PathBuf>,
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many records.
        #[arg(long)]
        count: Option<u64>,
        /// Stop when nothing arrives for this long (e.g. 5s).
        #[arg(long, value_parser = parse_duration)]
        idle_exit: Option<Duration>,
        /// Show each record's headers too.
        #[arg(long)]
        headers: bool,
    },
    /// Register or fetch JSON Schemas in a Confluent-compatible schema registry.
    Schema {
        #[command(subcommand)]
        command: SchemaCommand,
    },
    /// Manage the pipeline's topics.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Zero set-up: an embedded broker with generate + run + repair, then the report.
    Demo {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[arg(long, default_value = "20s", value_parser = parse_duration)]
        duration: Duration,
        #[arg(long, default_value_t = 500.0)]
        rate: f64,
        #[arg(long, default_value_t = 0.05)]
        invalid_ratio: f64,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Measure throughput (wasm vs native, pipeline vs passthrough), latency, start-up, memory.
    Bench {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        /// Events through the plugin chain (wasm and native).
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Events through the embedded broker (pipeline and passthrough).
        #[arg(long, default_value_t = 100_000)]
        broker_events: usize,
        /// Input rate for the latency measurement, events per second.
        #[arg(long, default_value_t = 5_000.0)]
        latency_rate: f64,
        /// Print the result as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check a config and load every plugin it names, without running anything.
    Check {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
    },
    /// Look at or try a single plugin.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Create the input, output, dead-letter, parked and analytics topics (idempotent).
    Create {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[command(flatten)]
        brokers: Brokers,
    },
}

#[derive(Subcommand)]
enum SchemaCommand {
    /// Register schemas/user-login.json and schemas/user-login-processed.json under the
    /// input and output topics' `-value` subjects (schemaType JSON).
    Register {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[arg(long, env = "WEIR_REGISTRY")]
        registry: Option<String>,
    },
    /// Show the latest (or --version) schema of a subject.
    Get {
        subject: String,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[arg(long, env = "WEIR_REGISTRY")]
        registry: Option<String>,
    },
}

/// `--registry` / `WEIR_REGISTRY`, else `registry.url` in the config.
fn registry_url(flag: Option<String>, config: &std::path::Path) -> anyhow::Result<(String, Option<Config>)> {
    let config = if config.exists() { Some(Config::load(config)?) } else { None };
    let url = flag
        .or_else(|| config.as_ref().and_then(|c| c.registry.url.clone()))
        .ok_or_else(|| anyhow::anyhow!("no schema registry: pass --registry URL, set WEIR_REGISTRY, or `registry.url` in the config"))?;
    Ok((url, config))
}

#[derive(clap::Args)]
struct Brokers {
    /// Kafka bootstrap servers; default: `kafka.brokers` in the config.
    #[arg(long = "brokers", env = "WEIR_BROKERS")]
    brokers: Option<String>,
}

impl Brokers {
    /// The config with `--brokers` / `WEIR_BROKERS` applied, and its client settings.
    fn apply(&self, config: &mut Config) -> rdkafka::config::ClientConfig {
        if let Some(brokers) = &self.brokers {
            config.kafka.brokers = brokers.clone();
        }
        kafka::client_config(&config.kafka.brokers, &config.kafka.properties)
    }
}

fn parse_world(name: &str) -> Result<weir::plugin::World, String> {
    weir::plugin::World::parse(name).ok_or_else(|| format!("`{name}` is not a world: validator, transformer, repairer or aggregator"))
}

/// `500ms`, `10s`, `2m`, or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len()));
    let value: f64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 500ms, 10s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("`{text}`: unit must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is not a valid duration"))
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Create a plugin project that builds and passes its own test out of the box.
    New {
        name: String,
        /// validator, transformer, repairer or aggregator.
        #[arg(long, value_parser = parse_world)]
        world: weir::plugin::World,
        #[arg(long, value_enum, default_value = "rust")]
        lang: weir::scaffold::Lang,
        /// Where to create it (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Show the world a component implements, its exports and imports.
    Inspect { file: PathBuf },
    /// Run one plugin over a sample of JSON lines and print what it makes of each.
    Test {
        file: PathBuf,
        #[arg(long)]
        input: PathBuf,
        /// The stage config as TOML or JSON (a `schema` path in it is loaded for the plugin).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            weir::say!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Process { config, input, output, dead_letter, report } => {
            let config = Config::load(&config)?;
            let runtime = weir::runtime_for(Some(&config))?;
            let mut pipeline = Pipeline::from_config(&runtime, &config)?;
            let files = Files { input, output, rejects: dead_letter };
            offline::process(&mut pipeline, &config, &files, report)
        }
        Command::Run { config, brokers, report_every, report } => {
            let mut config = Config::load(&config)?;
            let client = brokers.apply(&mut config);
            let runtime = weir::runtime_for(Some(&config))?;
            let mut pipeline = Pipeline::from_config(&runtime, &config)?;
            kafka::ensure_reachable(&client, &config.kafka.brokers)?;
            let stop = kafka::stop_on_signals()?;
            let options = kafka::run::RunOptions {
                stop: &stop,
                report_every,
                report_format: report,
                drain_timeout: Duration::from_secs(30),
                on_batch: None,
            };
            let hot_swap = weir::hot_swap::HotSwap::new(runtime.clone(), config.clone(), weir::hot_swap::HotSwap::on_sighup()?);
            let result = kafka::run::run(&config, &client, &mut pipeline, &options, Some(hot_swap));
            weir::say!("{}", kafka::run::render(&mut pipeline, report)?);
            result.map(|_| ())
        }
        Command::Repair { config, brokers: _, input: Some(input), output, unrepairable } => {
            let config = Config::load(&config)?;
            let runtime = weir::runtime_for(Some(&config))?;
            let mut repairer = Repairer::from_config(&runtime, &config)?;
            let files = Files { input: Some(input), output, rejects: unrepairable };
            let (fixed, unrepairable) = offline::repair(&mut repairer, &config, &files)?;
            weir::say!("repaired {fixed} · unrepairable {unrepairable}");
            Ok(())
        }
        Command::Repair { config, brokers, input: None, .. } => {
            let mut config = Config::load(&config)?;
            let client = brokers.apply(&mut config);
            let runtime = weir::runtime_for(Some(&config))?;
            let mut repairer = Repairer::from_config(&runtime, &config)?;
            kafka::ensure_reachable(&client, &config.kafka.brokers)?;
            let stop = kafka::stop_on_signals()?;
            let stats = kafka::stream_repair::run(&config, &client, &mut repairer, &stop, Duration::from_secs(30))?;
            weir::say!(
                "dead letters in {} · repaired {} · parked {}",
                stats.dead_letters_in, stats.repaired, stats.parked
            );
            Ok(())
        }
        Command::Generate { config, brokers, rate, count, invalid_ratio, seed, manifest } => {
            let mut config = Config::load(&config)?;
            let client = brokers.apply(&mut config);
            kafka::ensure_reachable(&client, &config.kafka.brokers)?;
            let stop = kafka::stop_on_signals()?;
            let options = kafka::generate::GenerateOptions { rate, count, invalid_ratio, seed, manifest, progress: true, stop: &stop };
            kafka::generate::run(&config, &client, &options)?;
            Ok(())
        }
        Command::Tail { topic, config, brokers, schema, from_beginning, count, idle_exit, headers } => {
            let mut config = Config::load(&config)?;
            let client = brokers.apply(&mut config);
            let validator = match schema {
                Some(schema) => Some(tail_validator(&config, &schema)?),
                None => None,
            };
            kafka::ensure_reachable(&client, &config.kafka.brokers)?;
            let stop = kafka::stop_on_signals()?;
            let options = kafka::tail::TailOptions { topic, from_beginning, count, idle_exit, show_headers: headers, stop: &stop };
            let stats = kafka::tail::run(&client, &options, validator, &mut std::io::stdout().lock())?;
            weir::say!("{} messages · {} invalid · {} duplicate keys", stats.messages, stats.invalid, stats.duplicate_keys);
            Ok(())
        }
        Command::Schema { command: SchemaCommand::Register { config, registry } } => {
            let (url, config) = registry_url(registry, &config)?;
            let config = config.ok_or_else(|| anyhow::anyhow!("schema register needs the config (--config) to find the schemas"))?;
            let registry = weir::registry::Registry::new(&url);
            for (subject, file) in weir::registry::subjects(&config) {
                let path = config.resolve(std::path::Path::new(file));
                let schema = weir::config::load_schema(&path).map_err(anyhow::Error::msg)?;
                let id = registry.register(&subject, &schema.to_string())?;
                println!("registered {} as {subject} (id {id})", path.display());
            }
            Ok(())
        }
        Command::Schema { command: SchemaCommand::Get { subject, version, config, registry } } => {
            let (url, _) = registry_url(registry, &config)?;
            let found = weir::registry::Registry::new(&url).get(&subject, version)?;
            weir::say!("{} version {} (id {}, {})", found.subject, found.version, found.id, found.schema_type.as_deref().unwrap_or("AVRO"));
            let pretty = serde_json::from_str::<serde_json::Value>(&found.schema)
                .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
                .unwrap_or(found.schema);
            println!("{pretty}");
            Ok(())
        }
        Command::Topics { command: TopicsCommand::Create { config, brokers } } => {
            let mut config = Config::load(&config)?;
            let client = brokers.apply(&mut config);
            kafka::ensure_reachable(&client, &config.kafka.brokers)?;
            for line in kafka::topics::create(&config, &client)? {
                println!("{line}");
            }
            Ok(())
        }
        Command::Demo { config, duration, rate, invalid_ratio, seed } => {
            let config = Config::load(&config)?;
            let stop = kafka::stop_on_signals()?;
            let options = weir::demo::DemoOptions { duration, rate, invalid_ratio, seed };
            let report = weir::demo::demo(config, &options, stop)?;
            weir::say!("{report}");
            Ok(())
        }
        Command::Bench { config, events, broker_events, latency_rate, json } => {
            let config = Config::load(&config)?;
            let options = weir::bench::BenchOptions { chain_events: events, broker_events, latency_rate };
            let result = weir::bench::bench(&config, &options)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                println!("{}", result.table());
            }
            Ok(())
        }
        Command::Check { config } => {
            let config = Config::load(&config)?;
            let runtime = weir::runtime_for(Some(&config))?;
            Pipeline::from_config(&runtime, &config)?;
            if config.repair.is_some() {
                Repairer::from_config(&runtime, &config)?;
            }
            for (key, stage) in config.stages() {
                println!("{key}: {} ok", config.resolve(&stage.plugin).display());
            }
            println!("config {} ok", config.source.display());
            Ok(())
        }
        Command::Plugin { command: PluginCommand::New { name, world, lang, dir } } => {
            let root = weir::scaffold::new_plugin(&dir, &name, world, lang)?;
            println!("created {} ({world}, {lang:?})", root.display());
            let steps = match lang {
                weir::scaffold::Lang::Rust => "cargo test && cargo build --release --target wasm32-wasip2",
                weir::scaffold::Lang::Js => "npm test && bash build.sh",
                weir::scaffold::Lang::Python => "python3 -m unittest && bash build.sh",
            };
            println!("  cd {} && {steps}", root.display());
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Inspect { file } } => {
            let runtime = weir::runtime_for(None)?;
            print!("{}", weir::plugin_tool::inspect(&runtime, &file)?);
            Ok(())
        }
        Command::Plugin { command: PluginCommand::Test { file, input, config } } => {
            let runtime = weir::runtime_for(None)?;
            print!("{}", weir::plugin_tool::test(&runtime, &file, &input, config.as_deref())?);
            Ok(())
        }
    }
}

/// The config's validator plugin, checking against `schema` instead of its own.
fn tail_validator(config: &Config, schema: &std::path::Path) -> anyhow::Result<weir::stage::Stage<weir::stage::validator::Validate>> {
    let Some(stage) = &config.validate else {
        anyhow::bail!("--schema needs a [validate] stage in {} to know which validator plugin to use", config.source.display());
    };
    let document = weir::config::load_schema(schema).map_err(anyhow::Error::msg)?;
    let runtime = weir::runtime_for(Some(config))?;
    let plugin = runtime.load(&config.resolve(&stage.plugin))?;
    let json = serde_json::json!({ "schema": document }).to_string();
    Ok(weir::stage::Stage::new("tail", &plugin, json, stage.limits)?)
}
