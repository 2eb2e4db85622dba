//! Aggregator state per input partition, checkpointed to a compacted topic: analytics
//! that count every record exactly once across SIGKILLs, rebalances and instances, while
//! delivery stays at-least-once. Against tansu, with `weir` as separate processes; the
//! expected answer is one `weir process` over the same input records.

use crate::common::{self, kafka::*};
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// weir.toml with absolute paths, `partitions` input partitions and checkpoints every 2 s.
fn state_config(dir: &Path, partitions: u32) -> PathBuf {
    let text = common::absolute_weir_toml()
        .replace("partitions = 3", &format!("partitions = {partitions}"))
        .replace("checkpoint_interval_s = 5", "checkpoint_interval_s = 2");
    assert!(
        text.contains("checkpoint_interval_s = 2"),
        "weir.toml sets [state] checkpoint_interval_s"
    );
    let path = dir.join("weir.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// What `weir report` says of the group now.
fn group_report(brokers: &str, config: &Path) -> Value {
    let out = run_ok(with_config(brokers, config, &["report", "--report", "json"]));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `weir report` until its analytics equal `expected`; the last one either way.
fn group_report_reaching(
    brokers: &str,
    config: &Path,
    expected: &Value,
    timeout: Duration,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let report = group_report(brokers, config);
        if report["analytics"] == *expected || Instant::now() > deadline {
            return report;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn counter(analytics: &Value, name: &str) -> u64 {
    analytics["counters"][name].as_u64().unwrap()
}

/// 20,000 events, 5% invalid; `weir run` SIGKILLed twice mid-stream and restarted. Each
/// restart restores the partition states from the changelog and replays what they miss
/// without producing it again: the group's analytics equal one process over the input,
/// exactly, while the output holds duplicates (at-least-once), counted apart.
#[test]
fn analytics_count_every_record_once_across_sigkills() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = state_config(dir.path(), 3);
    let manifest_path = dir.path().join("manifest.jsonl");
    let created = run_ok(with_config(brokers, &config, &["topics", "create"]));
    assert!(String::from_utf8_lossy(&created.stdout)
        .contains("created weir-user-login-state (compacted"));

    let generator = spawn(with_config(
        brokers,
        &config,
        &[
            "generate",
            "--count",
            "20000",
            "--rate",
            "1000",
            "--invalid-ratio",
            "0.05",
            "--seed",
            "11",
            "--manifest",
            manifest_path.to_str().unwrap(),
        ],
    ));
    let mut kills = 0;
    let mut run = spawn(with_config(brokers, &config, &["run"]));
    for more in [4_000, 5_000] {
        // Past some progress, a commit and a checkpoint, then at any moment.
        let so_far =
            read_topic(brokers, "user-login-processed-production", Duration::from_millis(500))
                .len();
        wait_for_count(
            brokers,
            "user-login-processed-production",
            so_far + more,
            Duration::from_secs(120),
        );
        wait_for_commits(
            brokers,
            "weir-user-login",
            "user-login",
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
        kills += 1;
        run = spawn(with_config(brokers, &config, &["run"]));
    }
    let generated = generator.wait_with_output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));

    let kinds = manifest(&manifest_path);
    let valid: HashSet<&str> = kinds
        .iter()
        .filter(|(_, kind)| kind.as_str() == "valid")
        .map(|(k, _)| k.as_str())
        .collect();
    let input = read_topic(brokers, "user-login", Duration::from_secs(3));
    assert_eq!(input.len(), 20_000);
    let expected = single_process_analytics(&config, &input, dir.path());
    assert_eq!(
        counter(&expected, "total_logins"),
        valid.len() as u64,
        "one process counts each valid event once"
    );

    let report = group_report_reaching(brokers, &config, &expected, Duration::from_secs(120));
    if report["analytics"] != expected {
        let stopped = terminate(run);
        panic!(
            "the group's analytics after {kills} SIGKILLs: {} of {} logins; changelog {}; last run's log:\n{}",
            counter(&report["analytics"], "total_logins"), counter(&expected, "total_logins"), report["partitions"],
            String::from_utf8_lossy(&stopped.stderr)
        );
    }
    let processed = read_topic(brokers, "user-login-processed-production", Duration::from_secs(3));
    let (lost, duplicates) = losses_and_duplicates(valid.iter().copied(), &processed);
    assert!(lost.is_empty(), "{} valid events never reached the output", lost.len());

    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    assert_eq!(
        group_report(brokers, &config)["analytics"],
        expected,
        "after the final checkpoint too"
    );
    println!(
        "state across {kills} SIGKILLs: 20000 events ({} valid), total_logins {} exact, {} duplicates in the output \
         (at-least-once, not counted), changelog {:?}",
        valid.len(), counter(&expected, "total_logins"), duplicates.len(),
        report["partitions"].as_array().unwrap().iter().map(|p| format!("{}/{} @{} {} B", p["topic"], p["partition"], p["offset"], p["bytes"])).collect::<Vec<_>>(),
    );
}

/// 6 partitions, three `weir run` in one group; one is SIGKILLed and another joins
/// mid-stream, so partitions and their states move. `weir report` merges every
/// partition's latest state: the answer of one process over the same input, exactly.
#[test]
fn three_instances_and_a_kill_report_what_one_process_would() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = state_config(dir.path(), 6);
    let manifest_path = dir.path().join("manifest.jsonl");
    run_ok(with_config(brokers, &config, &["topics", "create"]));
    let generator = spawn(with_config(
        brokers,
        &config,
        &[
            "generate",
            "--count",
            "20000",
            "--rate",
            "700",
            "--invalid-ratio",
            "0.05",
            "--seed",
            "12",
            "--manifest",
            manifest_path.to_str().unwrap(),
        ],
    ));
    let mut instances: Vec<Guarded> =
        (0..3).map(|_| spawn(with_config(brokers, &config, &["run"]))).collect();
    wait_for_count(brokers, "user-login-processed-production", 4_000, Duration::from_secs(120));
    sigkill(instances.remove(1));
    instances.push(spawn(with_config(brokers, &config, &["run"])));
    let generated = generator.wait_with_output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));

    let kinds = manifest(&manifest_path);
    let valid: HashSet<&str> = kinds
        .iter()
        .filter(|(_, kind)| kind.as_str() == "valid")
        .map(|(k, _)| k.as_str())
        .collect();
    let processed = wait_for_topic(
        brokers,
        "user-login-processed-production",
        Duration::from_secs(180),
        |records| {
            let keys: HashSet<String> = records.iter().map(key).collect();
            valid.iter().all(|k| keys.contains(*k))
        },
    );
    let input = read_topic(brokers, "user-login", Duration::from_secs(3));
    let expected = single_process_analytics(&config, &input, dir.path());
    let report = group_report_reaching(brokers, &config, &expected, Duration::from_secs(120));
    assert_eq!(report["analytics"], expected, "the group's analytics equal one process's");
    assert_eq!(
        report["partitions"].as_array().unwrap().len(),
        6,
        "every partition has its state: {report}"
    );

    let mut held = Vec::new();
    for instance in instances {
        let stopped = terminate(instance);
        let stderr = String::from_utf8_lossy(&stopped.stderr).into_owned();
        assert!(stopped.status.success(), "{stderr}");
        held.push(
            stderr
                .lines()
                .find(|l| l.contains("(partitions "))
                .unwrap_or("(no partitions)")
                .trim()
                .to_string(),
        );
    }
    assert_eq!(
        group_report(brokers, &config)["analytics"],
        expected,
        "after every instance stopped"
    );
    let (_, duplicates) = losses_and_duplicates(valid.iter().copied(), &processed);
    println!(
        "scale-out: 6 partitions, 3 instances, 1 SIGKILLed, 1 joined; total_logins {} exact; {} duplicates in the \
         output; at the end the instances held {held:?}",
        counter(&expected, "total_logins"), duplicates.len()
    );
}

