//! `weir init [DIR]`: a project that `weir check`, `weir process` and `weir run` work in.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Init {
    /// Where to write the project (created if needed; default: the current directory).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Replace files weir init would write that are there and differ (by default nothing
    /// is written over them).
    #[arg(long)]
    force: bool,
}

impl Init {
    pub fn run(self) -> anyhow::Result<()> {
        let project = weir::init::init(&self.dir, self.force)?;
        print!("{}", project.next_steps());
        Ok(())
    }
}
