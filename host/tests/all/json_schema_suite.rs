//! The official JSON Schema Test Suite through the real json-schema-validator plugin: every
//! required test file (not `optional/`) of drafts 4, 6, 7, 2019-09 and 2020-12, with the
//! suite's `remotes/` mapped to `http://localhost:1234/` through the host's `resources`.
//! Known gaps of the jsonschema crate are listed below, each with its reason; any other
//! failure fails the test, and so does a listed gap that starts passing.

use crate::common::{plugin, runtime};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use weir_core::plugin::limits::Limits;
use weir_core::record::Record;
use weir_core::stage::{validator::Validate, Stage};

const DRAFTS: [(&str, &str); 5] = [
    ("draft4", "4"),
    ("draft6", "6"),
    ("draft7", "7"),
    ("draft2019-09", "2019-09"),
    ("draft2020-12", "2020-12"),
];

/// (draft directory, file, group description, test description, why it fails upstream).
const KNOWN_GAPS: &[(&str, &str, &str, &str, &str)] = &[];

/// The suite's `json/` directory, from the pinned sdist (downloaded and unpacked once).
fn suite() -> &'static Path {
    static SUITE: OnceLock<PathBuf> = OnceLock::new();
    SUITE.get_or_init(|| {
        let target = Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().join("json-schema-suite");
        let json = target.join("jsonschema-4.26.0/json");
        if !json.join("tests").is_dir() {
            let requirements = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../.ci/json-schema-suite-requirements.txt");
            let status = Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "--require-hashes",
                    "-d",
                ])
                .arg(&target)
                .arg("-r")
                .arg(&requirements)
                .status()
                .expect("run python3 -m pip to download the JSON Schema Test Suite");
            assert!(
                status.success(),
                "downloading the suite from PyPI failed; see {}",
                requirements.display()
            );
            let status = Command::new("tar")
                .arg("-xzf")
                .arg(target.join("jsonschema-4.26.0.tar.gz"))
                .arg("-C")
                .arg(&target)
                .status()
                .unwrap();
            assert!(status.success(), "unpacking the suite failed");
        }
        json
    })
}

struct Tally {
    passed: usize,
    failed: Vec<String>,
    known: Vec<String>,
}

