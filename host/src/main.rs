//! The `weir` command line: parsing and dispatch. Each subcommand is a type in `cmd/`
//! with its own `run`; what they share (config, broker, plugins, signals) is `cmd::Context`.

mod cmd;

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Start a project: a weir.toml naming every topic, the shipped plugins, schemas and a
    /// sample input, written into DIR.
    #[command(
        after_help = "Examples:\n  weir init my-pipeline && cd my-pipeline && weir process --input samples/user-login.jsonl"
    )]
    Init(cmd::init::Init),
    /// Run the pipeline over JSON lines: stdin (or --input) to stdout (or --output).
    #[command(
        after_help = "Examples:\n  weir process --input samples/user-login.jsonl --dead-letter dead.jsonl\n  cat events.jsonl | weir process --json > out.jsonl   # the report on stderr as JSON"
    )]
    Process(cmd::process::Process),
    /// Stream the input topic through the stages to the output and dead-letter topics.
    #[command(
        after_help = "Examples:\n  weir run --config weir.toml --brokers kafka:9092\n  WEIR_CONFIG=/etc/weir/weir.toml WEIR_METRICS=0.0.0.0:9100 weir run"
    )]
    Run(cmd::run::Run),
    /// Repair dead letters: from the dead-letter topic back to the input topic (or park
    /// them), or, with --input, from a file written by `weir process --dead-letter`.
    #[command(
        after_help = "Examples:\n  weir repair --config weir.toml\n  weir repair --input dead.jsonl --output fixed.jsonl --unrepairable parked.jsonl"
    )]
    Repair(cmd::repair::Repair),
    /// Reprocess a range of the input in a group of its own, and stop at its end.
    #[command(
        after_help = "Examples:\n  weir replay --from 2026-11-27T10:00:00Z --to 2026-11-27T11:00:00Z --to-topic user-login-replayed\n  weir replay --from earliest --to 5000"
    )]
    Replay(cmd::replay::Replay),
    #[cfg(feature = "workshop")]
    /// Produce simulated user-login events to the input topic.
    #[command(
        after_help = "Examples:\n  weir generate --rate 100 --count 1000 --invalid-ratio 0.05"
    )]
    Generate(cmd::generate::Generate),
    /// Print a topic's records; with --schema, say which fail validation and why.
    #[command(
        after_help = "Examples:\n  weir tail --topic user-login-processed-production --from earliest --count 10\n  weir tail --topic user-login --schema schemas/user-login.json --headers\n  weir tail --topic user-login-dead-letter --format avro --from earliest   # Avro, decoded with the registry"
    )]
    Tail(cmd::tail::Tail),
    /// The analytics of the whole consumer group, merged from every partition's state.
    #[command(after_help = "Examples:\n  weir report --config weir.toml --json")]
    Report(cmd::report::Report),
    /// Register or fetch JSON Schemas in a Confluent-compatible schema registry.
    Schema {
        #[command(subcommand)]
        command: cmd::schema::SchemaCommand,
    },
    /// Look into the dead-letter and parked topics.
    Dlq {
        #[command(subcommand)]
        command: cmd::dlq::DlqCommand,
    },
    /// Manage the pipeline's topics.
    Topics {
        #[command(subcommand)]
        command: cmd::topics::TopicsCommand,
    },
    #[cfg(feature = "workshop")]
    /// Zero set-up: an embedded broker with generate + run + repair, then the report.
    #[command(
        after_help = "Examples:\n  weir demo\n  weir demo --duration 10s --rate 1000 --window 5s\n  weir demo --status 127.0.0.1:8080   # the status page at a fixed address"
    )]
    Demo(cmd::demo::Demo),
    #[cfg(feature = "workshop")]
    /// Measure throughput (wasm vs native, pipeline vs passthrough), latency, start-up, memory.
    #[command(
        after_help = "Examples:\n  weir bench\n  weir bench --cluster --brokers 127.0.0.1:19092 --json"
    )]
    Bench(cmd::bench::Bench),
    /// Run a candidate plugin beside a stage's current one over the same records and
    /// report what it would change; `--max-changed` / `--max-new-dead-letters` gate a rollout.
    #[command(
        after_help = "Examples:\n  weir shadow --stage transform --candidate new.wasm --input yesterday.jsonl\n  weir shadow --stage validate --candidate v2.wasm --input sample.jsonl --max-changed 0 --max-new-dead-letters 0 --json"
    )]
    Shadow(cmd::shadow::Shadow),
    /// Check a config and load every plugin it names, without running anything.
    #[command(after_help = "Examples:\n  weir check --config weir.toml")]
    Check(cmd::check::Check),
    /// Ask a running weir's /healthz (or /readyz): the container health check.
    #[command(after_help = "Examples:\n  weir health --addr 127.0.0.1:9100 --ready")]
    Health(cmd::health::Health),
    /// Print the weir.toml reference (every key, type, default, meaning), or with
    /// --plugins the shipped plugins' config references, as Markdown.
    #[command(after_help = "Examples:\n  weir reference | less\n  weir reference --plugins")]
    Reference(cmd::reference::Reference),
    /// Print a shell completion script to stdout.
    #[command(
        after_help = "Examples:\n  weir completions bash > ~/.local/share/bash-completion/completions/weir\n  weir completions zsh > ~/.zfunc/_weir"
    )]
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print weir's man page (roff) to stdout, or with --dir write it and every
    /// subcommand's page (weir-run.1, weir-plugin-new.1, …) there.
    #[command(
        after_help = "Examples:\n  weir man > /usr/local/share/man/man1/weir.1 && man weir\n  weir man --dir /usr/local/share/man/man1 && man weir-run"
    )]
    Man {
        /// Write weir.1 and a page per subcommand into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
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
    #[cfg(feature = "workshop")]
    cmd::attach_workshop();
    let result = match cli.command {
        Command::Init(command) => command.run(),
        Command::Process(command) => command.run(),
        Command::Run(command) => command.run(),
        Command::Repair(command) => command.run(),
        Command::Replay(command) => command.run(),
        #[cfg(feature = "workshop")]
        Command::Generate(command) => command.run(),
        Command::Tail(command) => command.run(),
        Command::Report(command) => command.run(),
        Command::Schema { command } => command.run(),
        Command::Topics { command } => command.run(),
        Command::Dlq { command } => command.run(),
        #[cfg(feature = "workshop")]
        Command::Demo(command) => command.run(),
        #[cfg(feature = "workshop")]
        Command::Bench(command) => command.run(),
        Command::Shadow(command) => command.run(),
        Command::Check(command) => command.run(),
        Command::Health(command) => command.run(),
        Command::Reference(command) => command.run(),
        Command::Plugin { command } => command.run(),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "weir", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir: None } => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()).map_err(Into::into)
        }
        Command::Man { dir: Some(dir) } => clap_mangen::generate_to(Cli::command(), &dir)
            .map_err(|e| anyhow::anyhow!("cannot write the man pages into {}: {e}", dir.display())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            weir::say!("error: {error:#}");
            ExitCode::from(exit_code(&error))
        }
    }
}

