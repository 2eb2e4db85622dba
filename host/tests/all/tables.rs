//! Enrichment tables (contract 0.3): plugins read the tables their stage names, served
//! offline from files (`--table NAME=FILE.jsonl`), and no others; old plugins run beside.

use crate::common::{self, cache_dir, message, plugin, repo, runtime, test_plugin};
use std::process::{Command, Output};
use std::sync::Arc;
use weir_core::plugin::limits::Limits;
use weir_core::stage::transformer::{Transform, Transformed};
use weir_core::stage::Stage;
use weir_core::table::{Grant, Table};

fn weir(args: &[&str]) -> Output {
    let child = common::child::Guarded::new(
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .env("WEIR_CACHE_DIR", cache_dir())
            .env("WEIR_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Profiles for users `u0`…`u99` except every seventh, some of them set twice (the later
/// line wins) and `u3` deleted by a tombstone.
fn profiles() -> (String, std::collections::HashMap<String, serde_json::Value>) {
    let mut lines = String::new();
    let mut expected = std::collections::HashMap::new();
    for i in 0..100 {
        if i % 7 == 0 {
            continue;
        }
        let countries = ["NL", "FR", "DE", "BR", "IN"];
        let mut profile = serde_json::json!({
            "country": countries[i % countries.len()],
            "plan": if i % 2 == 0 { "pro" } else { "free" },
            "email": format!("u{i}@example.com"),
        });
        if i % 5 == 0 {
            lines += &format!(
                "{}\n",
                serde_json::json!({"key": format!("u{i}"), "value": {"plan": "trial"}})
            );
            profile["plan"] = "enterprise".into();
        }
        lines += &format!("{}\n", serde_json::json!({"key": format!("u{i}"), "value": profile}));
        expected.insert(format!("u{i}"), profile);
    }
    lines += &format!("{}\n", serde_json::json!({"key": "u3", "value": null}));
    expected.remove("u3");
    (lines, expected)
}

/// The memory bound, as the kernel counts it (VmHWM), at a million keys: `weir process` serving a
/// table of a million 200-byte values past `max_memory_mib = 32` (so on disk) peaks no more
/// than 32 MiB above the same run serving a table of one key — and every key is there.
/// In memory the table takes ~330 MiB (`weir bench`).
#[test]
fn a_million_keys_past_the_memory_bound_keep_the_process_within_it() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let value = |i: u32| serde_json::json!({"country": format!("C{}", i % 200), "plan": "pro", "pad": "x".repeat(160)});
    let keys = 1_000_000u32;
    let mut big = std::io::BufWriter::new(std::fs::File::create(path("big.jsonl")).unwrap());
    for i in 0..keys {
        writeln!(big, "{}", serde_json::json!({"key": format!("user-{i}"), "value": value(i)}))
            .unwrap();
    }
    big.into_inner().unwrap().sync_all().unwrap();
    std::fs::write(
        path("one.jsonl"),
        format!("{}\n", serde_json::json!({"key": "user-0", "value": value(0)})),
    )
    .unwrap();
    let config = format!(
        "[tables.profiles]\ntopic = \"profiles\"\nmax_memory_mib = 32\ndir = \"{}\"\n\n[[transform]]\nplugin = \"{}\"\ntables = [\"profiles\"]\nconfig = {{ table = \"profiles\" }}\n",
        dir.path().display(),
        plugin("login-enricher").display()
    );
    std::fs::write(path("weir.toml"), config).unwrap();
    let users = [0, 1, 77_777, 500_000, keys - 1];
    let input: String = users.iter().map(|i| format!("{{\"user_id\":\"user-{i}\"}}\n")).collect();
    // The input is a pipe: weir opens it once its tables are loaded and its plugins ready,
    // and waits on it, alive, while the test reads its peak memory.
    let run = |table: &str, fifo: &str, out: &str| {
        let fifo = path(fifo);
        let c_path = std::ffi::CString::new(fifo.clone()).unwrap();
        // SAFETY: a NUL-terminated path; mkfifo only makes the file.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let child = common::child::Guarded::new(
            Command::new(env!("CARGO_BIN_EXE_weir"))
                .args(["process", "--config", &path("weir.toml"), "--input", &fifo])
                .args(["--output", &path(out), "--table", &format!("profiles={}", path(table))])
                .env("WEIR_CACHE_DIR", cache_dir())
                .env("WEIR_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        writer.write_all(input.as_bytes()).unwrap();
        let peak_kib = child.peak_rss_kib();
        let named: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
        let ours = |name: &str| [".jsonl", ".fifo", ".toml"].iter().any(|end| name.ends_with(end));
        assert!(
            named.iter().all(|name| ours(&name.to_string_lossy())),
            "the store on disk has no name, so a killed process leaves nothing: {named:?}"
        );
        drop(writer);
        let out_put = child.wait_with_output().unwrap();
        assert!(out_put.status.success(), "{}", text(&out_put.stderr));
        let records: Vec<serde_json::Value> = std::fs::read_to_string(path(out))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (records, peak_kib)
    };
    let (_, baseline_kib) = run("one.jsonl", "one.fifo", "one-out.jsonl");
    let (records, peak_kib) = run("big.jsonl", "big.fifo", "big-out.jsonl");
    assert_eq!(records.len(), users.len());
    for (record, i) in records.iter().zip(users) {
        assert_eq!(record["country"], format!("C{}", i % 200), "{record}");
    }
    let grown_mib = peak_kib.saturating_sub(baseline_kib) as f64 / 1024.0;
    eprintln!("a million keys on disk: peak {peak_kib} KiB, one key {baseline_kib} KiB");
    assert!(grown_mib <= 32.0, "the process peaked {grown_mib:.1} MiB above a one-key table's run");
}

/// Every record is enriched from the table as it stands: the profile's `country` and
/// `plan`, nothing else of it; users without a profile (never set, or deleted) pass as they
/// came. The chain mixes contracts: a 0.1 and a 0.2 plugin (kept builds) run beside the
/// 0.3 enricher.
#[test]
fn process_enriches_every_record_from_a_table_file_beside_old_plugins() {
    let dir = tempfile::tempdir().unwrap();
    let (lines, expected) = profiles();
    std::fs::write(dir.path().join("profiles.jsonl"), lines).unwrap();
    let kept = |v: &str, p: &str| {
        repo().join(format!("host/tests/fixtures/contract-{v}/shipped/{p}.wasm"))
    };
    let config = format!(
        r#"
[[transform]]
plugin = "{old}"
[[transform]]
plugin = "{enricher}"
tables = ["user-profiles"]
[[transform]]
plugin = "{older}"
"#,
        old = kept("0.2.0", "mask-ip").display(),
        enricher = plugin("login-enricher").display(),
        older = kept("0.1.0", "readable-timestamp").display(),
    );
    std::fs::write(dir.path().join("weir.toml"), config).unwrap();
    let mut input = String::new();
    for i in 0..300 {
        input += &format!(
            "{}\n",
            serde_json::json!({"user_id": format!("u{}", i % 110), "ip": "10.1.2.3", "timestamp": 1_700_000_000 + i, "plan": "unknown"})
        );
    }
    std::fs::write(dir.path().join("in.jsonl"), input).unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let out = weir(&[
        "process",
        "--config",
        &path("weir.toml"),
        "--input",
        &path("in.jsonl"),
        "--output",
        &path("out.jsonl"),
        "--table",
        &format!("user-profiles={}", path("profiles.jsonl")),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let output = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let records: Vec<serde_json::Value> =
        output.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 300, "every record out, none lost or doubled");
    let (mut enriched, mut bare) = (0, 0);
    for (i, record) in records.iter().enumerate() {
        let user = format!("u{}", i % 110);
        assert_eq!(record["user_id"], user.as_str(), "in order");
        assert_eq!(record["ip"], "10.1.2.0", "the 0.2 plugin ran");
        assert!(record["timestamp"].is_string(), "the 0.1 plugin ran: {record}");
        assert!(record.get("email").is_none(), "only the named fields are copied");
        match expected.get(&user) {
            Some(profile) => {
                enriched += 1;
                assert_eq!(record["country"], profile["country"], "{record}");
                assert_eq!(record["plan"], profile["plan"], "{record}");
            }
            None => {
                bare += 1;
                assert!(record.get("country").is_none(), "{record}");
                assert_eq!(record["plan"], "unknown", "{record}");
            }
        }
    }
    assert!(enriched > 200 && bare > 30, "{enriched} enriched, {bare} without a profile");
}

/// A stage naming a table nothing serves is refused at start, naming the key and the
/// fix (exit 2, a config error); a table file that is not one is refused naming the line.
#[test]
fn an_unserved_table_or_a_bad_table_file_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[transform]]\nplugin = \"{}\"\ntables = [\"user-profiles\"]\n",
        plugin("login-enricher").display()
    );
    std::fs::write(dir.path().join("weir.toml"), config).unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "{\"user_id\":\"u1\"}\n").unwrap();
    std::fs::write(dir.path().join("bad.jsonl"), "{\"key\":\"u1\",\"value\":{}}\n{\"key\":7}\n")
        .unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let run = |extra: &[&str]| {
        let (config, input) = (path("weir.toml"), path("in.jsonl"));
        let mut args = vec!["process", "--config", &config, "--input", &input];
        args.extend(extra);
        weir(&args)
    };
    let unserved = run(&[]);
    let said = text(&unserved.stderr);
    assert_eq!(unserved.status.code(), Some(2), "{said}");
    assert!(
        said.contains("`transform.tables`: table `user-profiles` is not served here")
            && said.contains("--table user-profiles=FILE.jsonl"),
        "{said}"
    );
    let bad_arg = format!("user-profiles={}", path("bad.jsonl"));
    let bad = run(&["--table", &bad_arg]);
    let said = text(&bad.stderr);
    assert!(!bad.status.success());
    assert!(said.contains("bad.jsonl line 2"), "{said}");
}

