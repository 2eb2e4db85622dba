//! End to end against tansu, a Kafka-compatible broker in its own process:
//! topics create, 20,000 generated events (5% faulty), `weir run` and `weir repair` as
//! separate processes, `weir run` killed with SIGKILL midway and restarted.

use crate::catch_up;
use crate::common;
use common::repo;

use common::kafka::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use weir_core::headers;

#[test]
fn nothing_is_lost_when_run_is_killed_midway() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("manifest.jsonl");

    let created = run_ok(weir(brokers, &["topics", "create"]));
    assert!(String::from_utf8_lossy(&created.stdout).contains("created user-login (3 partitions"));
    let again = run_ok(weir(brokers, &["topics", "create"]));
    assert!(String::from_utf8_lossy(&again.stdout).contains("exists  user-login"), "idempotent");

    // The pipeline runs while the generator streams 20,000 events over ~13 s.
    let repair = spawn(weir(brokers, &["repair"]));
    let mut run = spawn(weir(brokers, &["run"]));
    let generator = spawn(weir(
        brokers,
        &[
            "generate",
            "--count",
            "20000",
            "--rate",
            "1500",
            "--invalid-ratio",
            "0.05",
            "--seed",
            "42",
            "--manifest",
            manifest_path.to_str().unwrap(),
        ],
    ));
    // Kill the pipeline once part of the stream is through: mid-batch, mid-commit.
    wait_for_count(brokers, "user-login-processed-production", 6_000, Duration::from_secs(120));
    // Past an offset commit on every partition and a state checkpoint.
    wait_for_commits(brokers, "weir-user-login", "user-login", 1, Duration::from_secs(60));
    wait_for_count(brokers, "weir-user-login-state", 3, Duration::from_secs(60));
    run.kill().unwrap();
    run.wait().unwrap();
    let run = spawn(weir(brokers, &["run"]));
    let generated = generator.wait_with_output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let kinds = manifest(&manifest_path);
    assert_eq!(kinds.len(), 20_000);
    let unrepairable = |kind: &str| matches!(kind, "not-json" | "several-fields-missing");
    let expect_processed: HashSet<String> =
        kinds.iter().filter(|(_, k)| !unrepairable(k)).map(|(k, _)| k.clone()).collect();
    let expect_parked: HashSet<String> =
        kinds.iter().filter(|(_, k)| unrepairable(k)).map(|(k, _)| k.clone()).collect();
    let invalid: HashSet<String> =
        kinds.iter().filter(|(_, k)| k.as_str() != "valid").map(|(k, _)| k.clone()).collect();

    let processed = wait_for_topic(
        brokers,
        "user-login-processed-production",
        Duration::from_secs(180),
        |records| {
            let keys: HashSet<String> = records.iter().map(key).collect();
            expect_processed.iter().all(|k| keys.contains(k))
        },
    );
    let parked = wait_for_topic(
        brokers,
        "user-login-dead-letter-parked",
        Duration::from_secs(60),
        |records| records.iter().map(key).collect::<HashSet<_>>().len() >= expect_parked.len(),
    );
    // The repairer first, so the input topic is final, then the pipeline once it has it all.
    let repair = terminate(repair);
    assert!(repair.status.success(), "{}", String::from_utf8_lossy(&repair.stderr));
    wait_for_no_lag(brokers, "weir-user-login", "user-login", Duration::from_secs(60));
    let run = terminate(run);
    let report = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{report}");

    // Every generated record is in the processed topic at least once (the unrepairable excepted).
    let processed_keys: HashSet<String> = processed.iter().map(key).collect();
    assert_eq!(processed_keys, expect_processed);
    // Every invalid one went through the dead-letter topic, then was repaired or parked with a reason.
    let dead = read_topic(brokers, "user-login-dead-letter", Duration::from_secs(3));
    let dead_keys: HashSet<String> = dead.iter().map(key).collect();
    assert!(
        invalid.is_subset(&dead_keys),
        "{} invalid records never reached the dead letters",
        invalid.difference(&dead_keys).count()
    );
    let parked_keys: HashSet<String> = parked.iter().map(key).collect();
    assert_eq!(parked_keys, expect_parked);
    assert!(parked.iter().all(|m| header(m, headers::PARK_REASON).is_some_and(|r| !r.is_empty())));
    for k in invalid.difference(&expect_parked) {
        assert!(processed_keys.contains(k), "repaired record {k} missing from the output");
    }

    let restarted = report.lines().find(|l| l.starts_with("records in")).unwrap();
    assert!(!restarted.starts_with("records in 0 "), "the kill must land midway: {restarted}");
    // ...and after the first run's commits: the restart resumes, it does not start over.
    let input_total = read_topic(brokers, "user-login", Duration::from_secs(3)).len() as u64;

    // The restarted run's report adds up: what it read was processed or dead-lettered,
    // and the analytics counted what it processed.
    let number = |label: &str| -> u64 {
        let line = report.lines().find(|l| l.starts_with("records in")).unwrap();
        let rest = &line[line.find(label).unwrap() + label.len()..];
        rest.trim().split(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(number("processed ") + number("dead letters "), number("records in "));
    assert!(
        number("records in ") < input_total,
        "restart re-read all {input_total} input records: {restarted}"
    );
    let total_logins: u64 = report
        .lines()
        .find(|l| l.trim_start().starts_with("total_logins"))
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .parse()
        .unwrap();
    // The analytics survived the SIGKILL (partition states restored from the changelog)
    // and count each input record once: what one process makes of the input topic.
    let input = read_topic(brokers, "user-login", Duration::from_secs(3));
    let expected = single_process_analytics(&repo().join("weir.toml"), &input, dir.path());
    assert_eq!(total_logins, expected["counters"]["total_logins"].as_u64().unwrap(), "{report}");

    // At-least-once: duplicates are allowed after a SIGKILL; count and print them.
    let mut copies: HashMap<String, u32> = HashMap::new();
    for m in &processed {
        *copies.entry(key(m)).or_default() += 1;
    }
    let duplicates: u32 = copies.values().map(|c| c - 1).sum();
    println!(
        "e2e on tansu: generated 20000 ({} invalid), processed topic {} records for {} keys, \
         {duplicates} duplicates after SIGKILL, {} parked, restarted run: {}",
        invalid.len(),
        processed.len(),
        processed_keys.len(),
        parked_keys.len(),
        report.lines().find(|l| l.starts_with("records in")).unwrap()
    );

    // The display consumer validates the output against the processed schema.
    let tail = run_ok(weir(
        brokers,
        &[
            "tail",
            "--topic",
            "user-login-processed-production",
            "--from-beginning",
            "--idle-exit",
            "3s",
            "--schema",
            "schemas/user-login-processed.json",
        ],
    ));
    let summary = String::from_utf8_lossy(&tail.stderr);
    assert!(
        summary.contains(&format!(
            "{} messages · 0 invalid · {duplicates} duplicate keys",
            processed.len()
        )),
        "{summary}"
    );
}

/// SIGKILL `weir run` at pseudo-random moments, 20 times in a row, during one stream:
/// zero records lost, duplicates counted and reported.
#[test]
fn twenty_sigkills_in_a_row_lose_nothing() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    // Rejoin after a kill as fast as the broker allows.
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n",
            common::login_config(&common::plugin("readable-timestamp"))
        )
        .replace("batch_size = 3", "batch_size = 50"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // The generator writes one record per batch, as any producer at 250/s does.
    let generator_config = dir.path().join("generator.toml");
    std::fs::write(
        &generator_config,
        std::fs::read_to_string(config).unwrap() + "\"batch.num.messages\" = \"1\"\n",
    )
    .unwrap();
    let manifest_path = dir.path().join("manifest.jsonl");
    run_ok(weir(brokers, &["topics", "create", "--config", config]));
    let generator = spawn(weir(
        brokers,
        &[
            "generate",
            "--config",
            generator_config.to_str().unwrap(),
            "--count",
            "15000",
            "--rate",
            "250",
            "--seed",
            "7",
            "--manifest",
            manifest_path.to_str().unwrap(),
        ],
    ));

    // Deterministic "random" moments: 0.3 s to 4.3 s after each start.
    let mut state: u64 = 0x2545F4914F6CDD1D;
    let mut kills = 0;
    for _ in 0..20 {
        let mut run = spawn(weir(brokers, &["run", "--config", config]));
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        std::thread::sleep(Duration::from_millis(300 + state % 4000));
        run.kill().unwrap();
        run.wait().unwrap();
        kills += 1;
    }
    let generated = generator.wait_with_output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let kinds = manifest(&manifest_path);
    assert_eq!(kinds.len(), 15_000);

    // The last run catches up what the killed ones left at the rate of a backlog in big
    // batches, not the 3 records/s a restart after crashes once crawled at.
    let reference = catch_up::big_batch_rate(brokers, dir.path(), 15_000);
    let started = std::time::Instant::now();
    let started_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as i64;
    let run = spawn(weir(brokers, &["run", "--config", config]));
    let processed = wait_for_topic(
        brokers,
        "user-login-processed-production",
        Duration::from_secs(90),
        |records| records.iter().map(key).collect::<HashSet<_>>().len() >= kinds.len(),
    );
    let catch_up = started.elapsed();
    let out = terminate(run);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys: HashSet<String> = processed.iter().map(key).collect();
    let lost = kinds.keys().filter(|k| !keys.contains(*k)).count();
    assert_eq!(lost, 0, "records lost after {kills} SIGKILLs");
    let duplicates = processed.len() - keys.len();
    let last_run: Vec<_> =
        processed.into_iter().filter(|m| m.timestamp.is_some_and(|t| t >= started_ms)).collect();
    assert!(
        last_run.len() >= 1_000,
        "the kills left a backlog to catch up: {} records",
        last_run.len()
    );
    let rate = catch_up::output_rate(&last_run);
    println!(
        "kill loop on tansu: {kills} SIGKILLs during a stream of 15000 records in one-record batches: 0 lost, {duplicates} \
         duplicates; the last run caught up {} records in {:.1} s at {rate:.0}/s, big batches at {reference:.0}/s: {:.2}",
        last_run.len(), catch_up.as_secs_f64(), rate / reference
    );
    assert!(
        rate >= catch_up::CATCH_UP_FLOOR * reference,
        "the last run caught up at {rate:.0}/s, big batches at {reference:.0}/s"
    );
}

