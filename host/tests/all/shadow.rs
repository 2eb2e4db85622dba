//! `weir shadow` over a file: the candidate beside the current plugin on the same records,
//! each difference classified, and the gates a rollout must pass.

use crate::common;

use common::{cache_dir, plugin, test_plugin};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

fn shadow(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("shadow")
        .arg("--config")
        .arg(config)
        .args(args)
        .env("WEIR_CACHE_DIR", cache_dir())
        .env("WEIR_LOG", "warn")
        .output()
        .unwrap()
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn report(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", said(out)))
}

/// Generated login events (a tenth invalid), one per line.
fn events(dir: &Path, n: usize) -> std::path::PathBuf {
    let mut generator = weir_workshop::generate::Generator::new(Some(11), 0.1, 1000.0);
    let mut lines = Vec::new();
    for _ in 0..n {
        lines.extend(generator.next_event().value);
        lines.push(b'\n');
    }
    let path = dir.join("events.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

#[test]
fn a_candidate_with_another_format_changes_every_delivered_record_on_its_timestamp_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, common::login_config(&plugin("readable-timestamp"))).unwrap();
    let input = events(dir.path(), 300);
    let candidate_config = dir.path().join("candidate.toml");
    std::fs::write(&candidate_config, "format = \"%Y-%m-%dT%H:%M:%SZ\"\n").unwrap();
    let out = shadow(
        &config,
        &[
            "--stage",
            "transform",
            "--candidate",
            plugin("readable-timestamp").to_str().unwrap(),
            "--candidate-config",
            candidate_config.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", said(&out));
    let r = report(&out);
    let (changed, identical) = (r["changed"].as_u64().unwrap(), r["identical"].as_u64().unwrap());
    assert_eq!(r["records"], 300);
    // The valid records change; the invalid ones are dead letters both ways, for the same reasons.
    assert!(changed > 200 && identical > 0 && changed + identical == 300, "{r}");
    for other in ["new_dead_letters", "faulted", "newly_passing"] {
        assert_eq!(r[other], 0, "{other}: {r}");
    }
    assert_eq!(r["field_changes"], serde_json::json!([["/timestamp", changed]]), "{r}");
    let samples = r["samples"].as_array().unwrap();
    assert!(!samples.is_empty() && samples.len() <= 3, "{r}");
    assert!(samples.iter().all(|s| s["kind"] == "changed" && s["detail"] == "\"/timestamp\""));
}

#[test]
fn an_identical_rebuild_changes_nothing_and_passes_the_strictest_gates() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, common::login_config(&plugin("readable-timestamp"))).unwrap();
    let input = events(dir.path(), 200);
    let rebuild = dir.path().join("readable-timestamp-rebuild.wasm");
    std::fs::copy(plugin("readable-timestamp"), &rebuild).unwrap();
    let out = shadow(
        &config,
        &[
            "--stage",
            "transform",
            "--candidate",
            rebuild.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--max-changed",
            "0",
            "--max-new-dead-letters",
            "0",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", said(&out));
    let r = report(&out);
    assert_eq!((r["records"].as_u64(), r["identical"].as_u64()), (Some(200), Some(200)), "{r}");
    assert_eq!(r["samples"], serde_json::json!([]));
    assert_eq!(r["analytics"]["changed"], serde_json::json!([]), "{r}");
    assert!(r["analytics"]["current"]["counters"].as_object().is_some_and(|c| !c.is_empty()));
}

/// An aggregator candidate: the records go on unchanged, and what differs is the report
/// over them — here a top-1 table of locales where the current plugin keeps its default.
#[test]
fn an_aggregator_candidate_is_compared_by_its_analytics_over_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, common::login_config(&plugin("readable-timestamp"))).unwrap();
    let input = events(dir.path(), 300);
    let candidate_config = dir.path().join("candidate.toml");
    std::fs::write(&candidate_config, "top_locales = 1\n").unwrap();
    let shadow_with = |gate: &[&str]| {
        let mut args = vec![
            "--stage",
            "aggregate",
            "--candidate",
            plugin("login-analytics").to_str().unwrap(),
            "--candidate-config",
            candidate_config.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--json",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(gate.iter().map(|a| a.to_string()));
        shadow(&config, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = shadow_with(&[]);
    assert!(out.status.success(), "{}", said(&out));
    let r = report(&out);
    assert_eq!((r["records"].as_u64(), r["identical"].as_u64()), (Some(300), Some(300)), "{r}");
    assert_eq!(r["analytics"]["changed"], serde_json::json!(["/tables/top_locales"]), "{r}");
    assert_eq!(r["analytics"]["candidate"]["tables"]["top_locales"].as_array().unwrap().len(), 1);
    assert!(r["analytics"]["current"]["tables"]["top_locales"].as_array().unwrap().len() > 1);
    let gated = shadow_with(&["--max-analytics-changes", "0"]);
    assert_eq!(gated.status.code(), Some(1), "{}", said(&gated));
    assert!(
        said(&gated).contains("1 counters or tables of the analytics or window results changed")
    );
}

/// A candidate that traps, loops, waits on the clock or hoards memory on a few records: each is stopped by
/// the stage's limits and counted as faulted, the comparison goes on over the rest, and
/// the gate refuses the rollout (exit 1, saying why).
#[test]
fn a_faulting_candidate_is_stopped_by_its_limits_counted_and_refused_by_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!(
            // Half a second per call: a loaded machine never times out an honest batch.
            "[pipeline]\nbatch_size = 50\n\n[transform]\nplugin = \"{}\"\nlimits = {{ call_timeout_ms = 500 }}\n",
            plugin("readable-timestamp").display()
        ),
    )
    .unwrap();
    let mut lines = String::new();
    for i in 0..200 {
        let note = match i {
            50 | 150 => "PANIC",
            80 => "WAIT",
            100 => "LOOP",
            120 => "ALLOC",
            _ => "ok",
        };
        lines += &format!("{{\"timestamp\": 1730244201, \"n\": {i}, \"note\": \"{note}\"}}\n");
    }
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, lines).unwrap();
    let args = |gate: &'static [&'static str]| {
        let mut args = vec![
            "--stage".to_string(),
            "transform".into(),
            "--candidate".into(),
            test_plugin("hostile").display().to_string(),
            "--input".into(),
            input.display().to_string(),
            "--json".into(),
        ];
        args.extend(gate.iter().map(|a| a.to_string()));
        args
    };
    let run = |gate| {
        let args = args(gate);
        shadow(&config, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&[]);
    assert!(out.status.success(), "no gate, no refusal: {}", said(&out));
    let r = report(&out);
    assert_eq!((r["records"].as_u64(), r["faulted"].as_u64()), (Some(200), Some(5)), "{r}");
    // The rest pass through the candidate unchanged, so the current plugin's timestamps differ.
    assert_eq!(r["changed"], 195, "{r}");
    let faults: Vec<&str> = r["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "faulted")
        .map(|s| s["source"].as_str().unwrap())
        .collect();
    assert_eq!(faults, ["in.jsonl:51", "in.jsonl:81", "in.jsonl:101"], "{r}");

    let gated = run(&["--max-new-dead-letters", "0"]);
    assert_eq!(gated.status.code(), Some(1), "{}", said(&gated));
    assert!(said(&gated).contains("5 more dead letters, 5 of them faults"), "{}", said(&gated));
    let ratio = run(&["--max-changed", "0.5"]);
    assert_eq!(ratio.status.code(), Some(1), "{}", said(&ratio));
    assert!(said(&ratio).contains("0.9750 of the records changed"), "{}", said(&ratio));
}

#[test]
fn a_stage_that_is_not_there_or_not_compared_is_refused_naming_the_stages() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, common::login_config(&plugin("readable-timestamp"))).unwrap();
    let input = events(dir.path(), 3);
    for (stage, says) in [
        (
            "transfrom",
            "no stage `transfrom` to shadow: the config has validate, transform, aggregate, repair",
        ),
        ("repair", "a repair candidate is not compared yet"),
    ] {
        let out = shadow(
            &config,
            &[
                "--stage",
                stage,
                "--candidate",
                plugin("readable-timestamp").to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
            ],
        );
        assert!(!out.status.success() && said(&out).contains(says), "{}", said(&out));
    }
}