/// `weir check` takes a stage naming a `[tables.NAME]` (run fills it from its topic), and
/// refuses one naming a table nothing declares, naming the key; `--offline` takes any
/// (`--table` gives them to `weir process`).
#[test]
fn check_knows_the_declared_tables() {
    let dir = tempfile::tempdir().unwrap();
    let config = |tables: &str, section: &str| {
        format!(
            "[kafka]\ninput_topic = \"in\"\noutput_topic = \"out\"\ndead_letter_topic = \"dead\"\n[[transform]]\nplugin = \"{}\"\ntables = [{tables}]\n{section}",
            plugin("login-enricher").display()
        )
    };
    let path = dir.path().join("weir.toml");
    let check = |text: String, offline: bool| {
        std::fs::write(&path, text).unwrap();
        let path = path.display().to_string();
        let mut args = vec!["check", "--config", &path];
        if offline {
            args.push("--offline");
        }
        weir(&args)
    };
    let declared = "[tables.user-profiles]\ntopic = \"profiles\"\n";
    let ok = check(config("\"user-profiles\"", declared), false);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    let undeclared = check(config("\"user-profiles\", \"rates\"", declared), false);
    let said = text(&undeclared.stderr);
    assert_eq!(undeclared.status.code(), Some(2), "{said}");
    assert!(said.contains("`transform.tables`: table `rates` is not served here"), "{said}");
    let offline = check(config("\"user-profiles\", \"rates\"", ""), true);
    assert!(offline.status.success(), "{}", text(&offline.stderr));
}

