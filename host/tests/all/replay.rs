//! Replay and dead-letter operations against tansu: where a group starts (`--from`).

use crate::common::kafka::*;
use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn login(key: &str) -> (String, String) {
    let value = format!(
        r#"{{"user_id":"{key}","app_version":"2.3.0","device_type":"android","ip":"10.0.0.1","locale":"RU","device_id":"{key}","timestamp":1700000000}}"#
    );
    (key.to_string(), value)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn keys(records: &[weir_core::record::Record]) -> Vec<String> {
    let mut keys: Vec<String> = records.iter().map(key).collect();
    keys.sort();
    keys
}

/// `weir run --from TIME` on a new group starts each partition at its first record at or
/// after the time; a group with offsets is moved only with `--reset`, and not while a
/// member runs.
#[test]
fn run_from_a_time_starts_at_the_first_record_at_or_after_it_in_each_partition() {
    let _alone = one_group_test_at_a_time();
    let (tansu, _dir, config) = tansu_with_topics();
    let brokers = tansu.brokers.as_str();

    let before: Vec<_> = (0..30).map(|i| login(&format!("a{i:02}"))).collect();
    produce(brokers, before.clone().into_iter());
    // A boundary after every record of the first batch (their timestamps are their
    // produce times).
    let boundary = boundary_now();
    let after: Vec<_> = (0..30).map(|i| login(&format!("b{i:02}"))).collect();
    produce(brokers, after.clone().into_iter());
    let input = read_topic(brokers, TOPICS[0], Duration::from_secs(1));
    assert_eq!(input.len(), 60);
    for m in &input {
        let ts = m.timestamp.unwrap();
        assert_eq!(
            key(m).starts_with('b'),
            ts >= boundary,
            "{} at {ts}, boundary {boundary}",
            key(m)
        );
    }

    let from = weir_core::window::rfc3339(boundary);
    let run = spawn(with_config(brokers, &config, &["run", "--from", &from]));
    wait_for_count(brokers, TOPICS[1], 30, Duration::from_secs(60));
    let out = read_topic(brokers, TOPICS[1], Duration::from_secs(2));
    let expected: Vec<String> = after.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys(&out), expected, "exactly the records at or after {from}");

    // A member runs: moving the group is refused, naming it.
    let refused =
        with_config(brokers, &config, &["run", "--from", "earliest", "--reset"]).output().unwrap();
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && text.contains("has members running"), "{text}");
    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));

    // Offsets committed: --from alone is refused, with --reset the group moves.
    let refused = with_config(brokers, &config, &["run", "--from", "earliest"]).output().unwrap();
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && text.contains("has committed offsets"), "{text}");
    let run = spawn(with_config(brokers, &config, &["run", "--from", "earliest", "--reset"]));
    wait_for_count(brokers, TOPICS[1], 90, Duration::from_secs(60));
    let out = read_topic(brokers, TOPICS[1], Duration::from_secs(2));
    assert_eq!(out.len(), 90);
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for k in keys(&out) {
        *seen.entry(k).or_default() += 1;
    }
    let twice: BTreeSet<&String> = seen.iter().filter(|(_, n)| **n == 2).map(|(k, _)| k).collect();
    let once: BTreeSet<&String> = seen.iter().filter(|(_, n)| **n == 1).map(|(k, _)| k).collect();
    assert_eq!(
        twice,
        after.iter().map(|(k, _)| k).collect(),
        "from the earliest: the later records a second time"
    );
    assert_eq!(
        once,
        before.iter().map(|(k, _)| k).collect(),
        "and the earlier ones for the first time"
    );
    terminate(run);
}