/// A snapshot the aggregator cannot read: refused with the partition named, the
/// partition starts empty, and the report says so.
#[test]
fn a_corrupt_snapshot_is_refused_and_the_report_says_so() {
    use weir_core::state::{PartitionSnapshot, Restore, StateChange};
    let config = weir_core::config::Config::load(&common::repo().join("weir.toml")).unwrap();
    let mut pipeline = weir_core::pipeline::Pipeline::from_config(
        &common::runtime(),
        &config,
        &weir::resolve::Resolver,
    )
    .unwrap();
    pipeline.keep_partition_states();
    let key = ("user-login".to_string(), 1);
    let corrupt = PartitionSnapshot {
        topic: key.0.clone(),
        partition: 1,
        offset: 40,
        state: b"not a snapshot".to_vec(),
    };
    pipeline
        .apply(StateChange::Assigned(vec![Restore { key: key.clone(), snapshot: Some(corrupt) }]));
    assert_eq!(pipeline.stats.state_restore_failures, 1);
    let report = pipeline.report(Vec::new()).unwrap();
    let text = weir::report::text(&report);
    assert!(text.contains("1 partition states could not be restored and started empty"), "{text}");
    assert_eq!(report.analytics.as_ref().unwrap().1.counters[0].value, 0, "empty, not garbage");
    assert!(text.contains("(partitions user-login/1)"));
}