/// Runs every group of `files` as its own stage; `formats` forces format assertion.
fn run_files(draft: &str, dir: &str, files: &[PathBuf], formats: Option<bool>, tally: &mut Tally) {
    let table = json!({ "http://localhost:1234/": "remotes/" });
    let no_registry = |subject: &str| Err(format!("no registry here for {subject}"));
    let resources =
        weir::resources::load(suite(), table.as_object().unwrap(), no_registry).unwrap();
    // `WEIR_SUITE_PLUGIN=other.wasm` measures another validator plugin the same way.
    let path = std::env::var_os("WEIR_SUITE_PLUGIN")
        .map_or_else(|| plugin("json-schema-validator"), PathBuf::from);
    let validator = runtime().load(&path).unwrap();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for group in groups {
            let group_name = group["description"].as_str().unwrap().to_string();
            let mut stage_config =
                json!({ "schema": group["schema"], "draft": draft, "resources": resources });
            if let Some(formats) = formats {
                stage_config["formats"] = Value::Bool(formats);
            }
            let limits = Limits { call_timeout_ms: 10_000, ..Limits::default() };
            let stage =
                Stage::<Validate>::new("suite", &validator, stage_config.to_string(), limits);
            let tests = group["tests"].as_array().unwrap();
            let verdicts: Vec<Option<bool>> = match stage {
                Ok(mut stage) => {
                    let messages: Vec<Record> = tests
                        .iter()
                        .enumerate()
                        .map(|(i, t)| {
                            Record::read_from(
                                &name,
                                0,
                                i as i64,
                                t["data"].to_string().into_bytes(),
                            )
                        })
                        .collect();
                    stage
                        .run(&messages)
                        .into_iter()
                        .map(|r| r.ok().map(|verdict| verdict.is_ok()))
                        .collect()
                }
                Err(_) => vec![None; tests.len()],
            };
            for (test, verdict) in tests.iter().zip(verdicts) {
                let test_name = test["description"].as_str().unwrap();
                let id = format!("{dir}/{name}: {group_name}: {test_name}");
                let known = KNOWN_GAPS.iter().any(|(d, f, g, t, _)| {
                    *d == dir && *f == name && *g == group_name && *t == test_name
                });
                match (verdict == Some(test["valid"].as_bool().unwrap()), known) {
                    (true, false) => tally.passed += 1,
                    (true, true) => tally.failed.push(format!(
                        "{id}: listed as a known gap but passes; take it off the list"
                    )),
                    (false, true) => tally.known.push(id),
                    (false, false) => tally
                        .failed
                        .push(format!("{id}: got {verdict:?}, expected valid = {}", test["valid"])),
                }
            }
        }
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_validator_passes_the_official_json_schema_test_suite() {
    let mut failures = Vec::new();
    let mut figures = BTreeMap::new();
    for (dir, draft) in DRAFTS {
        let mut tally = Tally { passed: 0, failed: Vec::new(), known: Vec::new() };
        run_files(draft, dir, &json_files(&suite().join("tests").join(dir)), None, &mut tally);
        println!(
            "{dir}: {} passed, {} known gaps, {} failed",
            tally.passed,
            tally.known.len(),
            tally.failed.len()
        );
        figures.insert(dir, tally.passed);
        failures.extend(tally.failed);
    }
    assert!(figures.values().all(|&n| n > 500), "the suite ran too few tests: {figures:?}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// `optional/format`: whether format assertion (`formats = true`) matches the suite. A
/// figure to watch, not a requirement: formats are optional in the specification.
#[test]
fn optional_format_assertion_is_measured() {
    for (dir, draft) in DRAFTS {
        let format_dir = suite().join("tests").join(dir).join("optional/format");
        let mut tally = Tally { passed: 0, failed: Vec::new(), known: Vec::new() };
        run_files(draft, dir, &json_files(&format_dir), Some(true), &mut tally);
        println!(
            "{dir} optional/format with formats = true: {} of {} pass",
            tally.passed,
            tally.passed + tally.failed.len()
        );
        assert!(tally.passed > 0, "{dir}: no optional/format test ran");
    }
}

/// `weir plugin test` resolves a stage's config as a pipeline stage does (one resolver):
/// the suite's remote references, with `resources` mapped in the stage file, pass through
/// it as they pass through `weir process` — every `refRemote.json` group of every draft.
#[test]
fn remote_references_resolve_through_weir_plugin_test() {
    // The stage file sits in the suite's directory: `resources` stay under it.
    let prefix = format!("plugin-test-{}", std::process::id());
    let [stage, schema, input] =
        ["toml", "schema.json", "jsonl"].map(|ext| suite().join(format!("{prefix}.{ext}")));
    struct Cleanup(Vec<PathBuf>);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            self.0.iter().for_each(|p| drop(std::fs::remove_file(p)));
        }
    }
    let _cleanup = Cleanup(vec![stage.clone(), schema.clone(), input.clone()]);
    let (mut checked, mut failures) = (0, Vec::new());
    for (dir, draft) in DRAFTS {
        let file = suite().join("tests").join(dir).join("refRemote.json");
        let groups: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for group in groups {
            std::fs::write(&schema, group["schema"].to_string()).unwrap();
            let schema_name = schema.file_name().unwrap().to_string_lossy();
            std::fs::write(&stage, format!("schema = \"{schema_name}\"\ndraft = \"{draft}\"\n[resources]\n\"http://localhost:1234/\" = \"remotes/\"\n")).unwrap();
            let tests = group["tests"].as_array().unwrap();
            std::fs::write(
                &input,
                tests.iter().map(|t| format!("{}\n", t["data"])).collect::<String>(),
            )
            .unwrap();
            let shown = weir::plugin_tool::test(
                &runtime(),
                &plugin("json-schema-validator"),
                &input,
                Some(&stage),
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{dir} {}: {e:#}", group["description"]));
            for (test, line) in tests.iter().zip(shown.lines()) {
                checked += 1;
                let valid = line.ends_with(": valid");
                if valid != test["valid"].as_bool().unwrap() {
                    failures.push(format!(
                        "{dir}: {}: {}: {line}",
                        group["description"], test["description"]
                    ));
                }
            }
        }
    }
    println!("refRemote through `weir plugin test`: {checked} tests, {} failed", failures.len());
    assert!(checked > 100, "too few remote-reference tests ran: {checked}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
