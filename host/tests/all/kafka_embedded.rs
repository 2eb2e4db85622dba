//! Streaming through a real Kafka-protocol broker: librdkafka's mock cluster, started
//! in this test process on loopback ports; `weir` runs as separate processes.

use crate::common;

use common::kafka::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use weir_core::headers;
use weir_workshop::embedded::EmbeddedBroker;

fn broker() -> EmbeddedBroker {
    embedded(2)
}

#[test]
fn records_flow_to_output_dead_letters_repair_and_parking() {
    let broker = broker();
    let brokers = broker.bootstrap_servers().to_string();
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("manifest.jsonl");
    run_ok(weir(
        &brokers,
        &[
            "generate",
            "--count",
            "3000",
            "--rate",
            "0",
            "--invalid-ratio",
            "0.1",
            "--seed",
            "5",
            "--manifest",
            manifest_path.to_str().unwrap(),
        ],
    ));
    let kinds = manifest(&manifest_path);
    let expect_processed: HashSet<&String> = kinds
        .iter()
        .filter(|(_, k)| !matches!(k.as_str(), "not-json" | "several-fields-missing"))
        .map(|(k, _)| k)
        .collect();
    let expect_parked: HashSet<&String> = kinds
        .iter()
        .filter(|(_, k)| matches!(k.as_str(), "not-json" | "several-fields-missing"))
        .map(|(k, _)| k)
        .collect();
    assert!(expect_parked.len() > 10);

    let run = spawn(weir(&brokers, &["run"]));
    let repair = spawn(weir(&brokers, &["repair"]));
    let processed = wait_for_topic(&brokers, TOPICS[1], Duration::from_secs(90), |records| {
        records.iter().map(key).collect::<HashSet<_>>().len() >= expect_processed.len()
    });
    let parked = wait_for_topic(&brokers, TOPICS[3], Duration::from_secs(60), |r| {
        r.len() >= expect_parked.len()
    });
    let run = terminate(run);
    let repair = terminate(repair);
    let run_err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{run_err}");
    assert!(repair.status.success(), "{}", String::from_utf8_lossy(&repair.stderr));

    // Every valid or repairable event is in the output; nothing else is.
    let processed_keys: HashSet<String> = processed.iter().map(key).collect();
    let expected: HashSet<String> = expect_processed.iter().map(|k| k.to_string()).collect();
    assert_eq!(processed_keys, expected);
    // Output satisfies the processed schema's timestamp format.
    for m in &processed {
        let v: serde_json::Value = serde_json::from_slice(&m.value).unwrap();
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), 19, "{ts}");
    }
    // Unrepairable events are parked with a reason; none is lost.
    let parked_keys: HashSet<String> = parked.iter().map(key).collect();
    let expected: HashSet<String> = expect_parked.iter().map(|k| k.to_string()).collect();
    assert_eq!(parked_keys, expected);
    assert!(parked.iter().all(|m| header(m, headers::PARK_REASON).is_some_and(|r| !r.is_empty())));

    // Dead letters keep the original bytes and carry provenance.
    let input = read_topic(&brokers, TOPICS[0], Duration::from_secs(2));
    let dead = read_topic(&brokers, TOPICS[2], Duration::from_secs(2));
    let (missing_key, _) = kinds.iter().find(|(_, k)| k.as_str() == "missing-device-type").unwrap();
    let letter = dead.iter().find(|m| &key(m) == missing_key).unwrap();
    let original = input
        .iter()
        .find(|m| &key(m) == missing_key && header(m, headers::REPAIR_ATTEMPTS).is_none())
        .unwrap();
    assert_eq!(letter.value, original.value);
    assert_eq!(header(letter, headers::STAGE).as_deref(), Some("validate"));
    assert_eq!(header(letter, headers::PLUGIN).as_deref(), Some("json-schema-validator"));
    assert!(header(letter, headers::REASONS)
        .unwrap()
        .contains("\\\"device_type\\\" is a required property"));
    assert_eq!(header(letter, headers::SOURCE_TOPIC).as_deref(), Some("user-login"));
    assert_eq!(header(letter, headers::SOURCE_OFFSET), Some(original.offset.to_string()));
    assert_eq!(header(letter, headers::SOURCE_PARTITION), Some(original.partition.to_string()));
    assert_eq!(header(letter, headers::REPAIR_ATTEMPTS).as_deref(), Some("0"));
    // ...and its repair came back through the input with the attempt counted.
    let repaired = processed.iter().find(|m| &key(m) == missing_key).unwrap();
    assert!(String::from_utf8_lossy(&repaired.value).contains(r#""device_type":"unknown""#));

    // The report on stop, and published to the analytics topic.
    assert!(run_err.contains("Top 3 locales by login count"), "{run_err}");
    let reports = read_topic(&brokers, TOPICS[4], Duration::from_secs(2));
    let last: serde_json::Value = serde_json::from_slice(&reports.last().unwrap().value).unwrap();
    assert_eq!(last["analytics"]["counters"]["total_logins"], last["pipeline"]["processed"]);
    assert_eq!(last["pipeline"]["processed"].as_u64().unwrap() as usize, processed.len());
}

#[test]
fn a_record_is_parked_after_its_last_repair_attempt() {
    let broker = broker();
    let brokers = broker.bootstrap_servers().to_string();
    let client = weir_kafka::client_config(&brokers, &Default::default());
    let producer = weir_kafka::flow::producer(&client).unwrap();
    let ticket = weir_kafka::flow::detached_ticket(1);
    let record = weir_kafka::flow::Outgoing {
        topic: TOPICS[2].into(),
        key: Some(b"looping".to_vec()),
        value: br#"{"user_id":"u"}"#.to_vec(),
        headers: vec![
            weir_core::record::Header {
                key: headers::REPAIR_ATTEMPTS.into(),
                value: b"3".to_vec(),
            },
            weir_core::record::Header {
                key: headers::REASONS.into(),
                value: br#"[{"path":"","reason":"still broken"}]"#.to_vec(),
            },
        ],
        raw_headers: None,
        origin: None,
        partition: None,
    };
    weir_kafka::flow::produce(&producer, &record, ticket.clone()).unwrap();
    weir_kafka::flow::wait_for(&ticket, Duration::from_secs(10)).unwrap();
    let repair = spawn(weir(&brokers, &["repair"]));
    let parked = wait_for_topic(&brokers, TOPICS[3], Duration::from_secs(30), |r| !r.is_empty());
    terminate(repair);
    assert_eq!(key(&parked[0]), "looping");
    assert_eq!(
        header(&parked[0], headers::PARK_REASON).as_deref(),
        Some("gave up after 3 repair attempts; last rejection: still broken")
    );
    assert!(
        read_topic(&brokers, TOPICS[0], Duration::from_secs(1)).is_empty(),
        "not sent back again"
    );
}

#[test]
fn an_unreachable_broker_is_a_clear_error_within_seconds() {
    let port = free_port();
    let started = Instant::now();
    let out = weir(&format!("127.0.0.1:{port}"), &["run"]).output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "exit code 3: no broker answered\n{err}");
    assert!(err.contains(&format!("cannot reach Kafka at 127.0.0.1:{port}")), "{err}");
    assert!(err.contains("--brokers"), "{err}");
}