/// `weir dlq stats` over a dead-letter topic with known contents: the known counts, by
/// stage, kind, path and reason (two missing fields group as one reason), sample keys from
/// the rows' own records; it reads to the end and stops, and a second run says the same.
#[test]
fn dlq_stats_counts_what_the_dead_letters_hold() {
    let _alone = one_group_test_at_a_time();
    let (tansu, _dir, config) = tansu_with_topics();
    let brokers = tansu.brokers.as_str();
    let mut records: Vec<(String, String)> = (0..10).map(|i| login(&format!("ok{i}"))).collect();
    let without = |key: String, field: &str| {
        let mut value: serde_json::Value = serde_json::from_str(&login(&key).1).unwrap();
        value.as_object_mut().unwrap().remove(field);
        (key, value.to_string())
    };
    records.extend((0..4).map(|i| without(format!("nodevice{i}"), "device_type")));
    records.extend((0..3).map(|i| without(format!("nolocale{i}"), "locale")));
    records.extend(
        (0..5).map(|i| (format!("soon{i}"), login("x").1.replace("1700000000", "\"soon\""))),
    );
    records.extend((0..3).map(|i| (format!("junk{i}"), format!("not json {i}"))));
    produce(brokers, records.into_iter());
    let run = spawn(with_config(brokers, &config, &["run"]));
    wait_for_count(brokers, TOPICS[1], 10, Duration::from_secs(60));
    wait_for_count(brokers, TOPICS[2], 15, Duration::from_secs(60));
    terminate(run);

    let stats = || -> serde_json::Value {
        serde_json::from_slice(
            &run_ok(with_config(brokers, &config, &["dlq", "stats", "--json"])).stdout,
        )
        .unwrap()
    };
    let first = stats();
    assert_eq!(first["topics"][TOPICS[2]], 15, "{first}");
    assert_eq!(first["topics"][TOPICS[3]], 0, "{first}");
    let rows: Vec<(u64, String, String, String)> = first["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["count"].as_u64().unwrap(),
                r["kind"].as_str().unwrap().into(),
                r["path"].as_str().unwrap().into(),
                r["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    // Values are masked (five different "soon"s group), names kept: two missing
    // properties are two rows, each naming its property.
    let row = |reason: &str| rows.iter().position(|r| r.3.starts_with(reason));
    let at = |reason: &str| row(reason).unwrap_or_else(|| panic!("no row {reason}: {first}"));
    let (device, locale) =
        (at("\"device_type\" is a required property"), at("\"locale\" is a required property"));
    let (soon, junk) = (at("\"…\" is not of type \"integer\""), at("value is not valid JSON"));
    assert_eq!(
        [rows[device].0, rows[locale].0, rows[soon].0, rows[junk].0],
        [4, 3, 5, 3],
        "{first}"
    );
    assert_eq!(rows.len(), 4, "{first}");
    assert_eq!(rows[soon].2, "/timestamp");
    assert!(rows.iter().all(|r| r.1 == "violation"));
    for (at, prefix, samples) in
        [(device, "nodevice", 3), (locale, "nolocale", 3), (soon, "soon", 3), (junk, "junk", 3)]
    {
        let row = &first["rows"][at];
        let keys = row["sample_keys"].as_array().unwrap();
        assert_eq!(keys.len(), samples);
        assert!(keys.iter().all(|k| k.as_str().unwrap().starts_with(prefix)), "{row}");
        assert!(row["oldest"].as_i64().unwrap() <= row["newest"].as_i64().unwrap());
    }
    assert_eq!(stats()["rows"], first["rows"], "it commits nothing: a second run reads the same");
    let text =
        String::from_utf8(run_ok(with_config(brokers, &config, &["dlq", "stats"])).stdout).unwrap();
    assert!(
        text.contains("user-login-dead-letter: 15 records")
            && text.contains("is a required property"),
        "{text}"
    );
    // Progress is drawn for people only: on a terminal (a pty from `script`) a bar, piped
    // (above) nothing on stderr.
    let piped = run_ok(with_config(brokers, &config, &["dlq", "stats"]));
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("reading"), "piped: quiet");
    let line = format!("{} dlq stats --config {}", env!("CARGO_BIN_EXE_weir"), config.display());
    let on_a_terminal = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("WEIR_BROKERS", brokers)
        .env("WEIR_LOG", "warn")
        .env("TERM", "xterm")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&on_a_terminal.stdout);
    assert!(on_a_terminal.status.success(), "{shown}");
    assert!(
        shown.contains("reading user-login-dead-letter") && shown.contains("/15 records"),
        "a bar on a terminal: {shown:?}"
    );
    assert!(shown.contains("user-login-dead-letter: 15 records"), "then the table: {shown}");
}

