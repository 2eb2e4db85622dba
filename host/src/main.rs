//! The `weir` command line: parsing and dispatch. Each subcommand is a type in `cmd/`
//! with its own `run`; what they share (config, broker, plugins, signals) is `cmd::Context`.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "weir", version, about = "Stream Kafka records through WebAssembly plugins")]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `weir=trace`; else `RUST_LOG`, else `info`.
    #[arg(long, global = true, env = "WEIR_LOG")]
    log: Option<String>,
    /// `json`: one JSON object per log line on stderr, for log shippers.
    #[arg(long, global = true, env = "WEIR_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipeline over JSON lines: stdin (or --input) to stdout (or --output).
    Process(cmd::process::Process),
    /// Stream the input topic through the stages to the output and dead-letter topics.
    Run(cmd::run::Run),
    /// Repair dead letters: from the dead-letter topic back to the input topic (or park
    /// them), or, with --input, from a file written by `weir process --dead-letter`.
    Repair(cmd::repair::Repair),
    /// Produce simulated user-login events to the input topic.
    Generate(cmd::generate::Generate),
    /// Print a topic's records; with --schema, say which fail validation and why.
    Tail(cmd::tail::Tail),
    /// The analytics of the whole consumer group, merged from every partition's state.
    Report(cmd::report::Report),
    /// Register or fetch JSON Schemas in a Confluent-compatible schema registry.
    Schema {
        #[command(subcommand)]
        command: cmd::schema::SchemaCommand,
    },
    /// Manage the pipeline's topics.
    Topics {
        #[command(subcommand)]
        command: cmd::topics::TopicsCommand,
    },
    /// Zero set-up: an embedded broker with generate + run + repair, then the report.
    Demo(cmd::demo::Demo),
    /// Measure throughput (wasm vs native, pipeline vs passthrough), latency, start-up, memory.
    Bench(cmd::bench::Bench),
    /// Check a config and load every plugin it names, without running anything.
    Check(cmd::check::Check),
    /// Ask a running weir's /healthz (or /readyz): the container health check.
    Health(cmd::health::Health),
    /// Look at or try a single plugin.
    Plugin {
        #[command(subcommand)]
        command: cmd::plugin::PluginCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(error) = init_logging(cli.log, cli.log_format) {
        weir::say!("error: {error}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Process(command) => command.run(),
        Command::Run(command) => command.run(),
        Command::Repair(command) => command.run(),
        Command::Generate(command) => command.run(),
        Command::Tail(command) => command.run(),
        Command::Report(command) => command.run(),
        Command::Schema { command } => command.run(),
        Command::Topics { command } => command.run(),
        Command::Demo(command) => command.run(),
        Command::Bench(command) => command.run(),
        Command::Check(command) => command.run(),
        Command::Health(command) => command.run(),
        Command::Plugin { command } => command.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            weir::say!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logging to stderr with the filter from `--log` / `WEIR_LOG`, else `RUST_LOG` (as other
/// Rust tools), else `info`. A filter that does not parse is an error naming it, not a
/// silent `info`.
fn init_logging(flag: Option<String>, format: LogFormat) -> Result<(), String> {
    let (filter, from) = match (flag, std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty())) {
        (Some(filter), _) => (filter, "--log / WEIR_LOG"),
        (None, Some(filter)) => (filter, "RUST_LOG"),
        (None, None) => ("info".to_string(), "the default"),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("log filter `{filter}` (from {from}) is not valid: {e}; e.g. `info`, `debug`, `weir=trace`"))?;
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    Ok(())
}
