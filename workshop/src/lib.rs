//! weir's workshop: the tools around weir, kept out of the product. `demo` (zero set-up:
//! an embedded broker, generate + run + repair, the report), `bench` (throughput, latency,
//! start-up and memory against baselines, the plugins' logic compiled natively among
//! them), `scaffold` (a new plugin project in Rust, JavaScript or Python), `generate` (the
//! user-login events) and `embedded` (librdkafka's mock cluster as a broker).
//!
//! The `weir` binary links this crate when its `workshop` feature is on (the default).
//! The workshop uses what the binary's library offers (config resolution, the status
//! server, report rendering, its stderr) through `Host`, which the binary attaches once:
//! so the crates stay a tree (weir → weir-workshop → weir-kafka → weir-core) and the
//! library never names the workshop.

pub mod bench;
pub mod demo;
pub mod embedded;
pub mod generate;
pub mod profiles;
pub mod scaffold;

use std::sync::OnceLock;
use weir_core::config::{Config, Resolve};
use weir_core::ops::Ops;

/// What the workshop borrows from the `weir` binary.
pub struct Host {
    /// How a stage's config becomes what its plugin's `init` receives.
    pub resolver: &'static dyn Resolve,
    /// Serves the status page and `/metrics` for `ops` at an address, until what it
    /// returns is dropped.
    pub serve: fn(&str, Ops) -> anyhow::Result<Served>,
    /// A report as a person reads it.
    pub render: fn(&weir_core::report::Report) -> String,
    /// Writes a line for a person (stderr, or JSON lines under `--log-format json`).
    pub say: fn(&str),
    /// Bytes of the status page the server sends (the bench reports it).
    pub status_page_bytes: usize,
}

/// A running status server (`Host::serve`): where it listens; dropped, it stops.
pub struct Served {
    pub addr: std::net::SocketAddr,
    pub server: Box<dyn std::any::Any>,
}

static HOST: OnceLock<Host> = OnceLock::new();

/// Gives the workshop the binary's services; the first call wins.
pub fn attach(host: Host) {
    let _ = HOST.set(host);
}

fn host() -> &'static Host {
    HOST.get().expect("weir_workshop::attach is called before the workshop is used")
}

/// A shipped plugin by its file name: beside the plugins the config names (as the
/// repository's weir.toml names them), else where weir looks for plugins by name.
fn shipped_plugin(config: &Config, file: &str) -> std::path::PathBuf {
    let beside = config.stages().into_iter().find_map(|(_, stage)| {
        let beside = config.plugin_path(&stage.plugin).parent()?.join(file);
        beside.is_file().then_some(beside)
    });
    beside.unwrap_or_else(|| config.plugin_path(std::path::Path::new(file)))
}

/// A line for a person, through the binary's `Host::say`.
#[macro_export]
#[doc(hidden)]
macro_rules! say {
    ($($arg:tt)*) => {{
        $crate::say_line(&format!($($arg)*));
    }};
}

#[doc(hidden)]
pub fn say_line(text: &str) {
    (host().say)(text)
}