/// A range of the input topic on tansu: read in no consumer group, so the live group has
/// nothing committed by it and no record reaches the output or the dead letters.
#[test]
fn shadowing_a_range_of_the_input_topic_commits_nothing_and_produces_nothing() {
    use common::kafka::*;
    let _alone = one_group_test_at_a_time();
    let (tansu, dir, config) = tansu_with_topics();
    let brokers = tansu.brokers.as_str();
    let mut generator = weir_workshop::generate::Generator::new(Some(5), 0.1, 1000.0);
    let events: Vec<(String, String)> = (0..40)
        .map(|_| generator.next_event())
        .map(|e| (e.key, String::from_utf8_lossy(&e.value).into_owned()))
        .collect();
    produce(brokers, events.into_iter());
    let candidate_config = dir.path().join("candidate.toml");
    std::fs::write(&candidate_config, "format = \"%Y-%m-%dT%H:%M:%SZ\"\n").unwrap();
    let out = run_ok(with_config(
        brokers,
        &config,
        &[
            "shadow",
            "--stage",
            "transform",
            "--candidate",
            plugin("readable-timestamp").to_str().unwrap(),
            "--candidate-config",
            candidate_config.to_str().unwrap(),
            "--from",
            "earliest",
            "--json",
        ],
    ));
    let r = report(&out);
    let (changed, identical) = (r["changed"].as_u64().unwrap(), r["identical"].as_u64().unwrap());
    assert_eq!(r["records"], 40, "{r}");
    assert!(changed > 25 && changed + identical == 40, "{r}");
    assert_eq!(r["field_changes"], serde_json::json!([["/timestamp", changed]]), "{r}");
    // Nothing on the output, the dead letters, or the state topic `topics create` made.
    for topic in [TOPICS[1], TOPICS[2], "weir-user-login-state"] {
        assert!(read_topic(brokers, topic, Duration::from_secs(1)).is_empty(), "{topic}");
    }
    let progress = group_progress(brokers, "weir-user-login", TOPICS[0]);
    assert!(progress.iter().all(|(committed, _)| committed.is_none()), "{progress:?}");
}

