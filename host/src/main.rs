//! The `weir` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
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
    /// Repair dead letters from a file (as written by `weir process --dead-letter`).
    Repair {
        #[arg(long, default_value = "weir.toml")]
        config: PathBuf,
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
        /// Records that could not be repaired, with the reason (default: stderr).
        #[arg(long)]
        unrepairable: Option<PathBuf>,
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
enum PluginCommand {
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
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
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
        Command::Repair { config, input, output, unrepairable } => {
            let config = Config::load(&config)?;
            let runtime = weir::runtime_for(Some(&config))?;
            let mut repairer = Repairer::from_config(&runtime, &config)?;
            let files = Files { input, output, rejects: unrepairable };
            let (fixed, unrepairable) = offline::repair(&mut repairer, &config, &files)?;
            eprintln!("repaired {fixed} · unrepairable {unrepairable}");
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