/// `weir bench` with every part: the chain (total, per stage, by value and batch size), the
/// embedded broker, and `--cluster`: `weir run` processes on tansu, one and then two.
#[test]
fn bench_measures_every_figure_and_weir_run_on_tansu() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let out = run_ok(weir(
        &tansu.brokers,
        &[
            "bench",
            "--events",
            "3000",
            "--broker-events",
            "3000",
            "--latency-rate",
            "1000",
            "--cluster",
            "--cluster-events",
            "3000",
            "--table-keys",
            "20000",
            "--json",
        ],
    ));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let positive = |v: &serde_json::Value| v.as_f64().is_some_and(|v| v.is_finite() && v > 0.0);
    for field in [
        "chain_wasm_per_s",
        "chain_native_per_s",
        "chain_ratio",
        // From a checkout, which keeps the shipped plugins as built for contract 0.1.
        "chain_v1_wasm_per_s",
        "chain_v1_ratio",
        "pipeline_per_s",
        "passthrough_per_s",
        "pipeline_ratio",
        "pipeline_metrics_per_s",
        "pipeline_status_page_per_s",
        "status_refresh_bytes",
        "status_page_bytes",
        "latency_p99_ms",
        "start_cold_ms",
        "start_warm_ms",
        "peak_memory_mib",
    ] {
        assert!(positive(&result[field]), "{field}: {result}");
    }
    let ratio = result["chain_wasm_per_s"].as_f64().unwrap()
        / result["chain_native_per_s"].as_f64().unwrap();
    assert!((ratio - result["chain_ratio"].as_f64().unwrap()).abs() < 1e-9);
    let list = |name: &str, key: &str| -> Vec<String> {
        result[name]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: {result}"))
            .iter()
            .map(|row| {
                for cost in ["wasm_us", "native_us"] {
                    assert!(row.get(cost).is_none_or(positive), "{name}.{cost}: {row}");
                }
                row[key].to_string()
            })
            .collect()
    };
    assert_eq!(list("stages", "stage"), ["\"validate\"", "\"transform\"", "\"aggregate\""]);
    assert_eq!(list("record_sizes", "value_bytes"), ["250", "2000", "20000"]);
    assert_eq!(list("batch_sizes", "batch_size"), ["1", "10", "100", "1000"]);
    let cluster = result["cluster"].as_array().unwrap();
    assert_eq!(
        cluster.iter().map(|run| run["members"].as_u64().unwrap()).collect::<Vec<_>>(),
        [1, 2],
        "{result}"
    );
    for run in cluster {
        assert!(
            positive(&run["per_s"]) && positive(&run["peak_rss_mib"]) && run["events"] == 3000,
            "{run}"
        );
    }
    // Memory it can explain: each stage's instances and linear memory, and the process's
    // resident set after each part.
    let stages = result["stage_memory"].as_array().unwrap();
    assert_eq!(stages.len(), 3, "{result}");
    for stage in stages {
        assert!(stage["instances"] == 1 && positive(&stage["linear_bytes"]), "{stage}");
        assert!(stage["linear_bytes"].as_u64() <= stage["limit_bytes"].as_u64(), "{stage}");
    }
    let parts = result["memory_by_part"].as_array().unwrap();
    assert!(parts.len() >= 5 && parts.iter().all(|p| positive(&p["peak_mib"])), "{result}");
    // The physical limit beside it: librdkafka alone, on the same broker.
    assert!(positive(&result["plain_passthrough_per_s"]), "{result}");
    let catch_up = &result["catch_up"];
    assert!(
        positive(&catch_up["one_record_batches_per_s"])
            && positive(&catch_up["big_batches_per_s"])
            && catch_up["events"] == 3000,
        "{catch_up}"
    );
    // An enrichment table: rebuilt from a topic, its memory, lookups native and in wasm.
    let table = &result["table"];
    assert_eq!(table["keys"], 20000, "{table}");
    for field in ["rebuild_s", "rss_mib", "counted_mib", "lookup_native_us", "enricher_us"] {
        assert!(positive(&table["memory"][field]), "table.memory.{field}: {table}");
        assert!(positive(&table["disk"][field]), "table.disk.{field}: {table}");
    }
    assert!(positive(&table["disk"]["file_mib"]), "past its memory bound, on disk: {table}");
    // The renamed copies of the config it ran `weir run` with are gone.
    let left: Vec<_> = std::fs::read_dir(repo())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".weir-bench-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The book's performance chapter is what `weir bench --readme` made of the run whose