/// `weir plugin test --table` serves the table to the plugin alone; without it, the
/// plugin's lookups are refused and each record says so.
#[test]
fn plugin_test_serves_a_table_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("profiles.jsonl"),
        "{\"key\":\"u1\",\"value\":{\"country\":\"NL\",\"plan\":\"pro\"}}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("in.jsonl"), "{\"user_id\":\"u1\"}\n{\"user_id\":\"u2\"}\n")
        .unwrap();
    let enricher = plugin("login-enricher").display().to_string();
    let input = dir.path().join("in.jsonl").display().to_string();
    let table = format!("user-profiles={}", dir.path().join("profiles.jsonl").display());
    let served = weir(&["plugin", "test", &enricher, "--input", &input, "--table", &table]);
    assert!(served.status.success(), "{}", text(&served.stderr));
    assert_eq!(
        text(&served.stdout),
        "line 1: {\"user_id\":\"u1\",\"country\":\"NL\",\"plan\":\"pro\"}\nline 2: {\"user_id\":\"u2\"}\n"
    );
    let unserved = weir(&["plugin", "test", &enricher, "--input", &input]);
    let shown = text(&unserved.stdout);
    assert!(
        shown.contains("line 1: error: table `user-profiles` is not one of this stage's tables"),
        "{shown}"
    );
}

