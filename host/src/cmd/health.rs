//! `weir health`: asks a running weir's `/healthz` (or `/readyz`) and exits 0 when it
//! answers OK — the container health check, with no curl in the image.

use std::time::Duration;

#[derive(clap::Args)]
pub struct Health {
    /// The address given to `--metrics` (or `[metrics] listen`) of the weir to ask.
    #[arg(long, default_value = "127.0.0.1:9100")]
    addr: String,
    /// Ask `/readyz` (plugins loaded, group joined, broker up) instead of `/healthz`.
    #[arg(long)]
    ready: bool,
}

impl Health {
    pub fn run(self) -> anyhow::Result<()> {
        let path = if self.ready { "readyz" } else { "healthz" };
        let url = format!("http://{}/{path}", self.addr.replace("0.0.0.0", "127.0.0.1"));
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        match agent.get(&url).call() {
            Ok(response) => {
                weir::say!("{}", response.into_string()?.trim_end());
                Ok(())
            }
            Err(ureq::Error::Status(_, response)) => {
                anyhow::bail!("{url}: {}", response.into_string()?.trim_end())
            }
            Err(e) => anyhow::bail!("{e}. Is weir running with --metrics {}?", self.addr),
        }
    }
}