/// JSON it carries: a hand-edited figure fails here.
#[test]
fn the_performance_chapter_is_generated_from_one_bench_run() {
    let readme = std::fs::read_to_string(repo().join("docs/performance.md")).unwrap();
    let result = weir_workshop::bench::BenchResult::from_readme(&readme).unwrap();
    assert_eq!(weir_workshop::bench::render::section(&readme).unwrap(), result.markdown().unwrap());
    assert_eq!(result.cluster.len(), 2, "the chapter's run includes --cluster on tansu");
}

/// The broker goes away for good with `weir run` joined and working, then SIGTERM (and,
/// in a second round, SIGINT): weir ends within its 30 s drain plus a margin, saying what
/// it could not commit — leaving the group is bounded too, not waited for without end.
#[test]
fn a_stop_signal_ends_weir_run_when_the_broker_is_gone() {
    let _alone = one_group_test_at_a_time();
    for signal in ["TERM", "INT"] {
        let tansu = Tansu::start();
        let brokers = tansu.brokers.clone();
        run_ok(weir(&brokers, &["topics", "create"]));
        let mut run = spawn(weir(&brokers, &["run"]));
        run_ok(weir(
            &brokers,
            &["generate", "--count", "300", "--rate", "3000", "--invalid-ratio", "0"],
        ));
        wait_for_count(&brokers, "user-login-processed-production", 300, Duration::from_secs(120));
        drop(tansu);
        run.signal(signal);
        let signalled = std::time::Instant::now();
        let bound = Duration::from_secs(45);
        while run.try_wait().unwrap().is_none() {
            assert!(
                signalled.elapsed() < bound,
                "SIG{signal} with the broker gone: still running after {bound:?}:\n{}",
                run.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = run.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not committed"), "SIG{signal}: says what was not committed:\n{err}");
        println!(
            "SIG{signal} with the broker gone: weir run ended in {:.1} s",
            signalled.elapsed().as_secs_f64()
        );
    }
}

/// Java clients often write with `compression.type=zstd`: records compressed with each
/// codec librdkafka knows — gzip, snappy, lz4, zstd — are consumed and processed, and the
/// outputs are written with the codec `[kafka.properties]` names (zstd here). Without zstd
/// in librdkafka, a zstd batch was undecodable and held its partition for good.
#[test]
fn records_of_every_compression_codec_are_processed() {
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[kafka.properties]\n\"compression.type\" = \"zstd\"\n",
            common::absolute_weir_toml()
        ),
    )
    .unwrap();
    run_ok(with_config(brokers, &config, &["topics", "create"]));
    let codecs = ["gzip", "snappy", "lz4", "zstd"];
    let login = |key: &str| {
        format!(
            r#"{{"user_id":"{key}","app_version":"2.3.0","device_type":"iOS","ip":"10.0.0.1","locale":"CA","device_id":"d","timestamp":1730244200}}"#
        )
    };
    for codec in codecs {
        let mut client = weir_kafka::client_config(brokers, &Default::default());
        client.set("compression.type", codec);
        produce_with(
            &client,
            (0..5).map(|i| format!("{codec}-{i}")).map(|k| (k.clone(), login(&k))),
        );
    }
    let run = spawn(with_config(brokers, &config, &["run"]));
    let processed =
        wait_for_topic(brokers, "user-login-processed-production", Duration::from_secs(90), |r| {
            r.len() >= 20
        });
    let out = terminate(run);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: Vec<String> =
        codecs.iter().flat_map(|c| (0..5).map(move |i| format!("{c}-{i}"))).collect();
    let (lost, duplicated) = losses_and_duplicates(expected.iter().map(String::as_str), &processed);
    assert!(lost.is_empty() && duplicated.is_empty(), "lost {lost:?}, duplicated {duplicated:?}");
}

