//! `weir demo`: an embedded broker with generate + run + repair, then the report.

use super::Context;
use std::time::Duration;
use weir_workshop::demo::DemoOptions;

#[derive(clap::Args)]
pub struct Demo {
    #[command(flatten)]
    config: super::ConfigFile,
    /// How long to generate before stopping and printing the report.
    #[arg(long, default_value = "20s", value_parser = super::parse_duration)]
    duration: Duration,
    /// Events generated per second.
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    /// The share of generated events that are invalid (they go to the dead letters).
    #[arg(long, default_value_t = 0.05)]
    invalid_ratio: f64,
    /// Seed the generator for the same events every time.
    #[arg(long)]
    seed: Option<u64>,
    /// Aggregate on tumbling windows of this size (e.g. `5s`) of the records' Kafka
    /// timestamps instead of one running report: the report shows the last closed windows.
    #[arg(long, value_parser = super::parse_duration)]
    window: Option<Duration>,
    /// Serve the status page (the flow, live) at this address while the demo runs;
    /// `off` to serve nothing. Default: a free port on loopback, printed at start.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    status: String,
}

impl Demo {
    pub fn run(self) -> anyhow::Result<()> {
        let mut context = Context::load(&self.config)?;
        if let (Some(size), Some(aggregate)) = (self.window, context.config.aggregate.as_mut()) {
            let size = format!("{}ms", size.as_millis());
            aggregate.window = Some(weir_core::config::WindowConfig {
                size,
                allowed_lateness: "1s".into(),
                ..Default::default()
            });
        }
        let stop = Context::stop_on_signals()?;
        let options = DemoOptions {
            duration: self.duration,
            rate: self.rate,
            invalid_ratio: self.invalid_ratio,
            seed: self.seed,
            status: (self.status != "off").then_some(self.status),
        };
        let report = weir_workshop::demo::demo(context.config, &options, stop)?;
        weir::say!("{report}");
        Ok(())
    }
}