/// Records parked because the repair could not fix them (no default for `locale`) are
/// sent back with `weir dlq redrive` once the repair is fixed: `--dry-run` moves nothing;
/// the redrive keeps the rate, resumes after a SIGKILL without sending anything again,
/// and every parked record reaches the output. (The kill's worst moment, between a
/// record's acknowledgement and its commit, is made certain in
/// `faults::a_redrive_interrupted_between_send_and_commit_sends_nothing_twice`.)
#[test]
fn a_redrive_after_a_fix_brings_every_parked_record_to_the_output() {
    let _alone = one_group_test_at_a_time();
    let (tansu, dir, broken) = tansu_with_topics();
    let brokers = tansu.brokers.as_str();
    let text = std::fs::read_to_string(&broken).unwrap();
    let fixed = dir.path().join("fixed.toml");
    let with_locale = text.replace(
        "defaults = { device_type = \"unknown\" }",
        "defaults = { device_type = \"unknown\", locale = \"unknown\" }",
    );
    assert_ne!(with_locale, text, "weir.toml's repair has defaults to extend");
    std::fs::write(&fixed, with_locale).unwrap();

    let parked_keys: Vec<String> = (0..40).map(|i| format!("nolocale{i:02}")).collect();
    let mut records: Vec<(String, String)> = (0..10).map(|i| login(&format!("ok{i}"))).collect();
    records.extend(parked_keys.iter().map(|k| {
        let mut value: serde_json::Value = serde_json::from_str(&login(k).1).unwrap();
        value.as_object_mut().unwrap().remove("locale");
        (k.clone(), value.to_string())
    }));
    produce(brokers, records.into_iter());
    let run = spawn(with_config(brokers, &broken, &["run"]));
    let repair = spawn(with_config(brokers, &broken, &["repair"]));
    wait_for_count(brokers, TOPICS[3], 40, Duration::from_secs(90));
    terminate(repair);
    let repair = spawn(with_config(brokers, &fixed, &["repair"]));

    let stats = run_ok(with_config(brokers, &fixed, &["dlq", "stats"]));
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.contains("user-login-dead-letter-parked: 40 records"), "{stats}");
    println!("{stats}");
    let dry = run_ok(with_config(brokers, &fixed, &["dlq", "redrive", "--dry-run"]));
    println!("{}", String::from_utf8_lossy(&dry.stdout));
    let dry = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.contains("would send 40 records from user-login-dead-letter-parked back to user-login"),
        "{dry}"
    );
    assert_eq!(
        read_topic(brokers, TOPICS[0], Duration::from_secs(1)).len(),
        50,
        "a dry run moves nothing"
    );

    let redriven = |records: &[weir_core::record::Record]| -> Vec<weir_core::record::Record> {
        // What the redrive sent (repairs of them carry the count on, not the origin).
        records.iter().filter(|m| header(m, "weir.redrive.from").is_some()).cloned().collect()
    };
    let addr = format!("127.0.0.1:{}", free_port());
    let first =
        spawn(with_config(brokers, &fixed, &["dlq", "redrive", "--rate", "4", "--metrics", &addr]));
    // Mid-redrive, as its own metric says: eight records sent back.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let redriven = crate::ops::get(&format!("http://{addr}/metrics")).and_then(|(_, body)| {
            body.lines()
                .find_map(|l| l.strip_prefix("weir_redriven_records_total "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        });
        if redriven.is_some_and(|n| n >= 8.0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "weir_redriven_records_total did not reach 8 within 60 s: {redriven:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sigkill(first);
    let before_resume = redriven(&read_topic(brokers, TOPICS[0], Duration::from_secs(1))).len();
    let second = run_ok(with_config(brokers, &fixed, &["dlq", "redrive", "--rate", "4"]));
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("redrive user-login-dead-letter-parked → user-login: sent"), "{said}");

    let input = read_topic(brokers, TOPICS[0], Duration::from_secs(1));
    let mut sent = redriven(&input);
    sent.sort_by_key(|m| m.timestamp);
    let (lost, duplicates) = losses_and_duplicates(parked_keys.iter().map(String::as_str), &sent);
    assert!(lost.is_empty(), "never sent back: {lost:?}");
    assert!(duplicates.is_empty(), "sent again after the SIGKILL: {duplicates:?}");
    for m in &sent {
        assert_eq!(header(m, "weir.repair.attempts").as_deref(), Some("0"));
        assert_eq!(header(m, "weir.redrive.count").as_deref(), Some("1"));
        assert!(
            header(m, "weir.error.stage").is_none() && header(m, "weir.park.reason").is_none(),
            "provenance is not sent back"
        );
    }
    // The resumed run's pace: its records over their span.
    let resumed = &sent[before_resume.min(sent.len() - 2)..];
    let span_s = (resumed.last().unwrap().timestamp.unwrap() - resumed[0].timestamp.unwrap())
        as f64
        / 1000.0;
    let rate = (resumed.len() - 1) as f64 / span_s;
    assert!(
        span_s >= 5.0 && (3.2..=4.8).contains(&rate),
        "{} records over {span_s:.1} s = {rate:.2}/s, asked 4/s",
        resumed.len()
    );

    let output = wait_for_topic(brokers, TOPICS[1], Duration::from_secs(90), |records| {
        let keys: BTreeSet<String> = records.iter().map(key).collect();
        parked_keys.iter().all(|k| keys.contains(k))
    });
    let (lost, duplicates) = losses_and_duplicates(parked_keys.iter().map(String::as_str), &output);
    assert!(lost.is_empty());
    println!("redrive: 40 parked records back on the output, {} duplicates there, {} sent again after the SIGKILL; resumed at {rate:.2}/s", duplicates.len(), sent.len() - 40);
    terminate(repair);
    terminate(run);
}

