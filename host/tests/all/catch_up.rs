//! Catching up a backlog (issue #39) on tansu, which answers a fetch with what it gathered
//! within the consumer's wait: a backlog written one record per batch — what any low-rate
//! producer writes, `weir generate --rate 250` among them — is read back at a rate
//! comparable with the same backlog written in big batches. With the 2 ms wait weir once
//! chose for latency, the one-record backlog went at ~3 records/s against ~140k/s.

use crate::common;
use common::kafka::*;
use std::path::{Path, PathBuf};
use std::time::Duration;
use weir_core::record::Record;

/// The least share of the big-batch rate a one-record-batch backlog is caught up at, in
/// these tests. Measured on 2 cores with tansu beside weir: 0.55–0.75 (tansu spends ~4×
/// the CPU serving one-record batches, on the same cores as weir; `weir bench --cluster`
/// reports the figure), against 0.00002 for the crawl. The floor leaves room for a loaded
/// or slow machine and still fails the crawl by three orders of magnitude.
pub const CATCH_UP_FLOOR: f64 = 0.1;

/// A copy of the repository's weir.toml whose topics and group are named after `name`,
/// with `extra` appended; written to `dir/FILE.toml`.
pub fn config_named(dir: &Path, file: &str, name: &str, extra: &str) -> PathBuf {
    let text = common::absolute_weir_toml()
        .replace("\"user-login-", &format!("\"{name}-user-login-"))
        .replace("\"user-login\"", &format!("\"{name}-user-login\""))
        .replace("\"weir-user-login\"", &format!("\"{name}-weir\""));
    let path = dir.join(format!("{file}.toml"));
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

/// `weir generate` settings that write one record per batch, as a producer at a low rate does.
pub const ONE_RECORD_PER_BATCH: &str = "[kafka.properties]\n\"batch.num.messages\" = \"1\"\n";

/// Records per second a run wrote `records` at, from its first output to its last by the
/// broker's timestamps (the run's start-up and group join are not counted), less its
/// `PAUSES` longest pauses of a second or more: a rebalance while the run catches up (the
/// churn's killed members leaving the group) is the coordinator's time, not the catch-up's.
/// The crawl this is for wrote hundreds of records a record or so per fetch, so leaving
/// out a few pauses cannot hide it.
pub fn output_rate(records: &[Record]) -> f64 {
    const PAUSES: usize = 3;
    assert!(records.len() >= 2, "a rate needs two outputs, not {}", records.len());
    let mut times: Vec<i64> =
        records.iter().map(|m| m.timestamp.expect("tansu timestamps every record")).collect();
    times.sort_unstable();
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable_by(|a, b| b.cmp(a));
    let paused: i64 = gaps.iter().take(PAUSES).filter(|gap| **gap >= 1000).sum();
    let busy_ms = times[times.len() - 1] - times[0] - paused;
    (records.len() - 1) as f64 * 1000.0 / busy_ms.max(1) as f64
}

/// `n` events generated to `config`'s input topic (created with the others), `per_batch`
/// giving the generator's own settings (one record per batch, or big batches by default).
fn backlog(brokers: &str, dir: &Path, name: &str, n: usize, per_batch: &str) -> PathBuf {
    let config = config_named(dir, name, name, "");
    run_ok(with_config(brokers, &config, &["topics", "create"]));
    let generator = config_named(dir, &format!("{name}-generator"), name, per_batch);
    run_ok(with_config(
        brokers,
        &generator,
        &["generate", "--count", &n.to_string(), "--rate", "0", "--seed", "3"],
    ));
    config
}

/// The rate one `weir run` catches up `n` records at, all in its input before it starts.
fn catch_up(brokers: &str, config: &Path, name: &str, n: usize) -> f64 {
    let output = format!("{name}-user-login-processed-production");
    let run = spawn(with_config(brokers, config, &["run"]));
    // Generous: the crawl this test is for took 45 s for 161 records.
    let records =
        wait_for_topic(brokers, &output, Duration::from_secs(90), |records| records.len() >= n);
    let out = terminate(run);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    output_rate(&records)
}

/// The rate a backlog of `n` events in big batches is caught up at: the reference the
/// other runs of a test are compared with.
pub fn big_batch_rate(brokers: &str, dir: &Path, n: usize) -> f64 {
    let config = backlog(brokers, dir, "reference", n, "");
    catch_up(brokers, &config, "reference", n)
}

#[test]
fn a_backlog_of_one_record_batches_is_caught_up_like_one_of_big_batches() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    let small = backlog(brokers, dir.path(), "small", n, ONE_RECORD_PER_BATCH);
    let big_rate = big_batch_rate(brokers, dir.path(), n);
    let small_rate = catch_up(brokers, &small, "small", n);
    let ratio = small_rate / big_rate;
    println!("catch-up on tansu: {n} events in one-record batches at {small_rate:.0}/s, in big batches at {big_rate:.0}/s: {ratio:.2}");
    assert!(ratio >= CATCH_UP_FLOOR, "one-record batches caught up at {small_rate:.0}/s, big batches at {big_rate:.0}/s: {ratio:.4} < {CATCH_UP_FLOOR}");
}