/// A hostile plugin reads no table its stage does not name, and cannot make the host hold
/// more through lookups than its own limits allow: hoarding copies of a large value, a
/// key larger than its memory and a storm of lookups each stop at its memory or time
/// limit, fail that record alone, and the stage goes on.
#[test]
fn a_hostile_plugin_reads_only_its_tables_and_stays_within_its_limits() {
    let profiles = Arc::new(Table::new("user-profiles", 64));
    profiles.put(b"u1", Some(br#"{"plan":"pro"}"#)).unwrap();
    profiles.put(b"big", Some(&vec![b'x'; 1 << 20])).unwrap();
    let secret = Arc::new(Table::new("secrets", 1));
    secret.put(b"u1", Some(b"password")).unwrap();
    let p = runtime().load(&test_plugin("hostile-tables")).unwrap();
    assert_eq!(p.contract.to_string(), "weir:plugin@0.3.0");
    let limits = Limits { call_timeout_ms: 200, memory_mib: 32, max_message_kib: 1024 };
    let grant = Grant::new(vec![profiles.clone()]);
    let mut stage =
        Stage::<Transform>::reading("transform", &p, "{}".into(), limits, grant).unwrap();
    let batch: Vec<_> = [
        "GET:user-profiles:u1",
        "GET:user-profiles:nobody",
        "GET:secrets:u1",
        "HOARD:user-profiles:big",
        "a",
        "BIGKEY:64",
        "BIGKEY:4",
        "STORM",
        "b",
    ]
    .iter()
    .map(|v| message(v))
    .collect();
    let out = stage.run(&batch);
    let value = |i: usize| match out[i].as_ref().unwrap().as_ref().map(Transformed::single_value) {
        Ok(Some(v)) => String::from_utf8_lossy(v).into_owned(),
        other => panic!("record {i}: {other:?}"),
    };
    let refused = |i: usize| out[i].as_ref().unwrap().as_ref().unwrap_err().clone();
    let fault = |i: usize| out[i].as_ref().unwrap_err().reason.clone();
    assert_eq!(value(0), r#"found:{"plan":"pro"}"#);
    assert_eq!(value(1), "none");
    assert_eq!(
        refused(2),
        "table `secrets` is not one of this stage's tables (its `tables`: `user-profiles`)"
    );
    assert_eq!(secret.lookups(), (0, 0), "the other table was never read");
    assert_eq!(fault(3), "exceeded its 32 MiB memory limit");
    assert_eq!(value(4), "a");
    assert_eq!(fault(5), "exceeded its 32 MiB memory limit");
    assert_eq!(value(6), "none");
    assert_eq!(fault(7), "ran past its 200 ms call timeout (limits.call_timeout_ms)");
    assert_eq!(value(8), "b");
    let (lookups, misses) = profiles.lookups();
    assert!(lookups > 30 && misses > 2, "{lookups} lookups, {misses} misses");
}

/// Sets (or, with `None`, deletes) each key of the table topic `topic`; waits for the acks.
fn put_profiles(brokers: &str, topic: &str, profiles: &[(&str, Option<serde_json::Value>)]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer =
        weir_kafka::client_config(brokers, &Default::default()).create().unwrap();
    for (key, value) in profiles {
        let value = value.as_ref().map(|v| v.to_string());
        let mut record = BaseRecord::<str, str>::to(topic).key(key);
        if let Some(value) = &value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();
}

/// The memory bound on `weir run`, on tansu: a table of a million 200-byte values past
/// `max_memory_mib = 32` (so on disk), written in lz4 batches as weir's producer writes
/// them, grows the process by no more than the bound and half of it again for the table's
/// consumer (a sixteenth fetched ahead, librdkafka's bookkeeping for up to 2,000 records a
/// partition, a compressed batch decoded) over the same run with a table of one key; and
/// every key is read before the first record. librdkafka's defaults grew it by ~220 MiB.
#[test]
fn run_reads_a_million_key_table_topic_within_its_bound() {
    use crate::common::kafka::*;
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use std::time::Duration;
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let keys = 1_000_000u32;
    let mut client = weir_kafka::client_config(brokers, &Default::default());
    let producer: BaseProducer =
        client.set("compression.type", "lz4").set("linger.ms", "20").create().unwrap();
    let pad = "x".repeat(150);
    let send = |topic: &str, key: &str, value: &str| loop {
        match producer.send(BaseRecord::to(topic).key(key).payload(value)) {
            Ok(()) => return,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                producer.poll(Duration::from_millis(20));
            }
            Err((e, _)) => panic!("{e}"),
        }
    };
    for i in 0..keys {
        let value = serde_json::json!({"country": format!("C{}", i % 200), "plan": "pro", "since": i, "pad": pad});
        send("profiles-big", &format!("user-{i}"), &value.to_string());
    }
    send("profiles-one", "user-0", r#"{"country":"C0"}"#);
    producer.flush(Duration::from_secs(120)).unwrap();
    let run = |topic: &str| {
        let config = dir.path().join(format!("{topic}.toml"));
        std::fs::write(
            &config,
            format!(
                "[kafka]\ngroup_id = \"{topic}\"\ninput_topic = \"logins\"\noutput_topic = \"out\"\ndead_letter_topic = \"dead\"\n[[transform]]\nplugin = \"{}\"\ntables = [\"profiles\"]\nconfig = {{ table = \"profiles\" }}\n[tables.profiles]\ntopic = \"{topic}\"\nmax_memory_mib = 32\ndir = \"{}\"\n",
                plugin("login-enricher").display(),
                dir.path().display()
            ),
        )
        .unwrap();
        run_ok(with_config(brokers, &config, &["topics", "create"]));
        let mut child = common::child::Guarded::new(
            with_config(brokers, &config, &["run"])
                .env("WEIR_LOG", "info")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        child.wait_for_log(" running ", Duration::from_secs(600));
        let peak_kib = child.peak_rss_kib();
        child.signal("TERM");
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        (peak_kib, text(&out.stderr))
    };
    let (baseline_kib, _) = run("profiles-one");
    let (peak_kib, said) = run("profiles-big");
    assert!(said.contains(&format!("keys={keys}")), "{said}");
    assert!(said.contains("the table is on disk from now on"), "{said}");
    let grown_mib = peak_kib.saturating_sub(baseline_kib) as f64 / 1024.0;
    eprintln!("weir run, a million keys on disk: peak {peak_kib} KiB, one key {baseline_kib} KiB");
    assert!(grown_mib <= 48.0, "weir run peaked {grown_mib:.1} MiB above a one-key table's run");
}

/// `weir run` keeps the table from its compacted topic, on tansu: it reads the topic to
/// its end before the first record (so every record, even those waiting before it
/// started, is enriched from the whole table), two instances in one group enrich alike, an
/// update is seen by the records processed after it arrives (within 10 s here; a fetch,
/// 500 ms, is the design), a tombstone removes the key, and a restart reads the table
/// again before processing.
#[test]
fn run_keeps_a_table_from_its_topic_and_follows_its_updates() {
    use crate::common::kafka::*;
    use std::time::{Duration, Instant};
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[kafka]
group_id = "enrich"
input_topic = "logins"
output_topic = "logins-enriched"
dead_letter_topic = "logins-dead"
partitions = 2
[[transform]]
plugin = "{}"
tables = ["user-profiles"]
[tables.user-profiles]
topic = "profiles"
"#,
            plugin("login-enricher").display()
        ),
    )
    .unwrap();
    run_ok(with_config(brokers, &config, &["topics", "create"]));
    // A table whose topic does not exist: a config error at start, before any record.
    let missing = dir.path().join("missing.toml");
    let text_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&missing, text_config.replace("topic = \"profiles\"", "topic = \"nowhere\""))
        .unwrap();
    let refused = with_config(brokers, &missing, &["run"]).output().unwrap();
    let said = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert!(
        said.contains("`tables.user-profiles.topic`: topic `nowhere` does not exist"),
        "{said}"
    );
    // 40 users; u0..u29 have a profile (u5 set twice), u7's is deleted.
    let mut profiles: Vec<(String, Option<serde_json::Value>)> = (0..30)
        .map(|i| {
            (format!("u{i}"), Some(serde_json::json!({"country": format!("C{i}"), "plan": "free"})))
        })
        .collect();
    profiles.push(("u5".into(), Some(serde_json::json!({"country": "NL", "plan": "pro"}))));
    profiles.push(("u7".into(), None));
    let as_refs: Vec<(&str, Option<serde_json::Value>)> =
        profiles.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    put_profiles(brokers, "profiles", &as_refs);
    let mut expected: std::collections::HashMap<String, serde_json::Value> =
        std::collections::HashMap::new();
    for (key, value) in profiles {
        match value {
            Some(v) => expected.insert(key, v),
            None => expected.remove(&key),
        };
    }
    // What `weir run` does before its first record: `start` returns once the table holds
    // the whole topic as it stood.
    let parsed = weir_core::config::Config::load(&config).unwrap();
    let tables = parsed.declared_tables();
    let client = weir_kafka::client_config(brokers, &Default::default());
    let feeds =
        weir_kafka::table_feed::start(&client, &parsed, &tables, &weir::resolve::Resolver, None)
            .unwrap();
    let table = tables.get("user-profiles").unwrap();
    assert_eq!(table.len(), expected.len(), "read to its end on return");
    for (key, profile) in &expected {
        let held: serde_json::Value =
            serde_json::from_slice(&table.get(key.as_bytes()).unwrap().unwrap()).unwrap();
        assert_eq!(&held, profile);
    }
    assert_eq!(table.get(b"u7"), Ok(None), "deleted by its tombstone");
    drop(feeds);
    let logins = |from: usize, n: usize, users: &[&str]| -> Vec<(String, String)> {
        (from..from + n)
            .map(|i| {
                let user = users[i % users.len()];
                (format!("e{i}"), serde_json::json!({"user_id": user, "n": i}).to_string())
            })
            .collect()
    };
    let all_users: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
    let all_users: Vec<&str> = all_users.iter().map(String::as_str).collect();
    // Records waiting before weir starts: they are processed only after the table is read.
    produce_to(brokers, "logins", logins(0, 200, &all_users).into_iter());
    let first = spawn(with_config(brokers, &config, &["run"]));
    let second = spawn(with_config(brokers, &config, &["run"]));
    let check = |records: &[weir_core::record::Record],
                 expected: &std::collections::HashMap<String, serde_json::Value>,
                 from: usize| {
        for record in records {
            let value: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
            if (value["n"].as_u64().unwrap() as usize) < from {
                continue;
            }
            let user = value["user_id"].as_str().unwrap();
            match expected.get(user) {
                Some(profile) => {
                    assert_eq!(value["country"], profile["country"], "{value}");
                    assert_eq!(value["plan"], profile["plan"], "{value}");
                }
                None => assert!(value.get("plan").is_none(), "{user} has no profile: {value}"),
            }
        }
    };
    let out =
        wait_for_topic(brokers, "logins-enriched", Duration::from_secs(120), |r| r.len() >= 200);
    assert_eq!(out.len(), 200);
    check(&out, &expected, 0);
    // An update and a tombstone, then probes until the update shows.
    put_profiles(
        brokers,
        "profiles",
        &[("u1", Some(serde_json::json!({"country": "BR", "plan": "enterprise"}))), ("u2", None)],
    );
    let acked = Instant::now();
    expected.insert("u1".into(), serde_json::json!({"country": "BR", "plan": "enterprise"}));
    expected.remove("u2");
    let mut sent = 200;
    let seen_at = loop {
        assert!(acked.elapsed() < Duration::from_secs(10), "the update was not seen within 10 s");
        produce_to(brokers, "logins", logins(sent, 2, &["u1", "u2"]).into_iter());
        sent += 2;
        let out = read_topic(brokers, "logins-enriched", Duration::from_millis(300));
        let updated = out.iter().any(|r| {
            let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            v["user_id"] == "u1" && v["plan"] == "enterprise"
        });
        if updated {
            break acked.elapsed();
        }
    };
    // Every record produced from now on sees the update and the tombstone.
    let after = sent;
    produce_to(brokers, "logins", logins(after, 100, &["u1", "u2", "u3"]).into_iter());
    let total = after + 100;
    let out =
        wait_for_topic(brokers, "logins-enriched", Duration::from_secs(60), |r| r.len() >= total);
    assert_eq!(out.len(), total, "none lost, none doubled");
    check(&out, &expected, after);
    let (a, b) = (terminate(first), terminate(second));
    assert!(a.status.success() && b.status.success(), "{}", text(&a.stderr));
    // A restart reads the table again, the update included, before its first record. (In
    // a group of its own: tansu's coordinator can hold a join for minutes after members
    // leave, which is not what this tests; a new group reads the input from the start.)
    produce_to(brokers, "logins", logins(total, 50, &all_users).into_iter());
    let restarted = dir.path().join("restarted.toml");
    let text_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &restarted,
        text_config.replace("group_id = \"enrich\"", "group_id = \"again\""),
    )
    .unwrap();
    let third = spawn(with_config(brokers, &restarted, &["run"]));
    let deadline = Instant::now() + Duration::from_secs(120);
    let out = loop {
        let out = read_topic(brokers, "logins-enriched", Duration::from_secs(1));
        let numbers: std::collections::HashSet<u64> = out
            .iter()
            .map(|r| {
                serde_json::from_slice::<serde_json::Value>(&r.value).unwrap()["n"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        if (total..total + 50).all(|n| numbers.contains(&(n as u64))) {
            break out;
        }
        if Instant::now() > deadline {
            let said = terminate(third);
            panic!("{} records after a restart: {}", out.len(), text(&said.stderr));
        }
    };
    check(&out, &expected, total);
    terminate(third);
    // A replay enriches with the table as it is now, not as it was (docs/tables.md): the
    // first records, enriched with u1's old profile then, now get the new one.
    let replayed = with_config(
        brokers,
        &config,
        &["replay", "--from", "earliest", "--to-topic", "logins-replayed"],
    )
    .output()
    .unwrap();
    assert!(replayed.status.success(), "{}", text(&replayed.stderr));
    // (To the ends tansu reports, which can be short of its last batches: the first 200
    // records at least.)
    let out =
        wait_for_topic(brokers, "logins-replayed", Duration::from_secs(60), |r| r.len() >= 200);
    check(&out, &expected, 0);
    let old_u1 = out.iter().any(|r| {
        let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
        v["user_id"] == "u1" && v["n"].as_u64() < Some(200) && v["plan"] == "enterprise"
    });
    assert!(old_u1, "u1's first records, replayed, carry its profile as it is now");
    eprintln!("the update was seen {:.1} s after it was acknowledged", seen_at.as_secs_f64());
}
