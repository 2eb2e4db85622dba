//! Hot swap: replace a running pipeline's plugins between batches.
//!
//! `weir run` watches its plugin files (checked once a second) and reloads weir.toml and
//! every plugin on SIGHUP. The new pipeline is built aside; only if every stage loads,
//! implements its world and accepts its config does it replace the old one, between two
//! batches — so each batch is processed by exactly one version and offsets are untouched.
//! A plugin that fails is refused with a log line and the old one keeps running. Counts and
//! the aggregator's state carry over (snapshot → restore).

use crate::config::{Config, Resolve};
use crate::pipeline::Pipeline;
use crate::plugin::Runtime;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What identifies a version of a file without reading it.
type Signature = Option<(SystemTime, u64)>;

pub struct HotSwap {
    runtime: Arc<Runtime>,
    config: Config,
    reload_requested: Arc<AtomicBool>,
    /// How a reloaded stage's config becomes its plugin's `init` JSON.
    resolve: &'static dyn Resolve,
    watched: Vec<(PathBuf, Signature)>,
    last_check: Instant,
    /// Swaps done, for logs and tests.
    pub swaps: u64,
}

fn signature(path: &PathBuf) -> Signature {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn plugin_files(config: &Config) -> Vec<(PathBuf, Signature)> {
    config
        .stages()
        .iter()
        .map(|(_, s)| config.plugin_path(&s.plugin))
        .map(|p| {
            let sig = signature(&p);
            (p, sig)
        })
        .collect()
}

impl HotSwap {
    /// Watches the config's plugin files; `reload_requested` is set by the caller (the
    /// binary: on SIGHUP).
    pub fn new(
        runtime: Arc<Runtime>,
        config: Config,
        reload_requested: Arc<AtomicBool>,
        resolve: &'static dyn Resolve,
    ) -> HotSwap {
        let watched = plugin_files(&config);
        HotSwap {
            runtime,
            config,
            reload_requested,
            resolve,
            watched,
            last_check: Instant::now(),
            swaps: 0,
        }
    }

    /// Call between batches: swaps `pipeline` if a plugin changed or a reload was asked
    /// for. Returns whether it swapped.
    pub fn between_batches(&mut self, pipeline: &mut Pipeline) -> bool {
        let swaps = self.swaps;
        self.check(pipeline);
        self.swaps != swaps
    }

    fn check(&mut self, pipeline: &mut Pipeline) {
        let sighup = self.reload_requested.swap(false, Ordering::Relaxed);
        if !sighup && self.last_check.elapsed() < CHECK_EVERY {
            return;
        }
        self.last_check = Instant::now();
        let config = if sighup {
            match Config::load(&self.config.source) {
                Ok(config) => match restart_only_changes(&self.config, &config) {
                    changed if changed.is_empty() => config,
                    changed => {
                        tracing::error!(
                            "reload refused, the running pipeline carries on: {} changed, which only a restart applies \
                             (SIGHUP reloads the stages and their plugins)",
                            changed.join(", ")
                        );
                        return;
                    }
                },
                Err(e) => {
                    tracing::error!("reload refused, the running pipeline carries on: {e}");
                    return;
                }
            }
        } else {
            let now = plugin_files(&self.config);
            let changed: Vec<String> = now
                .iter()
                .zip(&self.watched)
                .filter(|(a, b)| a.1 != b.1)
                .map(|(a, _)| a.0.display().to_string())
                .collect();
            if changed.is_empty() {
                return;
            }
            // Remember this version, loadable or not: a half-written file is retried when it changes again.
            self.watched = now;
            tracing::info!(
                files = changed.join(", "),
                "plugin files changed; loading the new version"
            );
            self.config.clone()
        };
        match Pipeline::from_config(&self.runtime, &config, self.resolve) {
            Ok(mut next) => {
                carry_over(pipeline, &mut next);
                *pipeline = next;
                self.watched = plugin_files(&config);
                self.config = config;
                self.swaps += 1;
                tracing::info!(swap = self.swaps, "swapped in the new plugins between batches");
            }
            Err(e) => tracing::error!("new plugin refused, the running one carries on: {e:#}"),
        }
    }
}

/// Settings outside the stages that differ: the topics, the group, batching, the
/// breaker, the registry. (`kafka.brokers` is left out: `--brokers` overrides it.)
fn restart_only_changes(running: &Config, loaded: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.kafka, &loaded.kafka);
    let (p, q) = (&running.pipeline, &loaded.pipeline);
    [
        ("kafka.group_id", a.group_id != b.group_id),
        ("kafka.input_topic", a.input_topic != b.input_topic),
        ("kafka.output_topic", a.output_topic != b.output_topic),
        ("kafka.dead_letter_topic", a.dead_letter_topic != b.dead_letter_topic),
        ("kafka.parked_topic", a.parked_topic != b.parked_topic),
        ("kafka.analytics_topic", a.analytics_topic != b.analytics_topic),
        ("kafka.partitions", a.partitions != b.partitions),
        ("kafka.replication", a.replication != b.replication),
        ("kafka.properties", a.properties != b.properties),
        ("pipeline.batch_size", p.batch_size != q.batch_size),
        ("pipeline.cache_dir", p.cache_dir != q.cache_dir),
        ("pipeline.max_consecutive_faults", p.max_consecutive_faults != q.max_consecutive_faults),
        ("pipeline.fault_cooldown_s", p.fault_cooldown_s != q.fault_cooldown_s),
        ("registry.url", running.registry.url != loaded.registry.url),
        ("state", running.state != loaded.state),
        (
            "repair.max_attempts",
            running.repair.as_ref().map(|r| r.max_attempts)
                != loaded.repair.as_ref().map(|r| r.max_attempts),
        ),
    ]
    .into_iter()
    .filter_map(|(key, changed)| changed.then_some(key))
    .collect()
}

/// Counts, metrics, and the aggregator's partitions and state when the new aggregator can
/// read the old snapshot.
fn carry_over(old: &mut Pipeline, next: &mut Pipeline) {
    old.hand_over(next);
}