/// Churn, as Kubernetes makes it: five instances during a stream, three SIGKILLed (a pod
/// killed after its grace period) and two SIGTERMed, then one new instance. A coordinator
/// may hold the next join until the killed members' rebalance timeout runs out (tansu does;
/// it was librdkafka's 300 s default, during which the new instance processed nothing).
/// weir announces 20 s: the new instance is processing within a minute and catches up.
#[test]
fn a_new_instance_after_churn_is_processing_within_a_minute() {
    let _alone = one_group_test_at_a_time();
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        common::absolute_weir_toml().replace("partitions = 3", "partitions = 6"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // One record per batch, as a producer that flushes each record writes.
    let generator_config = dir.path().join("generator.toml");
    std::fs::write(
        &generator_config,
        std::fs::read_to_string(config).unwrap() + "\n" + catch_up::ONE_RECORD_PER_BATCH,
    )
    .unwrap();
    let manifest_path = dir.path().join("manifest.jsonl");
    run_ok(weir(brokers, &["topics", "create", "--config", config]));
    let reference = catch_up::big_batch_rate(brokers, dir.path(), 15_000);
    let generator = spawn(weir(
        brokers,
        &[
            "generate",
            "--config",
            generator_config.to_str().unwrap(),
            "--count",
            "30000",
            "--rate",
            "2000",
            "--invalid-ratio",
            "0",
            "--seed",
            "9",
            "--manifest",
            manifest_path.to_str().unwrap(),
        ],
    ));
    let mut instances: Vec<_> =
        (0..3).map(|_| spawn(weir(brokers, &["run", "--config", config]))).collect();
    wait_for_count(brokers, "user-login-processed-production", 3_000, Duration::from_secs(120));
    // Two more join, and the group rebalances: killed in the middle of it, as in a
    // rolling restart whose pods miss their grace period.
    instances.extend((0..2).map(|_| spawn(weir(brokers, &["run", "--config", config]))));
    std::thread::sleep(Duration::from_millis(1500)); // the moment of the kills, mid-join, is the scenario
    for mut killed in instances.drain(..3) {
        killed.kill().unwrap();
        killed.wait().unwrap();
    }
    for stopped in instances.drain(..) {
        let _ = terminate(stopped);
    }
    // The stream ends before the new instance starts, so all it reads is a backlog.
    let generated = generator.wait_with_output().unwrap();
    assert!(generated.status.success(), "{}", String::from_utf8_lossy(&generated.stderr));
    let before =
        read_topic(brokers, "user-login-processed-production", Duration::from_millis(500)).len();
    let started = std::time::Instant::now();
    let started_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
            as i64;
    let run = spawn(weir(brokers, &["run", "--config", config]));
    wait_for_count(brokers, "user-login-processed-production", before + 1, Duration::from_secs(60));
    let processing_after = started.elapsed();
    let kinds = manifest(&manifest_path);
    let processed = wait_for_topic(
        brokers,
        "user-login-processed-production",
        Duration::from_secs(120),
        |records| records.iter().map(key).collect::<HashSet<_>>().len() >= kinds.len(),
    );
    let out = terminate(run);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (lost, duplicated) = losses_and_duplicates(kinds.keys().map(String::as_str), &processed);
    assert!(lost.is_empty(), "{} lost", lost.len());
    // The new instance caught up what the churn left at the floor's share of a big-batch
    // backlog's rate. One full-suite run (before 429f798 and 8006b39) measured 0.02 here;
    // a partition paused while the flow waited, lost in a rebalance and assigned again
    // stayed paused (fixed for stateful flows in 429f798, for all in 8006b39). Since:
    // 0.31–1.15 in 7 runs, two at a time or beside two CPU burners.
    let new_instance: Vec<_> =
        processed.into_iter().filter(|m| m.timestamp.is_some_and(|t| t >= started_ms)).collect();
    let rate = if new_instance.len() >= 2 { catch_up::output_rate(&new_instance) } else { 0.0 };
    println!(
        "churn on tansu: 5 instances, 3 SIGKILLed, 2 SIGTERMed; a new one processing after {:.1} s; 0 lost, {} duplicates; \
         it caught up {} records at {rate:.0}/s, big batches at {reference:.0}/s: {:.2}",
        processing_after.as_secs_f64(), duplicated.len(), new_instance.len(), rate / reference
    );
    assert!(
        rate >= catch_up::CATCH_UP_FLOOR * reference,
        "the new instance caught up at {rate:.0}/s, big batches at {reference:.0}/s"
    );
}