/// 2: the config (or the command line) is wrong; 3: no broker answered; 1: anything else.
/// (0 is done; clap's usage errors are 2; a second SIGINT/SIGTERM exits 130/143.)
fn exit_code(error: &anyhow::Error) -> u8 {
    // A wrong config, or a plugin it names that cannot serve its stage: the user fixes the
    // config (a plugin failing on records is a failure while working, 1).
    let plugin_config = |e: &(dyn std::error::Error + 'static)| {
        e.downcast_ref::<weir_core::plugin::PluginError>().is_some_and(|p| p.is_config())
    };
    if error.chain().any(|e| e.is::<weir_core::config::ConfigError>() || plugin_config(e)) {
        2
    } else if error.chain().any(|e| e.is::<weir_kafka::BrokerUnreachable>()) {
        3
    } else {
        1
    }
}

/// Logging to stderr with the filter from `--log` / `WEIR_LOG`, else `RUST_LOG` (as other
/// Rust tools), else `info`. A filter that does not parse is an error naming it, not a
/// silent `info`.
fn init_logging(flag: Option<String>, format: LogFormat) -> Result<(), String> {
    if let LogFormat::Json = format {
        weir::json_stderr(); // what weir says besides logs (reports, errors) too
    }
    let (filter, from) = match (flag, std::env::var("RUST_LOG").ok().filter(|f| !f.is_empty())) {
        (Some(filter), _) => (filter, "--log / WEIR_LOG"),
        (None, Some(filter)) => (filter, "RUST_LOG"),
        (None, None) => ("info".to_string(), "the default"),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .map_err(|e| format!("log filter `{filter}` (from {from}) is not valid: {e}; e.g. `info`, `debug`, `weir=trace`"))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Text => {
            logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init()
        }
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every command and every argument says what it is for, and every command that does
    /// something shows an example: `weir … --help` is the manual at hand.
    #[test]
    fn every_command_and_argument_has_help_and_every_command_an_example() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name()).trim().to_string();
            if command.get_about().is_none() {
                missing.push(format!("`{path}`: no about"));
            }
            let leaf = command.get_subcommands().next().is_none();
            if leaf && !command.get_after_help().is_some_and(|h| h.to_string().contains("Example"))
            {
                missing.push(format!("`{path}`: no example (after_help)"));
            }
            for arg in command
                .get_arguments()
                .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
            {
                if arg.get_help().is_none() {
                    missing.push(format!("`{path}`: argument `{}` has no help", arg.get_id()));
                }
            }
            for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        let cli = Cli::command();
        walk(&cli, "", &mut missing);
        assert!(missing.is_empty(), "{} gaps in the help:\n{}", missing.len(), missing.join("\n"));
    }
}
