//! `weir demo`: an embedded broker with generate + run + repair, then the report.

use super::Context;
use std::path::PathBuf;
use std::time::Duration;
use weir::demo::DemoOptions;

#[derive(clap::Args)]
pub struct Demo {
    #[arg(long, default_value = "weir.toml")]
    config: PathBuf,
    #[arg(long, default_value = "20s", value_parser = super::parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 500.0)]
    rate: f64,
    #[arg(long, default_value_t = 0.05)]
    invalid_ratio: f64,
    #[arg(long)]
    seed: Option<u64>,
}

impl Demo {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::load(&self.config)?;
        let stop = Context::stop_on_signals()?;
        let options = DemoOptions { duration: self.duration, rate: self.rate, invalid_ratio: self.invalid_ratio, seed: self.seed };
        let report = weir::demo::demo(context.config, &options, stop)?;
        weir::say!("{report}");
        Ok(())
    }
}
