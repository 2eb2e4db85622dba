//! Contract 0.2's transformer: 0..N records per input with their own keys, headers and
//! named outputs; its answers read or refused as one frame. Through a stage, through the
//! pipeline, and through Kafka to the topics `[transform.outputs]` names.

use crate::common::kafka::*;
use crate::common::{plugin, repo, runtime, test_plugin};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;
use weir_core::config::Config;
use weir_core::pipeline::{Outcome, Output, Pipeline};
use weir_core::plugin::limits::Limits;
use weir_core::plugin::FaultKind;
use weir_core::record::{Header, Record};
use weir_core::stage::transformer::{Transform, Transformed};
use weir_core::stage::Stage;

fn pipeline(toml: &str) -> Pipeline {
    let config = Config::parse(toml, std::path::Path::new("routing.toml")).unwrap();
    Pipeline::from_config(&runtime(), &config, &weir::resolve::Resolver).unwrap()
}

/// Records from topic `in`, partition 4, offsets 10…, keyed `in-key` with header `h: 1`.
fn batch(values: &[&str]) -> Vec<Record> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| Record {
            key: Some(b"in-key".to_vec()),
            value: v.as_bytes().to_vec(),
            headers: vec![Header { key: "h".into(), value: b"1".to_vec() }],
            topic: "in".into(),
            partition: 4,
            offset: 10 + i as i64,
            timestamp: Some(1_000),
        })
        .collect()
}

fn outputs(outcome: &Outcome) -> &[Output] {
    match outcome {
        Outcome::Processed(outputs) => outputs,
        Outcome::DeadLetter(m, r) => {
            panic!("{} dead-lettered: {}", String::from_utf8_lossy(&m.value), r.summary())
        }
    }
}

fn values(outcome: &Outcome) -> Vec<String> {
    outputs(outcome)
        .iter()
        .map(|o| String::from_utf8_lossy(&o.message.value).into_owned())
        .collect()
}

fn dead_letter(outcome: &Outcome) -> (&Record, String) {
    match outcome {
        Outcome::DeadLetter(m, r) => (m, r.summary()),
        Outcome::Processed(_) => panic!("processed, not a dead letter"),
    }
}

#[test]
fn a_transform_filters_fans_out_rewrites_and_routes_and_every_output_keeps_its_provenance() {
    let mut pipeline = pipeline(&format!(
        "[[transform]]\nname = \"hand\"\nplugin = \"{}\"\n[transform.outputs]\nv2 = \"logins-v2\"\n",
        test_plugin("hostile-v2").display()
    ));
    let inputs = ["plain", "DROP", "FANOUT:3", "TO:v2", "TO:v9", "KEY:abc", "FORGE", "FAIL"];
    let out = pipeline.process(batch(&inputs));
    assert_eq!(out.len(), inputs.len(), "one outcome per input");

    let plain = &outputs(&out[0])[0];
    assert_eq!(
        (plain.message.key.as_deref(), plain.topic.as_deref()),
        (Some(&b"in-key"[..]), None)
    );
    assert!(plain.message.headers.is_empty(), "headers are what the plugin emitted: here none");
    assert_eq!(values(&out[1]), Vec::<String>::new(), "filtered: no record, no dead letter");
    assert_eq!(values(&out[2]), ["copy 0", "copy 1", "copy 2"]);
    for copy in outputs(&out[2]) {
        let m = &copy.message;
        assert_eq!(
            (m.topic.as_str(), m.partition, m.offset, m.timestamp),
            ("in", 4, 12, Some(1_000)),
            "provenance: where its input came from"
        );
    }
    assert_eq!(
        outputs(&out[3])[0].topic.as_deref(),
        Some("logins-v2"),
        "a named output goes to its topic"
    );

    let (unknown, reason) = dead_letter(&out[4]);
    assert_eq!(unknown.value, b"TO:v9", "the input as it came");
    assert!(reason.contains("output `v9`") && reason.contains("`v2`"), "{reason}");

    let keyed = &outputs(&out[5])[0].message;
    assert_eq!(keyed.key.as_deref(), Some(&b"abc"[..]));
    assert_eq!(keyed.headers, vec![Header { key: "x-set".into(), value: b"1".to_vec() }]);
    let forged = &outputs(&out[6])[0].message;
    assert_eq!(
        forged.headers,
        vec![Header { key: "x-kept".into(), value: b"yes".to_vec() }],
        "weir.* headers are the host's"
    );
    assert_eq!(dead_letter(&out[7]).1, "told to fail");

    let stats = &pipeline.stats;
    assert_eq!((stats.records_in, stats.processed, stats.dead_letters), (8, 6, 2));
}

