//! `weir shadow`: what a candidate plugin would change, on real records, before it goes live.

use super::Context;
use std::path::PathBuf;
use weir::shadow::{self, Candidate, ShadowReport};
use weir_core::pipeline::Pipeline;

#[derive(clap::Args)]
pub struct Shadow {
    #[command(flatten)]
    config: super::ConfigFile,
    /// The stage the candidate would replace: `validate`, `transform` (or `transform[N]`,
    /// or a transformer's `name`).
    #[arg(long)]
    stage: String,
    /// The candidate plugin, a `.wasm` component of the stage's world.
    #[arg(long, value_name = "WASM")]
    candidate: PathBuf,
    /// The candidate's `config` table alone, as a TOML file (default: the stage's own);
    /// paths in it resolve as in weir.toml.
    #[arg(long, value_name = "FILE")]
    candidate_config: Option<PathBuf>,
    /// JSON lines to run both chains over (no broker).
    #[arg(long, value_name = "FILE")]
    input: PathBuf,
    /// Exit 1 when more than this share of the records changed (e.g. `0.01`).
    #[arg(long, value_name = "RATIO")]
    max_changed: Option<f64>,
    /// Exit 1 when the candidate sends more than this many records to the dead letters
    /// that go on today (its faults included).
    #[arg(long, value_name = "N")]
    max_new_dead_letters: Option<u64>,
    /// The report as JSON on stdout.
    #[command(flatten)]
    report: super::Json,
}

impl Shadow {
    pub fn run(self) -> anyhow::Result<()> {
        if let Some(ratio) = self.max_changed {
            anyhow::ensure!(
                (0.0..=1.0).contains(&ratio),
                "--max-changed is a share of the records, from 0 to 1: {ratio}"
            );
        }
        let context = Context::load(&self.config)?;
        let config = context.config.for_files();
        let table = match &self.candidate_config {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(anyhow::Error::from)
                    .and_then(|text| Ok(toml::from_str::<toml::Table>(&text)?))
                    .map_err(|e| anyhow::anyhow!("--candidate-config {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let candidate =
            Candidate { stage: self.stage.clone(), plugin: self.candidate.clone(), config: table };
        let with_candidate = shadow::with_candidate(&config, &candidate)?;
        let runtime = context.runtime()?;
        let resolver = &weir::resolve::Resolver;
        let mut current = Pipeline::from_config(&runtime, &config, resolver)?;
        let mut theirs = Pipeline::from_config(&runtime, &with_candidate, resolver)?;
        let mut report = ShadowReport {
            stage: self.stage,
            candidate: self.candidate.display().to_string(),
            ..Default::default()
        };
        shadow::over_file(
            &mut current,
            &mut theirs,
            &self.input,
            config.pipeline.batch_size,
            &mut report,
        )?;
        match self.report.format() {
            weir::report::Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            weir::report::Format::Text => print!("{}", report.text()),
        }
        match shadow::gate(&report, self.max_changed, self.max_new_dead_letters) {
            Some(failed) => anyhow::bail!("the candidate does not pass: {failed}"),
            None => Ok(()),
        }
    }
}
