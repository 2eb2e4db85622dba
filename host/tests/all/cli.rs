//! The `weir` binary end to end on files: golden outputs, repair, errors, plugin swap.

use crate::common;

use common::{cache_dir, login_config, plugin, repo};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn weir(args: &[&str]) -> Output {
    weir_with_stdin(args, None)
}

fn weir_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = common::child::Guarded::new(
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .env("WEIR_CACHE_DIR", cache_dir())
            .env("WEIR_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            pipe.write_all(bytes).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name))
        .unwrap()
}

struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new(config: &str) -> Workdir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("weir.toml"), config).unwrap();
        Workdir { dir }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn arg(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

fn sample() -> String {
    repo().join("samples/user-login.jsonl").display().to_string()
}

#[test]
fn process_matches_the_golden_outputs() {
    let w = Workdir::new(&login_config(&plugin("readable-timestamp")));
    let out = weir(&[
        "process",
        "--config",
        &w.arg("weir.toml"),
        "--input",
        &sample(),
        "--output",
        &w.arg("out.jsonl"),
        "--dead-letter",
        &w.arg("dead.jsonl"),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.read("out.jsonl"), golden("process.out.jsonl"));
    assert_eq!(w.read("dead.jsonl"), golden("process.dead.jsonl"));
    let report: serde_json::Value = serde_json::from_str(text(&out.stderr).trim()).unwrap();
    assert_eq!(
        report,
        serde_json::from_str::<serde_json::Value>(&golden("process.report.json")).unwrap()
    );
}

#[test]
fn process_reads_stdin_writes_stdout_and_never_crashes_on_bad_lines() {
    let w = Workdir::new(&login_config(&plugin("readable-timestamp")));
    let mut input = std::fs::read(repo().join("samples/user-login.jsonl")).unwrap();
    input.extend_from_slice(b"\n\xff\xfe not utf8\n[1,2]\n\"scalar\"\n{\"deep\":");
    input.extend_from_slice(&b"[".repeat(10_000));
    input.extend_from_slice(b"\n");
    let out = weir_with_stdin(
        &["process", "--config", &w.arg("weir.toml"), "--dead-letter", &w.arg("dead.jsonl")],
        Some(&input),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), golden("process.out.jsonl"));
    let dead: Vec<serde_json::Value> =
        w.read("dead.jsonl").lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(dead.len(), 3 + 4);
    assert_eq!(dead[3]["value_base64"], "//4gbm90IHV0Zjg=", "non-UTF-8 bytes are kept exactly");
    assert!(dead[3]["violations"][0]["reason"].as_str().unwrap().contains("not UTF-8"));
    assert!(dead[6]["violations"][0]["reason"].as_str().unwrap().contains("not valid JSON"));
    assert!(
        text(&out.stderr).contains("records in 12 · processed 5 · dead letters 7"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn repair_fixes_what_it_can_and_names_what_it_cannot() {
    let w = Workdir::new(&login_config(&plugin("readable-timestamp")));
    std::fs::write(w.path("dead.jsonl"), golden("process.dead.jsonl")).unwrap();
    let out = weir(&[
        "repair",
        "--config",
        &w.arg("weir.toml"),
        "--input",
        &w.arg("dead.jsonl"),
        "--output",
        &w.arg("fixed.jsonl"),
        "--unrepairable",
        &w.arg("parked.jsonl"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.read("fixed.jsonl"), golden("repair.fixed.jsonl"));
    assert_eq!(w.read("parked.jsonl"), golden("repair.parked.jsonl"));
    assert!(text(&out.stderr).contains("repaired 2 · unrepairable 1"));
}

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// `mask-ip` replaces `readable-timestamp` through the config alone; the host binary
/// is the same file before and after.
#[test]
fn a_plugin_is_swapped_by_editing_only_the_config() {
    let binary = Path::new(env!("CARGO_BIN_EXE_weir"));
    let before = sha256(binary);
    let w = Workdir::new(&login_config(&plugin("readable-timestamp")));
    let run = |w: &Workdir| {
        let out = weir(&[
            "process",
            "--config",
            &w.arg("weir.toml"),
            "--input",
            &sample(),
            "--dead-letter",
            &w.arg("dead.jsonl"),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let timestamped = run(&w);
    // Only the timestamp's bytes change: the sample's spacing stays.
    assert!(
        timestamped.contains(r#""ip": "164.116.28.203""#)
            && timestamped.contains(r#""timestamp": "2024-10-29 23:23:20""#)
    );
    let config = w.read("weir.toml").replace(
        &plugin("readable-timestamp").display().to_string(),
        &plugin("mask-ip").display().to_string(),
    );
    std::fs::write(w.path("weir.toml"), config).unwrap();
    let masked = run(&w);
    assert!(
        masked.contains(r#""ip":"164.116.28.0""#) && masked.contains(r#""timestamp":1730244200"#),
        "{masked}"
    );
    assert_eq!(masked.lines().count(), 5);
    assert_eq!(sha256(binary), before);
}

fn fails_with(args: &[&str], expected: &[&str]) {
    let out = weir(args);
    assert!(!out.status.success(), "expected failure for {args:?}");
    let err = text(&out.stderr);
    for e in expected {
        assert!(err.contains(e), "stderr lacks {e:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn config_errors_name_the_file_the_key_and_the_fix() {
    let w = Workdir::new("[pipeline]\nbatch_sise = 10\n");
    fails_with(&["process", "--config", &w.arg("weir.toml")], &[&w.arg("weir.toml"), "batch_sise"]);

    fails_with(
        &["process", "--config", "/nonexistent/weir.toml"],
        &["/nonexistent/weir.toml", "--config"],
    );

    let config = login_config(&plugin("readable-timestamp"))
        .replace(&plugin("login-analytics").display().to_string(), "/nope/agg.wasm");
    let w = Workdir::new(&config);
    fails_with(
        &["check", "--config", &w.arg("weir.toml")],
        &["`aggregate.plugin`", "/nope/agg.wasm", "weir plugin install"],
    );

    let config = login_config(&plugin("mask-ip")).replace(
        &plugin("json-schema-validator").display().to_string(),
        &plugin("mask-ip").display().to_string(),
    );
    let w = Workdir::new(&config);
    fails_with(
        &["check", "--config", &w.arg("weir.toml")],
        &["mask-ip.wasm implements `transformer`; stage `validate` needs `validator`"],
    );

    let w = Workdir::new(&login_config(&plugin("readable-timestamp")).replacen(
        &repo().join("schemas/user-login.json").display().to_string(),
        "broken.json",
        1,
    ));
    std::fs::write(w.path("broken.json"), "{ not json").unwrap();
    fails_with(
        &["check", "--config", &w.arg("weir.toml")],
        &["`validate.config.schema`", "broken.json", "is not JSON"],
    );

    std::fs::write(w.path("broken.json"), r#"{"type": "no-such-type"}"#).unwrap();
    fails_with(
        &["check", "--config", &w.arg("weir.toml")],
        &["stage `validate`", "invalid JSON Schema"],
    );

    let w = Workdir::new(&format!(
        "{}\n[validate.limits]\ncpu_ms_per_batch = 0\n",
        login_config(&plugin("mask-ip"))
    ));
    fails_with(
        &["check", "--config", &w.arg("weir.toml")],
        &["`validate.limits`", "call_timeout_ms"],
    );
}

#[test]
fn check_accepts_the_default_config() {
    let out = weir(&["check", "--config", &repo().join("weir.toml").display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("validate: "));
}

#[test]
fn plugin_inspect_and_test_work_on_one_plugin() {
    let out = weir(&["plugin", "inspect", &plugin("json-schema-validator").display().to_string()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("world:   validator"), "{shown}");
    let newest = weir_core::plugin::contract::Version::newest_known();
    assert!(shown.contains(&format!("world:   validator ({newest})")), "{shown}");
    assert!(
        shown.contains("validate: func(batch: list<u8>) -> list<u8>"),
        "a batch crosses as one frame: {shown}"
    );

    let w = Workdir::new("");
    std::fs::write(
        w.path("stage.toml"),
        format!("schema = \"{}\"\n", repo().join("schemas/user-login.json").display()),
    )
    .unwrap();
    let out = weir(&[
        "plugin",
        "test",
        &plugin("json-schema-validator").display().to_string(),
        "--input",
        &sample(),
        "--stage-config",
        &w.arg("stage.toml"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), golden("plugin-test.validator.txt"));
}

/// Foot-guns refused with the fix: an output that is the input (it would be truncated
/// before it is read), and a benchmark with nothing to measure.
#[test]
fn an_output_that_is_the_input_and_an_empty_bench_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::copy(repo().join("samples/user-login.jsonl"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let config = repo().join("weir.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "process",
            "--config",
            config.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            input.to_str().unwrap(),
        ])
        .env("WEIR_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is the input file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input is untouched");

    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["bench", "--config", config.to_str().unwrap(), "--events", "0"])
        .env("WEIR_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--events must be at least one batch"));
}

/// The log import is bounded: a stage's plugin writes at most 64 KiB per second to weir's
/// log, whichever of its instances writes (a fault's bisection makes up to 2n−1 calls on
/// fresh instances); the rest is counted and said in one line. A line stays one line:
/// control characters are escaped, so a plugin cannot forge log lines.
#[test]
fn a_chatty_plugin_cannot_flood_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(
        &config,
        format!("[transform]\nplugin = \"{}\"\n", common::test_plugin("hostile").display()),
    )
    .unwrap();
    let input = dir.path().join("in.jsonl");
    let process = |lines: &str| {
        std::fs::write(&input, lines).unwrap();
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args([
                "process",
                "--config",
                config.to_str().unwrap(),
                "--input",
                input.to_str().unwrap(),
                "--dead-letter",
                "/dev/null",
            ])
            .env("WEIR_CACHE_DIR", cache_dir())
            .output()
            .unwrap()
    };
    let out = process("CHATTY\nquiet\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CHATTY\nquiet\n",
        "the records themselves went through"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let written = log.lines().filter(|l| l.contains("xxxxxxxxxx")).count();
    assert_eq!(written, 64, "64 lines of 1 KiB, then nothing");
    assert!(
        log.contains("dropped 9936 plugin log lines past 64 KiB per second"),
        "{}",
        &log[log.len().saturating_sub(500)..]
    );
    assert!(log.len() < 200_000, "{} bytes of log", log.len());

    // Four chatty records and a panic in one batch: bisection calls the plugin 2n−1 times.
    let started = std::time::Instant::now();
    let out = process("CHATTY\nCHATTY\nCHATTY\nCHATTY\nPANIC\n");
    let seconds = started.elapsed().as_secs() as usize + 1;
    let log = String::from_utf8_lossy(&out.stderr);
    let written = log.lines().filter(|l| l.contains("xxxxxxxxxx")).count();
    assert!(
        written <= 64 * seconds,
        "{written} lines of 1 KiB in {seconds} s, over 64 KiB per second"
    );

    let out = process("FORGE\n");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("innocent\\nERROR forged by a plugin\\u{1b}[2J"),
        "escaped, on one line: {}",
        &log[log.len().saturating_sub(800)..]
    );
    assert!(!log.lines().any(|l| l.starts_with("ERROR forged")), "a forged line: {log}");
}

/// `RUST_LOG` is honoured as other Rust tools do (after `--log` / `WEIR_LOG`), and a log
/// filter that does not parse is an error naming it and where it came from (exit 2), not
/// a silent `info`.
#[test]
fn rust_log_is_honoured_and_a_bad_log_filter_is_an_error() {
    let check = |env: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        command
            .args(["check", "--config"])
            .arg(repo().join("weir.toml"))
            .args(args)
            .env("WEIR_CACHE_DIR", cache_dir())
            .env_remove("WEIR_LOG")
            .env_remove("RUST_LOG");
        command.envs(env.iter().copied());
        common::child::Guarded::new(
            command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
        )
        .wait_with_output()
        .unwrap()
    };
    let debug_lines =
        |out: &Output| text(&out.stderr).lines().filter(|l| l.contains("DEBUG")).count();
    let quiet = check(&[], &[]);
    assert!(quiet.status.success() && debug_lines(&quiet) == 0, "{}", text(&quiet.stderr));
    let rust_log = check(&[("RUST_LOG", "debug")], &[]);
    assert!(
        rust_log.status.success() && debug_lines(&rust_log) > 0,
        "RUST_LOG=debug shows debug lines: {}",
        text(&rust_log.stderr)
    );
    let flag_wins = check(&[("RUST_LOG", "debug")], &["--log", "warn"]);
    assert_eq!(debug_lines(&flag_wins), 0, "--log wins over RUST_LOG");
    let bad = check(&[], &["--log", "weir=nonsense"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr)
            .contains("log filter `weir=nonsense` (from --log / WEIR_LOG) is not valid"),
        "{}",
        text(&bad.stderr)
    );
    let bad_env = check(&[("RUST_LOG", "weir=loud")], &[]);
    assert_eq!(bad_env.status.code(), Some(2));
    assert!(text(&bad_env.stderr).contains("(from RUST_LOG)"), "{}", text(&bad_env.stderr));
}

/// A config that does not say where its records go is refused (exit 2, naming the keys)
/// by every command that touches Kafka — no default is anyone's topic — and is fine for
/// offline work (`weir process`, `weir check --offline`); the repository's weir.toml names
/// them all.
#[test]
fn a_config_not_naming_its_topics_is_refused_where_topics_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let only_input = crate::common::absolute_weir_toml()
        .lines()
        .filter(|l| {
            !["output_topic", "dead_letter_topic", "parked_topic"].iter().any(|k| l.starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = dir.path().join("weir.toml");
    std::fs::write(&path, only_input).unwrap();
    let config = path.to_str().unwrap();
    // No broker listens there: the refusal comes before any connection.
    let nowhere = ["--brokers", "127.0.0.1:9"];
    for args in [
        vec!["check", "--config", config],
        [&["run", "--config", config][..], &nowhere].concat(),
        [&["topics", "create", "--config", config][..], &nowhere].concat(),
        [&["replay", "--config", config, "--from", "earliest"][..], &nowhere].concat(),
        [&["dlq", "stats", "--config", config][..], &nowhere].concat(),
        [&["repair", "--config", config][..], &nowhere].concat(),
    ] {
        let out = weir(&args);
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(
            said.contains("output_topic") && said.contains("dead_letter_topic"),
            "{args:?} names the keys to set: {said}"
        );
        assert!(!said.contains("input_topic") && !said.contains("user-login-"), "{args:?}: {said}");
    }
    let offline = weir(&["check", "--offline", "--config", config]);
    assert!(offline.status.success(), "{}", String::from_utf8_lossy(&offline.stderr));
    let process = weir(&[
        "process",
        "--config",
        config,
        "--input",
        repo().join("samples/user-login.jsonl").to_str().unwrap(),
        "--output",
        dir.path().join("out.jsonl").to_str().unwrap(),
    ]);
    assert!(process.status.success(), "{}", String::from_utf8_lossy(&process.stderr));
    let full = weir(&["check", "--config", repo().join("weir.toml").to_str().unwrap()]);
    assert!(full.status.success(), "the repository's names them all");
}

/// One meaning per flag name: `--from` is where to start reading (`run`, `replay`, `tail`);
/// the topic `dlq redrive` sends back from is `--source`. The earlier spellings still parse
/// (scripts), unlisted: `tail --from-beginning`, `dlq redrive --from`.
#[test]
fn from_means_where_to_start_in_every_command() {
    let help = |args: &[&str]| String::from_utf8(weir(args).stdout).unwrap();
    let tail = help(&["tail", "--help"]);
    assert!(tail.contains("--from <FROM>") && !tail.contains("--from-beginning"), "{tail}");
    let redrive = help(&["dlq", "redrive", "--help"]);
    assert!(redrive.contains("--source <SOURCE>") && !redrive.contains("--from"), "{redrive}");
    let config = repo().join("weir.toml");
    for source in ["--source", "--from"] {
        let out = weir(&[
            "dlq",
            "redrive",
            "--config",
            config.to_str().unwrap(),
            source,
            "dead-letter",
            "--brokers",
            "127.0.0.1:1",
        ]);
        // Parsed (a usage error is 2): it went on to look for the broker (3).
        assert_eq!(
            out.status.code(),
            Some(3),
            "{source}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Completion scripts and the man page cover every subcommand `weir --help` lists.
#[test]
fn completions_and_the_man_page_name_every_command() {
    let rendered = |args: &[&str]| {
        let out = weir(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let help = rendered(&["--help"]);
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.len() >= 15 && commands.contains(&"completions") && commands.contains(&"man"),
        "{help}"
    );
    let (bash, man) = (rendered(&["completions", "bash"]), rendered(&["man"]));
    assert!(man.contains(".TH weir"), "{}", &man[..200.min(man.len())]);
    for command in &commands {
        assert!(bash.contains(command), "bash completion lacks `{command}`");
        assert!(man.contains(command), "the man page lacks `{command}`");
    }
    assert!(rendered(&["completions", "zsh"]).contains("#compdef weir"));
    assert!(rendered(&["completions", "fish"]).contains("complete -c weir"));
    // Every page a page lists (`weir-run(1)`, `weir-plugin-new(1)`) is written by --dir.
    let dir = tempfile::tempdir().unwrap();
    rendered(&["man", "--dir", dir.path().to_str().unwrap()]);
    let mut pages = vec!["weir.1".to_string()];
    let mut listed = 0;
    while let Some(page) = pages.pop() {
        let roff = std::fs::read_to_string(dir.path().join(&page))
            .unwrap_or_else(|e| panic!("{page} is listed but not written: {e}"));
        for name in roff.lines().filter_map(|l| l.strip_suffix("(1)")) {
            pages.push(format!("{}.1", name.replace("\\-", "-")));
            listed += 1;
        }
    }
    assert!(listed > commands.len(), "subcommands' subcommands are pages too: {listed}");
}

/// Exit codes a script can act on: 0 done, 1 a failure while working, 2 the command line
/// or the config is wrong (also a bad log filter). (3, no broker: `kafka_embedded`; 130 and
/// 143, a second signal: `kafka_embedded` too.)
#[test]
fn exit_codes_tell_a_wrong_config_from_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[pipeline]\nbatch_size = 0\n").unwrap();
    let code = |args: &[&str]| weir(args).status.code();
    assert_eq!(code(&["process", "--config", bad.to_str().unwrap()]), Some(2), "an invalid config");
    assert_eq!(
        code(&["check", "--config", dir.path().join("missing.toml").to_str().unwrap()]),
        Some(2),
        "no config"
    );
    assert_eq!(code(&["process", "--no-such-flag"]), Some(2), "a usage error");
    // What the config names is wrong too: a plugin that is not there, one of another world,
    // a plugin that refuses its config, no stage at all.
    let weir_toml = crate::common::absolute_weir_toml();
    for (why, config) in [
        ("a missing plugin", weir_toml.replace("readable-timestamp.wasm", "no-such-plugin.wasm")),
        (
            "a plugin of another world",
            weir_toml.replace("readable-timestamp.wasm", "login-analytics.wasm"),
        ),
        (
            // Past its config schema (a string): the plugin itself refuses the zone.
            "a plugin refusing its config",
            weir_toml.replace("utc_offset = \"+00:00\"", "timezone = \"Mars/Olympus\""),
        ),
        ("no stages", "[kafka]\ninput_topic = \"in\"\n".to_string()),
    ] {
        let path = dir.path().join("wrong.toml");
        std::fs::write(&path, &config).unwrap();
        let out = weir(&["process", "--config", path.to_str().unwrap(), "--input", "/dev/null"]);
        assert_eq!(out.status.code(), Some(2), "{why}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let good = repo().join("weir.toml");
    let missing = dir.path().join("missing.jsonl");
    assert_eq!(
        code(&[
            "process",
            "--config",
            good.to_str().unwrap(),
            "--input",
            missing.to_str().unwrap()
        ]),
        Some(1),
        "a failure"
    );
    let with_env = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["check"])
        .env("WEIR_CONFIG", &bad)
        .env("WEIR_CACHE_DIR", cache_dir())
        .output()
        .unwrap();
    assert_eq!(
        with_env.status.code(),
        Some(2),
        "WEIR_CONFIG is read: {}",
        String::from_utf8_lossy(&with_env.stderr)
    );
    assert!(
        String::from_utf8_lossy(&with_env.stderr).contains("bad.toml"),
        "{}",
        String::from_utf8_lossy(&with_env.stderr)
    );
}

/// What a container sets in its environment reaches the flags: each variable read
/// (shown by a value weir refuses, naming it).
#[test]
fn the_flags_a_container_sets_come_from_the_environment() {
    let with = |vars: &[(&str, &str)], args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        command.args(args).env("WEIR_CACHE_DIR", cache_dir()).current_dir(repo());
        for var in [
            "WEIR_CONFIG",
            "WEIR_BROKERS",
            "WEIR_METRICS",
            "WEIR_REPORT",
            "WEIR_LOG",
            "WEIR_LOG_FORMAT",
            "WEIR_REGISTRY",
            "RUST_LOG",
        ] {
            command.env_remove(var);
        }
        command.envs(vars.iter().copied());
        command.output().unwrap()
    };
    let said = |out: &Output| text(&out.stderr);
    let metrics = with(&[("WEIR_METRICS", "nowhere"), ("WEIR_BROKERS", "127.0.0.1:1")], &["run"]);
    assert!(said(&metrics).contains("cannot serve metrics on nowhere"), "{}", said(&metrics));
    let report = with(&[("WEIR_REPORT", "xml")], &["run"]);
    assert_eq!(report.status.code(), Some(2));
    assert!(said(&report).contains("invalid value 'xml' for '--report"), "{}", said(&report));
    let log = with(&[("WEIR_LOG", "weir=loud")], &["check"]);
    assert!(said(&log).contains("weir=loud") && said(&log).contains("WEIR_LOG"), "{}", said(&log));
    let json =
        with(&[("WEIR_LOG_FORMAT", "json"), ("WEIR_CONFIG", "/nonexistent/weir.toml")], &["check"]);
    let line: serde_json::Value =
        serde_json::from_str(said(&json).lines().last().unwrap()).unwrap();
    assert!(line["message"].as_str().unwrap().contains("/nonexistent/weir.toml"), "{line}");
    let registry =
        with(&[("WEIR_REGISTRY", "http://127.0.0.1:1")], &["schema", "get", "user-login-value"]);
    assert!(said(&registry).contains("http://127.0.0.1:1"), "{}", said(&registry));
}

/// A config that names its plugins by file name only, away from them (as an installed weir
/// is used): they are found in `$WEIR_PLUGIN_DIR`, else in `plugins/` beside the weir
/// binary; found nowhere, the error names the file and where to put it.
#[test]
fn plugins_named_by_file_are_found_in_the_plugin_directories() {
    let by_name = std::fs::read_to_string(repo().join("weir.toml"))
        .unwrap()
        .replace("\"target/plugins/", "\"")
        .replace("\"schemas/", &format!("\"{}/schemas/", repo().display()));
    assert!(
        by_name.contains("plugin = \"json-schema-validator.wasm\""),
        "weir.toml names target/plugins/*.wasm"
    );
    let w = Workdir::new(&by_name);
    let plugins = plugin("login-analytics").parent().unwrap().to_path_buf();
    let run = |exe: &Path, plugin_dir: &str, args: &[&str]| {
        let mut child = Command::new(exe);
        child
            .args(args)
            .env("WEIR_PLUGIN_DIR", plugin_dir)
            .env("WEIR_CACHE_DIR", cache_dir())
            .env("WEIR_LOG", "warn");
        common::child::Guarded::new(
            child
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
        .wait_with_output()
        .unwrap()
    };
    let installed = Path::new(env!("CARGO_BIN_EXE_weir"));
    let config = w.arg("weir.toml");

    let nowhere = run(installed, "", &["check", "--config", &config]);
    assert!(!nowhere.status.success());
    let said = text(&nowhere.stderr);
    assert!(
        said.contains("json-schema-validator.wasm")
            && said.contains("$WEIR_PLUGIN_DIR")
            && said.contains("beside the weir binary"),
        "{said}"
    );

    let from_env = run(installed, &plugins.display().to_string(), &["check", "--config", &config]);
    assert!(from_env.status.success(), "{}", text(&from_env.stderr));
    assert!(
        text(&from_env.stdout).contains(&format!(
            "validate: {} ok",
            plugins.join("json-schema-validator.wasm").display()
        )),
        "{}",
        text(&from_env.stdout)
    );

    // A weir with its plugins beside it (the image's and dist/'s layout), no variable set.
    let bin = w.path("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(installed, bin.join("weir")).unwrap();
    std::os::unix::fs::symlink(&plugins, bin.join("plugins")).unwrap();
    let beside = run(
        &bin.join("weir"),
        "",
        &[
            "process",
            "--config",
            &config,
            "--input",
            &sample(),
            "--dead-letter",
            &w.arg("dead.jsonl"),
        ],
    );
    assert!(beside.status.success(), "{}", text(&beside.stderr));
    assert!(
        text(&beside.stdout).lines().count() > 0 && !w.read("dead.jsonl").is_empty(),
        "the sample went through the pipeline"
    );

    // A weir alone (as `cargo install` leaves it) writes its own plugins beside itself.
    let alone = w.path("alone");
    std::fs::create_dir(&alone).unwrap();
    std::fs::copy(installed, alone.join("weir")).unwrap();
    let install = run(&alone.join("weir"), "", &["plugin", "install"]);
    assert!(install.status.success(), "{}", text(&install.stderr));
    for wasm in std::fs::read_dir(&plugins).unwrap().map(|e| e.unwrap().path()) {
        let written = alone.join("plugins").join(wasm.file_name().unwrap());
        assert_eq!(
            std::fs::read(&written).unwrap(),
            std::fs::read(&wasm).unwrap(),
            "{} as built",
            written.display()
        );
    }
    let processed = run(
        &alone.join("weir"),
        "",
        &[
            "process",
            "--config",
            &config,
            "--input",
            &sample(),
            "--dead-letter",
            &w.arg("dead2.jsonl"),
        ],
    );
    assert!(processed.status.success(), "{}", text(&processed.stderr));
    assert_eq!(
        text(&processed.stdout),
        text(&beside.stdout),
        "the installed plugins are the shipped ones"
    );
    // A plugin the user swapped in is kept unless --force.
    let swapped = alone.join("plugins/readable-timestamp.wasm");
    std::fs::write(&swapped, b"mine").unwrap();
    let again = run(&alone.join("weir"), "", &["plugin", "install"]);
    assert!(
        text(&again.stdout).contains("kept") && std::fs::read(&swapped).unwrap() == b"mine",
        "{}",
        text(&again.stdout)
    );
    run(&alone.join("weir"), "", &["plugin", "install", "--force"]);
    assert_eq!(
        std::fs::read(&swapped).unwrap(),
        std::fs::read(plugins.join("readable-timestamp.wasm")).unwrap()
    );
}

/// `weir plugin install` writes through nothing planted in its directory (issue #38, item
/// 9): a symlink at the name it once wrote beside the plugin (`.NAME.partial`) made it
/// overwrite the link's target and leave the plugin's name pointing at it. And a directory
/// that others can write is refused: whoever can write it could swap the plugins.
#[test]
fn plugin_install_writes_through_no_planted_link_and_refuses_a_shared_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    let shipped: Vec<_> = std::fs::read_dir(common::plugin("login-analytics").parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wasm") && !name.starts_with("hostile"))
        .collect();
    for name in &shipped {
        std::os::unix::fs::symlink(&victim, plugins.join(format!(".{name}.partial"))).unwrap();
    }
    let install = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["plugin", "install", "--dir", plugins.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(install.status.success(), "{}", text(&install.stderr));
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious", "the link's target is untouched");
    let written = std::fs::symlink_metadata(plugins.join("readable-timestamp.wasm")).unwrap();
    assert!(written.file_type().is_file(), "the plugin is a file of its own, not a link");

    std::fs::set_permissions(&plugins, std::fs::Permissions::from_mode(0o777)).unwrap();
    let shared = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["plugin", "install", "--dir", plugins.to_str().unwrap(), "--force"])
        .output()
        .unwrap();
    assert!(!shared.status.success(), "a directory others can write is refused");
    assert!(
        text(&shared.stderr).contains("others can write it (mode 777)"),
        "{}",
        text(&shared.stderr)
    );
}

/// `weir` packages for crates.io as `weir-stream` (crates.io's `weir` is another project's),
/// its binary still `weir`, with every crate it links packaged too (no path-only
/// dependency), and without the tests' fixtures.
#[test]
fn weir_packages_for_crates_io_as_weir_stream_with_the_crates_it_links() {
    let target = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let packages = [
        "weir-plugin",
        "weir-stream-core",
        "weir-kafka",
        "weir-json-schema-validator",
        "weir-readable-timestamp",
        "weir-login-analytics",
        "weir-workshop",
        "weir-stream",
    ];
    let mut command = Command::new(cargo);
    command
        .args(["publish", "--dry-run", "--no-verify", "--allow-dirty", "--target-dir"])
        .arg(target.path())
        .current_dir(repo());
    for package in packages {
        command.args(["-p", package]);
    }
    let out = command.output().unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "cargo publish --dry-run:\n{stderr}");
    for package in packages {
        assert!(
            stderr.contains(&format!("Uploading {package} v")),
            "{package} not packaged:\n{stderr}"
        );
    }
    // Where cargo leaves the packages of a multi-package publish (its local registry).
    let crate_file = ["package/tmp-registry", "package"]
        .iter()
        .map(|dir| target.path().join(dir).join("weir-stream-0.1.0.crate"))
        .find(|file| file.exists())
        .expect("the packaged weir-stream");
    let tar = |args: &[&str]| {
        text(&Command::new("tar").args(args).arg(&crate_file).output().unwrap().stdout)
    };
    let files = tar(&["-tzf"]);
    assert!(
        files.lines().any(|f| f == "weir-stream-0.1.0/src/main.rs")
            && files.lines().any(|f| f == "weir-stream-0.1.0/build.rs"),
        "{files}"
    );
    assert!(!files.contains("/tests/"), "the tests' fixtures stay out of the package:\n{files}");
    let manifest = text(
        &Command::new("tar")
            .args(["-xzOf"])
            .arg(&crate_file)
            .arg("weir-stream-0.1.0/Cargo.toml")
            .output()
            .unwrap()
            .stdout,
    );
    let manifest: toml::Table = toml::from_str(&manifest).unwrap();
    assert_eq!(manifest["bin"][0]["name"].as_str(), Some("weir"), "the binary stays weir");
}

/// One way to ask for JSON: `--json` in every command that can answer in JSON, no
/// `--report FORMAT` listed (it still parses, unlisted, for scripts: state.rs uses it).
#[test]
fn json_is_asked_the_same_way_everywhere() {
    for command in
        [&["process"][..], &["run"], &["replay"], &["report"], &["dlq", "stats"], &["bench"]]
    {
        let help = String::from_utf8(weir(&[command, &["--help"]].concat()).stdout).unwrap();
        assert!(help.contains("--json"), "{command:?}: {help}");
        assert!(!help.contains("--report <"), "{command:?} lists --report FORMAT: {help}");
    }
}

/// A first start is not silent while plugins compile: each plugin compiled says so before
/// and how long it took after; from the compile cache, nothing is said.
#[test]
fn a_first_start_says_it_is_compiling_and_how_long_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, format!("[transform]\nplugin = \"{}\"\n", plugin("mask-ip").display()))
        .unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["check", "--offline", "--config", config.to_str().unwrap()])
            .env("WEIR_CACHE_DIR", dir.path().join("cache"))
            .env("WEIR_LOG", "info")
            .output()
            .unwrap()
    };
    let first = check();
    let said = text(&first.stderr);
    assert!(first.status.success(), "{said}");
    assert!(said.contains("compiling plugin") && said.contains("mask-ip.wasm"), "{said}");
    assert!(said.contains("compiled plugin") && said.contains(" s"), "{said}");
    let again = check();
    assert!(!text(&again.stderr).contains("compil"), "cached: {}", text(&again.stderr));
}

/// One grammar for errors: every command that reads weir.toml exits 2 on a config that
/// does not parse, and every command that runs plugins exits 2 on a plugin that is not
/// there — before it looks for a broker (none listens at the address given).
#[test]
fn every_command_says_a_config_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[kafka\nbrokers = ").unwrap();
    let missing = dir.path().join("missing.toml");
    std::fs::write(
        &missing,
        crate::common::absolute_weir_toml().replace("readable-timestamp.wasm", "gone.wasm"),
    )
    .unwrap();
    let nowhere = ["--brokers", "127.0.0.1:9"];
    let reads_config: &[&[&str]] = &[
        &["process", "--input", "/dev/null"],
        &["run"],
        &["repair"],
        &["replay", "--from", "earliest"],
        &["generate", "--count", "1"],
        &["tail", "--topic", "t"],
        &["report"],
        &["topics", "create"],
        &["dlq", "stats"],
        &["dlq", "redrive"],
        &["demo", "--duration", "1s"],
        &["check"],
        &["schema", "register"],
    ];
    let runs_plugins = ["process", "run", "replay", "demo", "check"];
    for args in reads_config {
        let with = |config: &Path| {
            let mut all: Vec<&str> = args.to_vec();
            all.extend(["--config", config.to_str().unwrap()]);
            if !matches!(args[0], "process" | "demo" | "check" | "schema") {
                all.extend(nowhere);
            }
            weir(&all)
        };
        let out = with(&bad);
        assert_eq!(out.status.code(), Some(2), "{args:?}, bad TOML: {}", text(&out.stderr));
        if runs_plugins.contains(&args[0]) {
            let out = with(&missing);
            let said = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}, a missing plugin: {said}");
            assert!(said.contains("gone.wasm"), "{args:?}: {said}");
        }
    }
}