/// An input is delivered whole or not at all: if any record it became is refused by a
/// later stage (here a contract-0.1 plugin that panics, in a chain with 0.2 ones), the
/// input is dead-lettered as it came, and none of its records is delivered.
#[test]
fn an_input_fanned_out_and_refused_later_is_one_dead_letter_as_it_came() {
    let v2 = test_plugin("hostile-v2");
    let mut pipeline = pipeline(&format!(
        "[[transform]]\nplugin = \"{v2}\"\n[[transform]]\nplugin = \"{v1}\"\n[[transform]]\nplugin = \"{v2}\"\n",
        v2 = v2.display(),
        v1 = test_plugin("hostile").display()
    ));
    let out = pipeline.process(batch(&["SPLIT:a,b", "SPLIT:c,PANIC,d", "SPLIT:e,FAIL", "f"]));
    assert_eq!(values(&out[0]), ["a", "b"]);
    let (panicked, reason) = dead_letter(&out[1]);
    assert_eq!(
        (panicked.value.as_slice(), panicked.key.as_deref()),
        (&b"SPLIT:c,PANIC,d"[..], Some(&b"in-key"[..]))
    );
    assert!(reason.contains("panicked"), "{reason}");
    let (failed, reason) = dead_letter(&out[2]);
    assert_eq!((failed.value.as_slice(), reason.as_str()), (&b"SPLIT:e,FAIL"[..], "told to fail"));
    assert_eq!(values(&out[3]), ["f"]);
    assert_eq!((pipeline.stats.processed, pipeline.stats.dead_letters), (2, 2));
}

/// What a 0.2 plugin answers is read as one frame; one that does not read is the plugin's
/// broken contract, found by splitting the batch like any fault, never a host panic. A
/// length past the plugin's memory, or records that would cost the host more than the
/// stage's memory limit, are refused before anything is copied.
#[test]
fn answers_that_do_not_read_or_cost_too_much_are_faults_of_their_records_only() {
    let p = runtime().load(&test_plugin("hostile-v2")).unwrap();
    assert_eq!(p.contract.to_string(), "weir:plugin@0.2.0");
    let limits = Limits { memory_mib: 64, ..Limits::default() };
    let mut stage = Stage::<Transform>::new("transform", &p, "{}".into(), limits).unwrap();
    let inputs = ["a", "MALFORMED", "b", "SHORT", "c", "LIAR", "d", "MANY", "e"];
    let out = stage.run(&batch(&inputs));
    assert_eq!(out.len(), inputs.len());
    for (i, v) in [(0, "a"), (2, "b"), (4, "c"), (6, "d"), (8, "e")] {
        let value = out[i].as_ref().unwrap().as_ref().unwrap().single_value().unwrap();
        assert_eq!(value, v.as_bytes(), "record {i}");
    }
    let fault = |i: usize| out[i].as_ref().unwrap_err();
    assert_eq!(fault(1).kind, FaultKind::Contract);
    assert!(
        fault(1).reason.contains("not a well-formed frame")
            && fault(1).reason.contains("unknown answer tag"),
        "{}",
        fault(1).reason
    );
    assert_eq!(fault(3).kind, FaultKind::Contract);
    assert!(fault(3).reason.contains("runs past the end"), "{}", fault(3).reason);
    assert_eq!(fault(5).kind, FaultKind::Memory, "{}", fault(5).reason);
    assert_eq!(fault(7).kind, FaultKind::Memory, "{}", fault(7).reason);
    assert!(stage.restarts() >= 4);
    let fresh = stage.run(&batch(&["FANOUT:2"])).remove(0).unwrap().unwrap();
    assert!(
        matches!(fresh, Transformed::Records(ref r) if r.len() == 2),
        "still healthy: {fresh:?}"
    );
}

