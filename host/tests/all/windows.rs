//! Windowed aggregation on event time, against tansu: the window records `weir run` emits
//! equal those of one offline `weir process` per input partition over the same records
//! (same plugin, files) — in order, shuffled within the allowed lateness, with late
//! records, across SIGKILLs and with instances coming and going.

use crate::common::{self, kafka::*};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use weir_core::record::Record;

/// Event times start here (seconds; a multiple of every window size used).
const T0: i64 = 1_700_000_000;
const WINDOW_TOPIC: &str = "user-login-processed-production-windows";
const LATENESS_S: i64 = 5;

/// weir.toml with absolute paths, `partitions` input partitions, checkpoints every 2 s and
/// 10 s tumbling windows on the events' `timestamp` (readable text after the transform).
fn windowed_config(dir: &Path, partitions: u32) -> PathBuf {
    let text = common::absolute_weir_toml()
        .replace("partitions = 3", &format!("partitions = {partitions}"))
        .replace("checkpoint_interval_s = 5", "checkpoint_interval_s = 2")
        .replace("top_device_types = 2", "top_device_types = 10");
    let text = format!(
        "{text}\n[aggregate.window]\nsize = \"10s\"\ntime = {{ field = \"timestamp\", unit = \"text\" }}\nallowed_lateness = \"{LATENESS_S}s\"\n"
    );
    let path = dir.join("weir.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A valid login `n` at event time `t` (seconds); `device_id` names it.
fn login(n: usize, t: i64) -> String {
    let device = ["android", "iOS", "web"][n % 3];
    format!(
        r#"{{"user_id":"u{}","app_version":"2.{}.0","device_type":"{device}","ip":"10.0.0.{}","locale":"{}","device_id":"d{n}","timestamp":{t}}}"#,
        n % 37,
        n % 4,
        n % 250,
        ["RU", "US", "DE"][n % 3 / 2]
    )
}

fn device_id(value: &[u8]) -> String {
    serde_json::from_slice::<Value>(value).unwrap()["device_id"].as_str().unwrap().to_string()
}

/// Produces `(partition, value)` records, each to its partition, keyed by device id.
fn produce_to(brokers: &str, records: &[(i32, String)]) {
    let client = weir_kafka::client_config(brokers, &Default::default());
    let producer = weir_kafka::flow::producer(&client).unwrap();
    let ticket = weir_kafka::flow::detached_ticket(0);
    for (partition, value) in records {
        ticket.expect(1);
        let key = device_id(value.as_bytes()).into_bytes();
        let record = weir_kafka::flow::Outgoing::new(
            TOPICS[0],
            Some(key),
            value.clone().into_bytes(),
            vec![],
        )
        .to_partition(*partition);
        weir_kafka::flow::produce(&producer, &record, ticket.clone()).unwrap();
    }
    weir_kafka::flow::wait_for(&ticket, Duration::from_secs(60)).unwrap();
}

/// A window's result without where it was computed (a file or a topic), by (partition,
/// start in ms).
type Windows = BTreeMap<(i32, i64), Value>;

fn window_of(value: &[u8], partition: i32) -> ((i32, i64), Value) {
    let mut v: Value = serde_json::from_slice(value).unwrap();
    let start = v["window"]["start_ms"].as_i64().unwrap();
    v.as_object_mut().unwrap().remove("topic");
    v["partition"] = partition.into();
    ((partition, start), v)
}

/// What one `weir process` per input partition makes of the records (in offset order):
/// its windows (every one closes at the end of a file), the device ids of its late
/// records, and each partition's watermark at the end (latest event time − lateness, ms).
struct Offline {
    windows: Windows,
    late: BTreeSet<String>,
    watermarks: HashMap<i32, i64>,
}

fn offline(config: &Path, input: &[Record], dir: &Path) -> Offline {
    let mut by_partition: BTreeMap<i32, Vec<&Record>> = BTreeMap::new();
    for m in input {
        by_partition.entry(m.partition).or_default().push(m);
    }
    let (mut windows, mut late, mut watermarks) = (Windows::new(), BTreeSet::new(), HashMap::new());
    for (partition, mut records) in by_partition {
        records.sort_by_key(|m| m.offset);
        let (input, results, rejects) = (
            dir.join(format!("p{partition}.jsonl")),
            dir.join(format!("p{partition}.windows")),
            dir.join(format!("p{partition}.rejects")),
        );
        let lines: Vec<String> =
            records.iter().map(|m| String::from_utf8_lossy(&m.value).into_owned()).collect();
        std::fs::write(&input, lines.join("\n") + "\n").unwrap();
        let mut command = with_config("", config, &["process", "--output", "/dev/null"]);
        command
            .arg("--input")
            .arg(&input)
            .arg("--windows")
            .arg(&results)
            .arg("--dead-letter")
            .arg(&rejects);
        run_ok(command);
        for line in std::fs::read_to_string(&results).unwrap().lines() {
            let (at, window) = window_of(line.as_bytes(), partition);
            assert!(windows.insert(at, window).is_none(), "one result per window and partition");
        }
        for line in std::fs::read_to_string(&rejects).unwrap().lines() {
            let letter: Value = serde_json::from_str(line).unwrap();
            assert_eq!(letter["kind"], "late", "only late records are dead letters here: {letter}");
            late.insert(device_id(letter["value"].as_str().unwrap().as_bytes()));
        }
        let latest = records
            .iter()
            .map(|m| {
                serde_json::from_slice::<Value>(&m.value).unwrap()["timestamp"].as_i64().unwrap()
            })
            .max()
            .unwrap();
        watermarks.insert(partition, (latest - LATENESS_S) * 1000);
    }
    Offline { windows, late, watermarks }
}

impl Offline {
    /// The windows a live run has closed by now: those whose end its partition's
    /// watermark has passed (the rest stay open, waiting for more input).
    fn closed(&self) -> Windows {
        self.windows
            .iter()
            .filter(|((p, _), w)| w["window"]["end_ms"].as_i64().unwrap() <= self.watermarks[p])
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }
}

/// The window topic's results: each window's copies, by (partition, start).
fn emitted(records: &[Record]) -> BTreeMap<(i32, i64), Vec<Value>> {
    let mut windows: BTreeMap<(i32, i64), Vec<Value>> = BTreeMap::new();
    for m in records {
        let partition = serde_json::from_slice::<Value>(&m.value).unwrap()["partition"]
            .as_i64()
            .unwrap() as i32;
        let (at, window) = window_of(&m.value, partition);
        assert_eq!(key(m), format!("user-login/{partition}/{}", at.1), "a deterministic key");
        assert_eq!(header(m, "weir.window.start"), Some(at.1.to_string()));
        windows.entry(at).or_default().push(window);
    }
    windows
}

/// Reads the window topic until it holds every expected window, or the deadline passes.
fn wait_for_windows(
    brokers: &str,
    expected: &Windows,
    timeout: Duration,
) -> BTreeMap<(i32, i64), Vec<Value>> {
    let deadline = Instant::now() + timeout;
    loop {
        let windows = emitted(&read_topic(brokers, WINDOW_TOPIC, Duration::from_secs(1)));
        if expected.keys().all(|k| windows.contains_key(k)) || Instant::now() > deadline {
            return windows;
        }
    }
}

/// Every expected window emitted, every copy of it identical to the offline answer,
/// nothing else emitted; the duplicates (replays) counted apart. Returns the duplicates.
fn assert_windows_match(emitted: &BTreeMap<(i32, i64), Vec<Value>>, expected: &Windows) -> usize {
    let missing: Vec<_> = expected.keys().filter(|k| !emitted.contains_key(k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} windows never emitted: {missing:?}",
        missing.len(),
        expected.len()
    );
    let unexpected: Vec<_> = emitted.keys().filter(|k| !expected.contains_key(k)).collect();
    assert!(
        unexpected.is_empty(),
        "windows emitted that one offline pass does not close: {unexpected:?}"
    );
    let mut duplicates = 0;
    for (at, copies) in emitted {
        for copy in copies {
            assert_eq!(copy, &expected[at], "window {at:?} differs from the offline answer");
        }
        duplicates += copies.len() - 1;
    }
    duplicates
}

/// Four partitions: in order (a), shuffled within the allowed lateness (b), with records
/// later than it (c), and one that goes silent after five records (f). Every window of the
/// first three that their watermarks close is emitted, equal to the offline answer, while
/// the silent partition's window stays open; late records are dead letters of kind `late`,
/// counted, and the windows are those of the input without them.
#[test]
fn windows_equal_one_offline_pass_in_order_shuffled_and_late_and_a_silent_partition_holds_none_back(
) {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = windowed_config(dir.path(), 4);
    run_ok(with_config(brokers, &config, &["topics", "create"]));

    let mut records = Vec::new();
    let mut late_ids = BTreeSet::new();
    for i in 0..300usize {
        let t = T0 + i as i64;
        records.push((0, login(i, t)));
        // Shuffled: up to 4 s behind the newest so far, within the 5 s allowed.
        records.push((1, login(1000 + i, t - (i as i64 * 7 % 5))));
        // Every 25th is 30 s behind: its window has closed.
        let late = i >= 50 && i % 25 == 0;
        records.push((2, login(2000 + i, if late { t - 30 } else { t })));
        if late {
            late_ids.insert(format!("d{}", 2000 + i));
        }
    }
    records.extend((0..5).map(|i| (3, login(3000 + i, T0 + i as i64))));
    produce_to(brokers, &records);

    let input = read_topic(brokers, TOPICS[0], Duration::from_secs(2));
    assert_eq!(input.len(), records.len());
    let answer = offline(&config, &input, dir.path());
    assert_eq!(answer.late, late_ids, "offline: exactly the records 30 s behind are late");
    let expected = answer.closed();
    let silent: Vec<_> = answer.windows.keys().filter(|(p, _)| *p == 3).collect();
    assert_eq!(silent.len(), 1, "the silent partition has one window, still open live");
    assert!(!expected.keys().any(|(p, _)| *p == 3));
    assert_eq!(
        expected.keys().filter(|(p, _)| *p == 0).count(),
        29,
        "300 s in order: 29 of 30 windows closed"
    );

    let run = spawn(with_config(brokers, &config, &["run"]));
    let windows = wait_for_windows(brokers, &expected, Duration::from_secs(90));
    let duplicates = assert_windows_match(&windows, &expected);
    assert_eq!(duplicates, 0, "one run, no restart: each window once");

    let dead_letters = wait_for_topic(brokers, TOPICS[2], Duration::from_secs(30), |records| {
        records.len() >= late_ids.len()
    });
    let late: BTreeSet<String> = dead_letters
        .iter()
        .filter(|m| header(m, "weir.error.kind").as_deref() == Some("late"))
        .map(key)
        .collect();
    assert_eq!(late, late_ids, "each late record is a dead letter of kind `late`");
    assert_eq!(dead_letters.len(), late_ids.len(), "and nothing else is");
    let reasons = header(&dead_letters[0], "weir.error.reasons").unwrap();
    assert!(
        reasons.contains("too late for the window") && reasons.contains("watermark"),
        "{reasons}"
    );

    // The late records are delivered (not lost) and in no window: the windows are those
    // of the input without them.
    let processed = read_topic(brokers, TOPICS[1], Duration::from_secs(1));
    assert_eq!(processed.len(), records.len(), "every record is delivered, late ones too");
    let without_late: Vec<Record> =
        input.iter().filter(|m| !late_ids.contains(&key(m))).cloned().collect();
    let clean_dir = tempfile::tempdir().unwrap();
    let clean = offline(&config, &without_late, clean_dir.path());
    assert!(clean.late.is_empty());
    assert_eq!(clean.windows, answer.windows, "late records counted in no window");

    let stopped = terminate(run);
    let log = String::from_utf8_lossy(&stopped.stderr);
    assert!(stopped.status.success(), "{log}");
    assert!(
        log.contains(&format!("late records {}", late_ids.len())),
        "the report counts the late records:\n{log}"
    );
    println!(
        "windows: {} emitted equal to offline, {} late records as dead letters, partition 3 silent",
        expected.len(),
        late_ids.len()
    );
}

/// Logins with event time advancing 1 s per 6 records, shuffled within the lateness,
/// produced in chunks while `weir run` works (so kills land mid-stream).
fn stream(brokers: &str, count: usize, partitions: i32) -> std::thread::JoinHandle<()> {
    let brokers = brokers.to_string();
    std::thread::spawn(move || {
        let records: Vec<(i32, String)> = (0..count)
            .map(|i| {
                (
                    (i % partitions as usize) as i32,
                    login(i, T0 + (i / 6) as i64 - (i as i64 * 5 % 4)),
                )
            })
            .collect();
        for chunk in records.chunks(400) {
            produce_to(&brokers, chunk);
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

/// The live windows after a stream with interruptions, against the offline answer.
fn check_stream(brokers: &str, config: &Path, dir: &Path, count: usize, what: &str) {
    let input = read_topic(brokers, TOPICS[0], Duration::from_secs(2));
    assert_eq!(input.len(), count);
    let answer = offline(config, &input, dir);
    assert!(answer.late.is_empty(), "shuffled within the lateness: none late");
    let expected = answer.closed();
    let windows = wait_for_windows(brokers, &expected, Duration::from_secs(120));
    let duplicates = assert_windows_match(&windows, &expected);
    println!("windows {what}: {} windows, each equal to the offline answer, {duplicates} duplicates (replays, counted apart)", expected.len());
}

/// (d) `weir run` SIGKILLed twice mid-stream and restarted: every window is emitted, each
/// copy equal to the offline answer; duplicates are allowed and counted, none is missing.
#[test]
fn windows_are_exact_across_two_sigkills() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = windowed_config(dir.path(), 3);
    run_ok(with_config(brokers, &config, &["topics", "create"]));
    let count = 24_000;
    let producing = stream(brokers, count, 3);
    let mut run = spawn(with_config(brokers, &config, &["run"]));
    for more in [5_000, 6_000] {
        let so_far = read_topic(brokers, TOPICS[1], Duration::from_millis(500)).len();
        wait_for_count(brokers, TOPICS[1], so_far + more, Duration::from_secs(120));
        wait_for_commits(
            brokers,
            "weir-user-login",
            TOPICS[0],
            (so_far + more / 2) as i64,
            Duration::from_secs(60),
        );
        wait_for_checkpoints_covering(
            brokers,
            "weir-user-login-state",
            (so_far + more / 2) as i64,
            Duration::from_secs(60),
        );
        sigkill(run);
        run = spawn(with_config(brokers, &config, &["run"]));
    }
    producing.join().unwrap();
    check_stream(brokers, &config, dir.path(), count, "across two SIGKILLs");
    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
}

/// (e) Three `weir run` in one group on six partitions, one SIGKILLed mid-stream: its
/// partitions and their open windows move; every window is emitted, equal to the offline
/// answer.
#[test]
fn windows_are_exact_with_three_instances_and_one_killed() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = windowed_config(dir.path(), 6);
    run_ok(with_config(brokers, &config, &["topics", "create"]));
    let count = 24_000;
    let producing = stream(brokers, count, 6);
    let runs: Vec<Guarded> =
        (0..3).map(|_| spawn(with_config(brokers, &config, &["run"]))).collect();
    let mut runs = runs.into_iter();
    let victim = runs.next().unwrap();
    wait_for_count(brokers, TOPICS[1], 6_000, Duration::from_secs(120));
    wait_for_commits(brokers, "weir-user-login", TOPICS[0], 3_000, Duration::from_secs(60));
    wait_for_checkpoints_covering(brokers, "weir-user-login-state", 3_000, Duration::from_secs(60));
    sigkill(victim);
    producing.join().unwrap();
    check_stream(brokers, &config, dir.path(), count, "with three instances, one killed");
    for run in runs {
        terminate(run);
    }
}

/// One record whose event time is far in the future (issue #38, item 3) once moved its
/// partition's watermark there: the open window closed with what it had and every later
/// record was late, and the checkpointed watermark kept it so. Now such a record is late
/// itself (more than `max_future` ahead of the wall clock), and the window is whole.
#[test]
fn a_far_future_event_time_is_late_and_leaves_the_windows_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let config = windowed_config(dir.path(), 1);
    let mut lines: Vec<String> = (0..5).map(|n| login(n, T0 + n as i64)).collect();
    lines.push(login(5, 99_999_999_999));
    lines.extend((6..11).map(|n| login(n, T0 + n as i64 - 1)));
    let input = dir.path().join("input.jsonl");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let (results, rejects) = (dir.path().join("windows.jsonl"), dir.path().join("rejects.jsonl"));
    let mut command = with_config("", &config, &["process", "--output", "/dev/null"]);
    command
        .arg("--input")
        .arg(&input)
        .arg("--windows")
        .arg(&results)
        .arg("--dead-letter")
        .arg(&rejects);
    run_ok(command);
    let windows: Vec<Value> = std::fs::read_to_string(&results)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(windows.len(), 1, "one window, closed at the end of the file: {windows:?}");
    assert_eq!(windows[0]["window"]["start_ms"], T0 * 1000);
    let counted = windows[0].to_string();
    assert!(
        counted.contains("\"total_logins\":10"),
        "all ten on-time logins in the window: {counted}"
    );
    let letters: Vec<Value> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["kind"], "late");
    assert_eq!(device_id(letters[0]["value"].as_str().unwrap().as_bytes()), "d5");
    assert!(letters[0].to_string().contains("max_future"), "{}", letters[0]);
}
