//! `weir process`: the pipeline over JSON lines, files or stdin to stdout.

use super::Context;
use std::path::PathBuf;
use weir::offline::{self, Files};
use weir_core::pipeline::Pipeline;

#[derive(clap::Args)]
pub struct Process {
    #[command(flatten)]
    config: super::ConfigFile,
    /// JSON lines to read (default: stdin).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Where processed records go, one per line (default: stdout).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Dead letters with their violations, one JSON object per line (default: stderr).
    #[arg(long)]
    dead_letter: Option<PathBuf>,
    /// Window results of a windowed aggregator, one JSON object per line (default: with the output).
    #[arg(long)]
    windows: Option<PathBuf>,
    /// Serve an enrichment table from a JSON-lines file to the stages naming it (their
    /// `tables`): one `{"key": "…", "value": …}` per line, `null` deleting; repeatable.
    #[arg(long = "table", value_name = "NAME=FILE")]
    tables: Vec<weir::served::TableFile>,
    /// The end-of-run report (on stderr: stdout is for records) as JSON.
    #[command(flatten)]
    report: super::Json,
}

impl Process {
    pub fn run(self) -> anyhow::Result<()> {
        let context = Context::load(&self.config)?;
        let runtime = context.runtime()?;
        let config = context.config.for_files();
        let resolve = weir_core::config::WithTables {
            tables: weir::served::load(&self.tables, Some(&config))?,
            inner: &weir::resolve::Resolver,
        };
        let mut pipeline = Pipeline::from_config(&runtime, &config, &resolve)?;
        let files = Files {
            input: self.input,
            output: self.output,
            rejects: self.dead_letter,
            windows: self.windows,
        };
        let report = offline::process(&mut pipeline, &config, &files, self.report.format())?;
        weir::say!("{}", report.rendered);
        Ok(())
    }
}