/// A boundary after every record produced so far: waits until the clock has passed it.
fn boundary_now() -> i64 {
    let boundary = now_ms() + 1;
    let deadline = Instant::now() + Duration::from_secs(5);
    while now_ms() <= boundary {
        assert!(Instant::now() < deadline);
        std::thread::yield_now();
    }
    boundary
}

/// `weir replay --from T1 --to T2` processes exactly the records written in [T1, T2) —
/// counted by offsets — into its own topic, stops by itself, and leaves the main group's
/// committed offsets as they were.
#[test]
fn a_replay_processes_exactly_its_range_and_leaves_the_main_group_alone() {
    let _alone = one_group_test_at_a_time();
    let (tansu, _dir, config) = tansu_with_topics();
    let brokers = tansu.brokers.as_str();
    produce(brokers, (0..20).map(|i| login(&format!("a{i:02}"))));
    let t1 = boundary_now();
    produce(brokers, (0..30).map(|i| login(&format!("b{i:02}"))));
    let t2 = boundary_now();
    produce(brokers, (0..20).map(|i| login(&format!("c{i:02}"))));

    let run = spawn(with_config(brokers, &config, &["run"]));
    wait_for_no_lag(brokers, "weir-user-login", TOPICS[0], Duration::from_secs(60));
    terminate(run);
    let main_before = group_progress(brokers, "weir-user-login", TOPICS[0]);

    let (from, to) = (weir_core::window::rfc3339(t1), weir_core::window::rfc3339(t2));
    let started = Instant::now();
    let out = run_ok(with_config(
        brokers,
        &config,
        &["replay", "--from", &from, "--to", &to, "--to-topic", "user-login-replayed"],
    ));
    assert!(started.elapsed() < Duration::from_secs(60), "it stops at the range's end by itself");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("replaying 30 records of user-login"), "counted by offsets: {said}");
    assert!(said.contains("records in 30 · processed 30"), "its own report: {said}");
    assert!(
        said.contains("replayed 30 records (weir_replayed_records_total)"),
        "its metric: {said}"
    );

    let replayed = read_topic(brokers, "user-login-replayed", Duration::from_secs(2));
    let expected: Vec<String> = (0..30).map(|i| format!("b{i:02}")).collect();
    assert_eq!(keys(&replayed), expected, "exactly the range, once");
    assert_eq!(
        group_progress(brokers, "weir-user-login", TOPICS[0]),
        main_before,
        "the main group's offsets are untouched"
    );
    assert_eq!(
        read_topic(brokers, TOPICS[1], Duration::from_secs(1)).len(),
        70,
        "nothing more on the main output"
    );
}
