//! `weir init`: a project started from an empty directory with only the installed binary
//! (copied away from the repository, no WEIR_* settings) works for `weir check`,
//! `weir process` and `weir run`, and a second init writes nothing over the user's files.

use crate::common;

use common::kafka::{produce_to, spawn, terminate, wait_for_topic};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// The binary alone, in a directory of its own: no repository beside it.
fn installed(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let weir = bin.join("weir");
    std::fs::copy(env!("CARGO_BIN_EXE_weir"), &weir).unwrap();
    weir
}

fn weir(binary: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary);
    command.args(args).current_dir(cwd);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WEIR_") {
            command.env_remove(&name);
        }
    }
    // Compiled code only: the test's cache makes the first start fast, it finds no plugin.
    command.env("WEIR_CACHE_DIR", common::cache_dir()).env("WEIR_LOG", "warn");
    command
}

fn ok(mut command: Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(path: &Path) -> Vec<String> {
    let mut lines: Vec<String> =
        std::fs::read_to_string(path).unwrap().lines().map(String::from).collect();
    lines.sort();
    lines
}

#[test]
fn a_project_from_weir_init_checks_processes_and_runs_without_the_repository() {
    let root = tempfile::tempdir().unwrap();
    let binary = installed(root.path());
    let project = root.path().join("my-pipeline");
    let said = ok(weir(&binary, root.path(), &["init", "my-pipeline"]));
    let said = String::from_utf8_lossy(&said.stdout);
    assert!(said.contains("weir process --input samples/user-login.jsonl"), "{said}");

    // Every plugin is the project's own (beside its weir.toml, not found elsewhere).
    let checked = ok(weir(&binary, &project, &["check"]));
    let checked = String::from_utf8_lossy(&checked.stdout);
    for stage in ["validate", "transform", "aggregate", "repair"] {
        let line = checked.lines().find(|l| l.starts_with(&format!("{stage}:"))).unwrap_or("");
        assert!(line.ends_with(".wasm ok") && line.contains(": plugins/"), "{stage}: {checked}");
    }
    let text = std::fs::read_to_string(project.join("weir.toml")).unwrap();
    for key in ["input_topic", "output_topic", "dead_letter_topic", "parked_topic"] {
        assert!(text.lines().any(|l| l.starts_with(&format!("{key} = "))), "{key} named");
    }

    ok(weir(
        &binary,
        &project,
        &[
            "process",
            "--input",
            "samples/user-login.jsonl",
            "--output",
            "out.jsonl",
            "--dead-letter",
            "dead.jsonl",
        ],
    ));
    let processed = lines(&project.join("out.jsonl"));
    let sample = std::fs::read_to_string(project.join("samples/user-login.jsonl")).unwrap();
    assert!(!processed.is_empty(), "the sample has valid events");
    assert_eq!(
        processed.len() + lines(&project.join("dead.jsonl")).len(),
        sample.lines().count(),
        "every sample line ends somewhere"
    );

    // Over Kafka, with the topics the project names.
    let broker = weir_workshop::embedded::EmbeddedBroker::start(1).unwrap();
    let brokers = broker.bootstrap_servers().to_string();
    let config = weir_core::config::Config::load(&project.join("weir.toml")).unwrap();
    for topic in weir_kafka::topics::names(&config) {
        broker.create_topic(&topic, 1, 1).unwrap();
    }
    let run = spawn(weir(&binary, &project, &["run", "--brokers", &brokers]));
    produce_to(
        &brokers,
        &config.kafka.input_topic,
        sample.lines().enumerate().map(|(i, l)| (i.to_string(), l.to_string())),
    );
    let delivered =
        wait_for_topic(&brokers, &config.kafka.output_topic, Duration::from_secs(60), |r| {
            r.len() >= processed.len()
        });
    let out = terminate(run);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut values: Vec<String> =
        delivered.iter().map(|m| String::from_utf8_lossy(&m.value).into_owned()).collect();
    values.sort();
    assert_eq!(values, processed, "weir run delivers what weir process made of the sample");
}

#[test]
fn a_second_init_writes_nothing_over_the_users_files() {
    let root = tempfile::tempdir().unwrap();
    let binary = installed(root.path());
    ok(weir(&binary, root.path(), &["init", "p"]));
    // Unchanged files are no obstacle.
    ok(weir(&binary, root.path(), &["init", "p"]));
    let config = root.path().join("p/weir.toml");
    std::fs::write(&config, "# mine\n").unwrap();
    let again = weir(&binary, root.path(), &["init", "p"]).output().unwrap();
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && said.contains("weir.toml"), "{said}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "# mine\n", "kept");
    ok(weir(&binary, root.path(), &["init", "p", "--force"]));
    assert!(std::fs::read_to_string(&config).unwrap().contains("input_topic"), "replaced");
}