/// The shipped router through Kafka (tansu): each login to the topic of its app's major
/// version, keyed by user with an `app-major` header; health checks dropped; a major with
/// no output dead-lettered saying so; every input's offset committed, the dropped ones too.
#[test]
fn the_router_sends_each_login_to_its_major_versions_topic_on_kafka() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("plugins/login-router/weir.toml")).unwrap();
    let plugins = plugin("login-router").parent().unwrap().display().to_string();
    let config = dir.path().join("router.toml");
    std::fs::write(&config, text.replace("\"../../target/plugins", &format!("\"{plugins}")))
        .unwrap();

    let versions = ["2.3.0", "2.4.1", "3.0.0-beta", "4.0.0"];
    let mut expected: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
    let events: Vec<(String, String)> = (0..200)
        .map(|i| {
            let version = versions[i % versions.len()];
            let device = if i % 10 == 7 { "health-check" } else { "iOS" };
            let user = format!("user-{i}");
            if device != "health-check" {
                let topic = match version.as_bytes()[0] {
                    b'2' => "user-login-v2",
                    b'3' => "user-login-v3",
                    _ => "user-login-dead-letter",
                };
                expected.entry(topic).or_default().insert(user.clone());
            }
            let value = format!(r#"{{"user_id":"{user}","app_version":"{version}","device_type":"{device}","timestamp":1730244200}}"#);
            (format!("event-{i}"), value)
        })
        .collect();
    let created = run_ok(with_config(brokers, &config, &["topics", "create"]));
    let created = String::from_utf8_lossy(&created.stdout);
    assert!(
        created.contains("user-login-v2") && created.contains("user-login-v3"),
        "the named outputs' topics too:\n{created}"
    );
    let run = spawn(with_config(brokers, &config, &["run"]));
    produce(brokers, events.into_iter());
    wait_for_no_lag(brokers, "weir-login-router", "user-login", Duration::from_secs(120));
    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));

    for topic in ["user-login-v2", "user-login-v3"] {
        let records = read_topic(brokers, topic, Duration::from_secs(2));
        let users: Vec<String> = records.iter().map(key).collect();
        let (lost, duplicated) =
            losses_and_duplicates(expected[topic].iter().map(String::as_str), &records);
        assert!(
            lost.is_empty() && duplicated.is_empty(),
            "{topic}: lost {lost:?}, duplicated {duplicated:?}"
        );
        assert_eq!(
            users.iter().cloned().collect::<HashSet<_>>(),
            expected[topic],
            "{topic}: keyed by user"
        );
        let major = &topic[topic.len() - 1..];
        assert!(
            records.iter().all(|m| header(m, "app-major").as_deref() == Some(major)),
            "{topic}: app-major header"
        );
        assert!(
            records
                .iter()
                .all(|m| String::from_utf8_lossy(&m.value).contains("2024-10-29 23:23:20")),
            "timestamped first"
        );
    }
    let dead = read_topic(brokers, "user-login-dead-letter", Duration::from_secs(2));
    let dead_users: HashSet<String> = dead
        .iter()
        .map(|m| {
            serde_json::from_slice::<serde_json::Value>(&m.value).unwrap()["user_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(dead_users, expected["user-login-dead-letter"]);
    assert!(
        dead.iter()
            .all(|m| header(m, weir_core::headers::REASONS)
                .is_some_and(|r| r.contains("output `v4`")))
    );
    let output = read_topic(brokers, "user-login-processed-production", Duration::from_secs(1));
    assert!(output.is_empty(), "every login was routed: {} on the default output", output.len());
}