/// A batch the breaker holds is judged (validated, transformed) but not settled: judged
/// again and settled once, it is folded once, counted once, and its dead letters are
/// counted once in `weir_dead_letters_total` — not once per attempt.
#[test]
fn a_held_batch_is_folded_and_counted_once_when_retried() {
    let config = weir_core::config::Config::load(&common::repo().join("weir.toml")).unwrap();
    let mut pipeline = weir_core::pipeline::Pipeline::from_config(
        &common::runtime(),
        &config,
        &weir::resolve::Resolver,
    )
    .unwrap();
    let metrics = weir_core::ops::Metrics::new();
    pipeline.observe(&metrics);
    let valid = r#"{"user_id":"u1","app_version":"2.3.0","device_type":"iOS","ip":"164.116.28.203","locale":"MD","device_id":"d1","timestamp":1730244200}"#;
    let mut batch: Vec<_> =
        (0..5).map(|i| weir_core::record::Record { offset: i, ..common::message(valid) }).collect();
    batch.push(weir_core::record::Record { offset: 5, ..common::message(r#"{"user_id":"u1"}"#) });
    for _ in 0..3 {
        let held = pipeline.judge(batch.clone());
        assert_eq!(
            held.verdicts().filter(|v| v.is_some()).count(),
            1,
            "the invalid record is refused each time"
        );
    }
    let outcomes = pipeline.process(batch);
    assert_eq!(outcomes.len(), 6);
    assert_eq!(
        (pipeline.stats.records_in, pipeline.stats.processed, pipeline.stats.dead_letters),
        (6, 5, 1)
    );
    let report = pipeline.report(Vec::new()).unwrap();
    assert_eq!(report.analytics.as_ref().unwrap().1.counters[0].value, 5);
    let exposed = metrics.encode();
    let counted: Vec<&str> = exposed
        .lines()
        .filter(|l| l.starts_with("weir_dead_letters_total{") && !l.ends_with(" 0"))
        .collect();
    assert_eq!(
        counted,
        [r#"weir_dead_letters_total{stage="validate",kind="violation"} 1"#],
        "counted once, not once per attempt"
    );
}

/// The changelog is weir's own but not beyond reach: snapshots rewritten to claim offsets
/// before 0 (which failed every start) and past their partition's end (which skipped the
/// partition's analytics for good) are refused by name, those partitions start empty and
/// are rebuilt from their first record: the analytics stay exact.
#[test]
fn snapshots_claiming_offsets_outside_their_partition_are_refused() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = state_config(dir.path(), 3);
    run_ok(with_config(brokers, &config, &["topics", "create"]));
    let generate = |seed: &str| {
        run_ok(with_config(
            brokers,
            &config,
            &["generate", "--count", "60", "--rate", "0", "--invalid-ratio", "0", "--seed", seed],
        ))
    };
    generate("3");
    let run = spawn(with_config(brokers, &config, &["run"]));
    wait_for_count(brokers, "user-login-processed-production", 60, Duration::from_secs(120));
    let out = terminate(run);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The latest snapshot of each partition, written again claiming impossible offsets.
    let mut latest = std::collections::BTreeMap::new();
    for record in read_topic(brokers, "weir-user-login-state", Duration::from_secs(2)) {
        latest.insert(key(&record), record);
    }
    assert_eq!(latest.len(), 3, "a snapshot per partition after a graceful stop");
    let client = weir_kafka::client_config(brokers, &Default::default());
    let producer = weir_kafka::flow::producer(&client).unwrap();
    let ticket = weir_kafka::flow::detached_ticket(latest.len());
    for (i, (partition, record)) in latest.iter().enumerate() {
        let claimed = if i == 1 { "1000000" } else { "-5" };
        let headers = vec![weir_core::record::Header {
            key: weir_kafka::changelog::OFFSET_HEADER.into(),
            value: claimed.into(),
        }];
        let bogus = weir_kafka::flow::Outgoing::new(
            "weir-user-login-state",
            Some(partition.clone().into_bytes()),
            record.value.clone(),
            headers,
        );
        weir_kafka::flow::produce(&producer, &bogus, ticket.clone()).unwrap();
    }
    weir_kafka::flow::wait_for(&ticket, Duration::from_secs(30)).unwrap();

    generate("4");
    let run = spawn(with_config(brokers, &config, &["run"]));
    let input = read_topic(brokers, "user-login", Duration::from_secs(2));
    assert_eq!(input.len(), 120);
    let expected = single_process_analytics(&config, &input, dir.path());
    let report = group_report_reaching(brokers, &config, &expected, Duration::from_secs(120));
    let out = terminate(run);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(report["analytics"], expected, "exact after the refused snapshots:\n{log}");
    assert_eq!(log.matches("outside 0..=").count(), 3, "each refused by name:\n{log}");
}
