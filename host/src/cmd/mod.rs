//! One type per subcommand, each with its own `run`, and the context they share.

#[cfg(feature = "workshop")]
pub mod bench;
pub mod check;
#[cfg(feature = "workshop")]
pub mod demo;
pub mod dlq;
#[cfg(feature = "workshop")]
pub mod generate;
pub mod health;
pub mod init;
pub mod plugin;
pub mod process;
pub mod progress;
pub mod reference;
pub mod repair;
pub mod replay;
pub mod report;
pub mod run;
pub mod schema;
pub mod shadow;
pub mod tail;
pub mod topics;
#[cfg(feature = "workshop")]
mod workshop;
#[cfg(feature = "workshop")]
pub use workshop::attach_workshop;

use rdkafka::config::ClientConfig;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use weir_core::config::Config;

use weir::server::Server;
use weir_core::ops::Ops;
use weir_core::plugin::Runtime;

/// `--config FILE` / `WEIR_CONFIG`, shared by every command that reads weir.toml.
#[derive(clap::Args, Clone)]
pub struct ConfigFile {
    /// The weir.toml to read; paths in it are relative to its own directory.
    #[arg(long = "config", env = "WEIR_CONFIG", default_value = "weir.toml", value_name = "FILE")]
    pub path: std::path::PathBuf,
}

/// `--json`: how every command is asked for JSON. The earlier `--report text|json` still
/// parses (scripts), unlisted.
#[derive(clap::Args, Clone, Copy)]
pub struct Json {
    /// JSON instead of text: one object (a report) or one per line (records).
    #[arg(long)]
    json: bool,
    /// The earlier spelling: `--report json` (or `WEIR_REPORT=json`) is `--json`.
    #[arg(long, value_enum, hide = true, env = "WEIR_REPORT")]
    report: Option<weir::report::Format>,
}

impl Json {
    pub fn format(self) -> weir::report::Format {
        match (self.json, self.report) {
            (true, _) => weir::report::Format::Json,
            (false, format) => format.unwrap_or(weir::report::Format::Text),
        }
    }
}

impl std::ops::Deref for ConfigFile {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

/// `--brokers` / `WEIR_BROKERS`, shared by every command that talks to Kafka.
#[derive(clap::Args)]
pub struct Brokers {
    /// Kafka bootstrap servers; default: `kafka.brokers` in the config.
    #[arg(long = "brokers", env = "WEIR_BROKERS")]
    pub brokers: Option<String>,
}

/// `--metrics ADDR`, for the long-running commands.
#[derive(clap::Args)]
pub struct Serve {
    /// Serve Prometheus metrics at http://ADDR/metrics, and /healthz and /readyz
    /// (e.g. 0.0.0.0:9100); default: `[metrics] listen` in the config, else not served.
    #[arg(long = "metrics", env = "WEIR_METRICS", value_name = "ADDR")]
    pub metrics: Option<String>,
}

/// What a command works with: the loaded config, and on demand the plugin runtime, a
/// checked Kafka client and the stop flag that SIGINT/SIGTERM raise.
pub struct Context {
    pub config: Config,
}

impl Context {
    pub fn load(config: &Path) -> anyhow::Result<Context> {
        let config = Config::load(config)?;
        weir_kafka::settings::check(&config)?;
        Ok(Context { config })
    }

    /// The config with `--brokers` applied, for a command that reads or writes the flow's
    /// topics: refused unless it names them (no default is anyone's topic).
    pub fn for_topics(config: &Path, brokers: &Brokers) -> anyhow::Result<Context> {
        let context = Context::with_brokers(config, brokers)?;
        context.config.require_topics()?;
        Ok(context)
    }

    /// The config with `--brokers` applied.
    pub fn with_brokers(config: &Path, brokers: &Brokers) -> anyhow::Result<Context> {
        let mut context = Context::load(config)?;
        if let Some(brokers) = &brokers.brokers {
            context.config.kafka.brokers = brokers.clone();
        }
        Ok(context)
    }

    pub fn runtime(&self) -> anyhow::Result<Arc<Runtime>> {
        weir_core::runtime_for(Some(&self.config))
    }

    /// Client settings for the config's brokers, once one of them has answered.
    pub fn kafka(&self) -> anyhow::Result<ClientConfig> {
        let client = self.client()?;
        weir_kafka::ensure_reachable(&client, &self.config.kafka.brokers)?;
        Ok(client)
    }

    /// Client settings, with `[kafka.security]`, without asking the broker (for commands
    /// that check later).
    pub fn client(&self) -> anyhow::Result<ClientConfig> {
        let mut client =
            weir_kafka::client_config(&self.config.kafka.brokers, &self.config.kafka.properties);
        weir_kafka::security::apply(&mut client, &self.config)?;
        Ok(client)
    }

    /// Metrics and health for a flow, served when `--metrics` or `[metrics] listen` asks,
    /// its page showing `topics` ([`weir::server::topic_roles`]); the server stops when the
    /// returned handle is dropped.
    pub fn serve(
        &self,
        serve: &Serve,
        topics: Vec<(String, String)>,
    ) -> anyhow::Result<(Ops, Option<Server>)> {
        let ops = Ops::default();
        let server = match serve.metrics.as_ref().or(self.config.metrics.listen.as_ref()) {
            Some(addr) => Some(weir::server::serve_page(
                addr,
                ops.clone(),
                weir::server::Page::of(&self.config.metrics, topics),
            )?),
            None => None,
        };
        Ok((ops, server))
    }

    /// For one-off commands beside a running `weir run` (replay, redrive): served only when
    /// `--metrics` asks, never from `[metrics] listen` (that address is the run's).
    pub fn serve_if_asked(
        &self,
        serve: &Serve,
        topics: Vec<(String, String)>,
    ) -> anyhow::Result<(Ops, Option<Server>)> {
        match serve.metrics {
            Some(_) => self.serve(serve, topics),
            None => Ok((Ops::default(), None)),
        }
    }

    /// A stop flag set by SIGINT or SIGTERM; a second signal exits at once, with 128 + its
    /// number (130 for SIGINT, 143 for SIGTERM) as shells do. Only the binary handles
    /// signals: the libraries take the flag as an argument.
    pub fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register_conditional_shutdown(signal, 128 + signal, stop.clone())?;
            signal_hook::flag::register(signal, stop.clone())?;
        }
        Ok(stop)
    }

    /// For commands SIGHUP does not reload (repair, generate): a hang-up drains and stops
    /// them like SIGTERM, instead of killing them mid-batch (its default).
    pub fn stop_on_signals_and_hangup() -> anyhow::Result<Arc<AtomicBool>> {
        let stop = Context::stop_on_signals()?;
        signal_hook::flag::register(signal_hook::consts::SIGHUP, stop.clone())?;
        Ok(stop)
    }

    /// A flag SIGHUP sets: `weir run` reloads its stages and their plugins.
    pub fn reload_on_hangup() -> anyhow::Result<Arc<AtomicBool>> {
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, flag.clone())?;
        Ok(flag)
    }
}

use weir_core::window::parse_duration;