/// The live input on tansu: what arrives from now on is compared until `--count`, in no
/// consumer group — nothing committed, nothing produced.
#[test]
fn shadowing_the_live_input_compares_what_arrives_and_commits_nothing() {
    use common::kafka::*;
    let _alone = one_group_test_at_a_time();
    let (tansu, dir, config) = tansu_with_topics();
    let brokers = tansu.brokers.as_str();
    let candidate_config = dir.path().join("candidate.toml");
    std::fs::write(&candidate_config, "format = \"%Y-%m-%dT%H:%M:%SZ\"\n").unwrap();
    let mut child = spawn(with_config(
        brokers,
        &config,
        &[
            "shadow",
            "--stage",
            "transform",
            "--candidate",
            plugin("readable-timestamp").to_str().unwrap(),
            "--candidate-config",
            candidate_config.to_str().unwrap(),
            "--live",
            "--count",
            "20",
            "--json",
        ],
    ));
    child.wait_for_log("shadowing the live user-login", Duration::from_secs(60));
    // It reads from the end as it finds it: records go on arriving until it has its 20.
    let mut generator = weir_workshop::generate::Generator::new(Some(9), 0.1, 1000.0);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "{}", child.stderr_so_far());
        let events: Vec<(String, String)> = (0..5)
            .map(|_| generator.next_event())
            .map(|e| (e.key, String::from_utf8_lossy(&e.value).into_owned()))
            .collect();
        produce(brokers, events.into_iter());
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", said(&out));
    let r = report(&out);
    let changed = r["changed"].as_u64().unwrap();
    assert_eq!(r["records"], 20, "{r}");
    assert!(changed > 10 && changed + r["identical"].as_u64().unwrap() == 20, "{r}");
    assert_eq!(r["field_changes"], serde_json::json!([["/timestamp", changed]]), "{r}");
    // Nothing on the output, the dead letters, or the state topic `topics create` made.
    for topic in [TOPICS[1], TOPICS[2], "weir-user-login-state"] {
        assert!(read_topic(brokers, topic, Duration::from_secs(1)).is_empty(), "{topic}");
    }
    let progress = group_progress(brokers, "weir-user-login", TOPICS[0]);
    assert!(progress.iter().all(|(committed, _)| committed.is_none()), "{progress:?}");
}

/// A windowed aggregator's candidate: its results are compared window by window (those
/// still open closed at the end), the records themselves unchanged.
#[test]
fn a_windowed_aggregator_candidate_is_compared_window_by_window() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    let windowed = format!(
        "{}\n[aggregate.window]\nsize = \"10s\"\ntime = {{ field = \"timestamp\", unit = \"text\" }}\nallowed_lateness = \"1h\"\n",
        common::login_config(&plugin("readable-timestamp"))
    );
    std::fs::write(&config, windowed).unwrap();
    let input = events(dir.path(), 300);
    let candidate_config = dir.path().join("candidate.toml");
    std::fs::write(&candidate_config, "top_locales = 1\n").unwrap();
    let args = |gate: &'static [&'static str]| {
        let mut args = vec![
            "--stage".to_string(),
            "aggregate".into(),
            "--candidate".into(),
            plugin("login-analytics").display().to_string(),
            "--candidate-config".into(),
            candidate_config.display().to_string(),
            "--input".into(),
            input.display().to_string(),
            "--json".into(),
        ];
        args.extend(gate.iter().map(|a| a.to_string()));
        args
    };
    let run = |gate| {
        let args = args(gate);
        shadow(&config, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", said(&out));
    let r = report(&out);
    assert_eq!((r["records"].as_u64(), r["identical"].as_u64()), (Some(300), Some(300)), "{r}");
    let windows = &r["windows"];
    let changed: Vec<&str> =
        windows["changed"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    // The generated events fall in one window (a millisecond apart): closed at the end.
    assert!(windows["compared"].as_u64().unwrap() >= 1 && !changed.is_empty(), "{r}");
    assert!(changed.iter().all(|c| c.ends_with("/tables/top_locales")), "{changed:?}");
    let gated = run(&["--max-analytics-changes", "0"]);
    assert_eq!(gated.status.code(), Some(1), "{}", said(&gated));
}