#[test]
fn the_demo_runs_the_whole_pipeline_in_process() {
    let out =
        run_ok(weir("unused:1", &["demo", "--duration", "4s", "--rate", "300", "--seed", "9"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("embedded Kafka broker at"), "{err}");
    let line = err.lines().find(|l| l.starts_with("records in")).unwrap();
    let number = |label: &str| -> u64 {
        let rest = &line[line.find(label).unwrap() + label.len()..];
        rest.trim().split(' ').next().unwrap().parse().unwrap()
    };
    let generated = number("generated ");
    assert!(generated > 300, "{line}");
    // Everything generated was read (with the repaired re-sends that arrived in time),
    // and every record read was processed or dead-lettered.
    assert!(number("records in ") >= generated, "{line}");
    assert!(number("records in ") <= generated + number("repaired "), "{line}");
    assert_eq!(number("processed ") + number("dead letters "), number("records in "), "{line}");
    assert!(err.contains("Top 2 device types by login count"), "{err}");
    // Every processed login was looked up in the user-profiles table, which changed while
    // the demo ran; the users without a profile are a minority.
    let table =
        err.lines().find(|l| l.starts_with("user-profiles: ")).unwrap_or_else(|| panic!("{err}"));
    let of = |label: &str| -> u64 {
        let at = table.find(label).unwrap_or_else(|| panic!("{label:?} in {table}"));
        table[..at].trim_end().rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(of(" profiles written"), 900, "{table}");
    assert!(of(" changed") + of(" deleted") > 0, "{table}");
    assert_eq!(of(" lookups"), number("processed "), "{table}\n{line}");
    assert!(of(" found no profile") * 2 < of(" lookups"), "{table}");
    // A clean run ends cleanly: leaving the consumer groups logs no error.
    assert!(!err.contains("ERROR"), "{err}");
}

#[test]
fn the_demo_on_windows_shows_the_last_closed_windows() {
    let out = run_ok(weir(
        "unused:1",
        &["demo", "--duration", "5s", "--rate", "300", "--seed", "9", "--window", "1s"],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    let line =
        err.lines().find(|l| l.starts_with("windows closed")).unwrap_or_else(|| panic!("{err}"));
    let closed: u64 = line["windows closed ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(closed >= 3, "1 s windows over a 5 s run: {line}");
    let last: Vec<&str> = err
        .lines()
        .skip_while(|l| *l != "last closed:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(
        !last.is_empty() && last.iter().all(|l| l.contains(" → ") && l.contains("total_logins")),
        "{err}"
    );
    assert!(
        !err.contains("Top 2 device types by login count"),
        "windows instead of one running report: {err}"
    );
}

/// A second SIGTERM (or SIGINT) while weir drains after the first exits at once, with
/// 128 + the signal's number as shells report it.
#[test]
fn a_second_signal_exits_at_once_with_128_plus_its_number() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let mut demo = spawn(weir("unused:1", &["demo", "--duration", "60s", "--rate", "100"]));
        demo.wait_for_log("[  1 s]", Duration::from_secs(60));
        demo.signal(signal);
        demo.signal(signal);
        let started = Instant::now();
        let out = demo.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "a second SIG{signal}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(started.elapsed() < Duration::from_secs(5), "at once");
    }
}

/// `--log-format json`: every line weir writes to stderr is one JSON object — logs,
/// progress, the report and the final error alike.
#[test]
fn under_json_logs_every_stderr_line_is_one_json_object() {
    let demo = run_ok(weir(
        "unused:1",
        &["--log-format", "json", "--log", "info", "demo", "--duration", "2s", "--rate", "100"],
    ));
    let failed =
        weir("unused:1", &["--log-format", "json", "check", "--config", "/nonexistent/weir.toml"])
            .output()
            .unwrap();
    assert_eq!(failed.status.code(), Some(2));
    for (what, stderr) in [("demo", &demo.stderr), ("a failed check", &failed.stderr)] {
        let text = String::from_utf8_lossy(stderr);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 2 || what == "a failed check", "{what}: {text}");
        for line in &lines {
            let parsed: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {line}"));
            assert!(
                parsed["level"].is_string() && parsed["timestamp"].is_string(),
                "{what}: {line}"
            );
        }
    }
    let report = String::from_utf8_lossy(&demo.stderr);
    assert!(
        report.lines().any(|l| l.contains("weir report") && l.contains("records in")),
        "the report is one object: {report}"
    );
    let error: serde_json::Value = serde_json::from_slice(failed.stderr.trim_ascii()).unwrap();
    assert_eq!(error["level"], "ERROR");
    assert!(error["message"].as_str().unwrap().contains("cannot read config"), "{error}");
}
