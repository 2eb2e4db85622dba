//! Hot swap against a real broker: a plugin file replaced under a running `weir run`
//! takes over between batches; a broken replacement is refused and the old one carries on.

use crate::common;

use common::kafka::*;
use common::{login_config, plugin};
use std::path::Path;
use std::time::Duration;

fn produce(brokers: &str, prefix: &str, n: usize) {
    let value = |i: usize| {
        format!(
            r#"{{"user_id":"{prefix}{i}","app_version":"2.3.0","device_type":"iOS","ip":"164.116.28.203","locale":"MD","device_id":"d","timestamp":1730244200}}"#
        )
    };
    common::kafka::produce(brokers, (0..n).map(|i| (format!("{prefix}{i}"), value(i))));
}

/// Replaces a file the way a deploy should: write aside, then rename over.
fn replace(path: &Path, bytes: &[u8]) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, bytes).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

/// Past the second between two looks at the plugin files.
const FILE_CHECK_INTERVAL_PASSED: Duration = Duration::from_millis(1500);

#[test]
fn a_new_plugin_file_takes_over_between_batches_and_a_broken_one_is_refused() {
    let broker = embedded(2);
    let brokers = broker.bootstrap_servers().to_string();
    let dir = tempfile::tempdir().unwrap();
    let transform = dir.path().join("transform.wasm");
    std::fs::copy(plugin("readable-timestamp"), &transform).unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, login_config(&transform)).unwrap();

    let run =
        spawn(weir(&brokers, &["run", "--config", config.to_str().unwrap(), "--log", "info"]));
    produce(&brokers, "a", 100);
    wait_for_count(&brokers, TOPICS[1], 100, Duration::from_secs(60));

    replace(&transform, &std::fs::read(plugin("mask-ip")).unwrap());
    // Not a condition: weir looks at its plugin files at most once a second, between
    // batches; the next batch must come after that second has passed.
    std::thread::sleep(FILE_CHECK_INTERVAL_PASSED);
    produce(&brokers, "b", 100);
    wait_for_count(&brokers, TOPICS[1], 200, Duration::from_secs(60));

    replace(&transform, b"not a component");
    std::thread::sleep(FILE_CHECK_INTERVAL_PASSED);
    produce(&brokers, "c", 100);
    wait_for_topic(&brokers, TOPICS[1], Duration::from_secs(60), |r| r.len() >= 300);
    let out = terminate(run);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("swapped in the new plugins between batches"), "{log}");
    assert!(log.contains("new plugin refused, the running one carries on"), "{log}");
    assert!(log.contains("is not a WebAssembly component"), "{log}");

    // Read again after the stop: a duplicate written late must not escape the count.
    let processed = read_topic(&brokers, TOPICS[1], Duration::from_secs(1));
    let expected: Vec<String> =
        ["a", "b", "c"].iter().flat_map(|p| (0..100).map(move |i| format!("{p}{i}"))).collect();
    let (lost, duplicated) = losses_and_duplicates(expected.iter().map(String::as_str), &processed);
    assert!(lost.is_empty(), "lost: {lost:?}");
    assert!(duplicated.is_empty(), "processed twice: {duplicated:?}");
    assert_eq!(processed.len(), 300);
    for m in &processed {
        let value = String::from_utf8_lossy(&m.value);
        if key(m).starts_with('a') {
            assert!(
                value.contains(r#""ip":"164.116.28.203""#)
                    && value.contains(r#""timestamp":"2024-10-29 23:23:20""#),
                "{value}"
            );
        } else {
            assert!(
                value.contains(r#""ip":"164.116.28.0""#)
                    && value.contains(r#""timestamp":1730244200"#),
                "{value}"
            );
        }
    }
    assert!(read_topic(&brokers, TOPICS[2], Duration::from_secs(1)).is_empty(), "no dead letters");
}

/// SIGHUP reloads weir.toml and its plugins: here the config's transform is switched to
/// another plugin file; a config that no longer parses is refused.
#[test]
fn sighup_reloads_the_config_and_its_plugins() {
    let broker = embedded(1);
    let brokers = broker.bootstrap_servers().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    let timestamped = login_config(&plugin("readable-timestamp"));
    std::fs::write(&config, &timestamped).unwrap();
    let hup = |run: &Guarded| run.signal("HUP");

    let run =
        spawn(weir(&brokers, &["run", "--config", config.to_str().unwrap(), "--log", "info"]));
    produce(&brokers, "a", 10);
    wait_for_count(&brokers, TOPICS[1], 10, Duration::from_secs(60));
    replace(&config, format!("{timestamped}\n[bogus]\n").as_bytes());
    hup(&run); // returns once weir has taken the signal
               // Reloads happen between batches: this one sees the broken config and refuses it.
    produce(&brokers, "x", 1);
    wait_for_count(&brokers, TOPICS[1], 11, Duration::from_secs(60));
    replace(
        &config,
        timestamped
            .replace(
                &plugin("readable-timestamp").display().to_string(),
                &plugin("mask-ip").display().to_string(),
            )
            .as_bytes(),
    );
    hup(&run);
    produce(&brokers, "b", 10);
    wait_for_count(&brokers, TOPICS[1], 21, Duration::from_secs(60));
    // Settings outside the stages need a restart: such a reload is refused by name.
    let masked = timestamped.replace(
        &plugin("readable-timestamp").display().to_string(),
        &plugin("mask-ip").display().to_string(),
    );
    replace(&config, masked.replace("batch_size = 3", "batch_size = 4").as_bytes());
    hup(&run);
    produce(&brokers, "z", 1);
    wait_for_count(&brokers, TOPICS[1], 22, Duration::from_secs(60));
    let out = terminate(run);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("reload refused, the running pipeline carries on") && log.contains("bogus"),
        "{log}"
    );
    assert!(log.contains("pipeline.batch_size changed, which only a restart applies"), "{log}");
    let processed = read_topic(&brokers, TOPICS[1], Duration::from_secs(1));
    let expected: Vec<String> = (0..10)
        .map(|i| format!("a{i}"))
        .chain(["x0".to_string()])
        .chain((0..10).map(|i| format!("b{i}")))
        .chain(["z0".to_string()])
        .collect();
    let (lost, duplicated) = losses_and_duplicates(expected.iter().map(String::as_str), &processed);
    assert!(lost.is_empty() && duplicated.is_empty(), "lost {lost:?}, duplicated {duplicated:?}");
    for m in processed.iter().filter(|m| key(m).starts_with('b')) {
        assert!(
            String::from_utf8_lossy(&m.value).contains(r#""ip":"164.116.28.0""#),
            "{}",
            String::from_utf8_lossy(&m.value)
        );
    }
}
