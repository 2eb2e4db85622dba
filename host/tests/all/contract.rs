//! The contract is a public API: plugins built against an earlier version keep running.
//! `host/tests/fixtures/contract-<version>/` holds one component per world as it was
//! built then (see its README); each runs in its world with the scaffold's sample.

use crate::common::{repo, runtime};
use sha2::Digest as _;
use std::path::Path;

/// Each file's digest as `SHA256SUMS` records it: the binaries are kept, never rebuilt.
fn check_digests(dir: &Path) {
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    for line in sums.lines() {
        let (digest, file) = line.split_once("  ").unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert_eq!(
            hex::encode(sha2::Sha256::digest(&bytes)),
            digest,
            "{file} is not the binary that was kept"
        );
    }
}

#[test]
fn plugins_built_against_contract_0_1_0_run_in_every_world() {
    scaffolds_run_in_every_world("0.1.0");
}

#[test]
fn plugins_built_against_contract_0_2_0_run_in_every_world() {
    scaffolds_run_in_every_world("0.2.0");
}

/// The kept scaffold builds of `version`, one per world, each run on the scaffold's sample.
fn scaffolds_run_in_every_world(version: &str) {
    let dir = repo().join(format!("host/tests/fixtures/contract-{version}"));
    check_digests(&dir);
    let sample = repo().join("workshop/templates/rust/sample.jsonl.tmpl");
    let expected: [(&str, &[&str]); 4] = [
        ("validator", &["line 1: valid", "line 2: valid", "line 3: invalid"]),
        ("transformer", &[r#""processed_by":"hello-transformer""#]),
        (
            "repairer",
            &[
                r#"line 2: repaired: {"user_id":"u2","timestamp":1730244201,"device_type":"unknown"}"#,
            ],
        ),
        ("aggregator", &["records in 3"]),
    ];
    for (world, shows) in expected {
        let wasm = dir.join(format!("{world}.wasm"));
        let plugin = runtime().load(&wasm).unwrap_or_else(|e| panic!("{world}: {e:#}"));
        assert_eq!(plugin.world.name(), world);
        assert_eq!(plugin.contract.to_string(), format!("weir:plugin@{version}"));
        let shown = weir::plugin_tool::test(&runtime(), &wasm, &sample, None, &Default::default())
            .unwrap_or_else(|e| panic!("{world}: {e:#}"));
        for line in shows {
            assert!(shown.contains(line), "{world}: no `{line}` in\n{shown}");
        }
    }
}

/// `bytes` with every `weir:plugin/<interface>@0.1.0` name moved to `@{to}` (same length).
fn renamed_contract(bytes: &[u8], to: &str) -> Vec<u8> {
    assert_eq!(to.len(), "0.1.0".len());
    let mut out = bytes.to_vec();
    let prefix = b"weir:plugin/";
    let mut at = 0;
    while let Some(found) = out[at..].windows(prefix.len()).position(|w| w == prefix) {
        let start = at + found + prefix.len();
        let name_end = start
            + out[start..].iter().take_while(|b| b.is_ascii_lowercase() || **b == b'-').count();
        if out[name_end..].starts_with(b"@0.1.0") {
            out[name_end + 1..name_end + 6].copy_from_slice(to.as_bytes());
        }
        at = name_end;
    }
    out
}

/// A plugin built for a newer contract than this weir knows is refused in one line naming
/// both versions, not misread as a broken plugin of a known one. (It is a kept 0.1.0
/// plugin with its `weir:plugin/…@0.1.0` names rewritten to 0.9.0: the version is read
/// from those names.)
#[test]
fn a_plugin_built_for_a_newer_contract_is_refused_naming_both_versions() {
    let kept =
        std::fs::read(repo().join("host/tests/fixtures/contract-0.1.0/validator.wasm")).unwrap();
    let future = renamed_contract(&kept, "0.9.0");
    assert_ne!(future, kept, "the kept plugin names weir:plugin interfaces");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.wasm");
    std::fs::write(&path, &future).unwrap();
    let refused = runtime().load(&path).err().expect("refused").to_string();
    assert!(refused.contains("built for contract weir:plugin@0.9.0"), "{refused}");
    let newest = weir_core::plugin::contract::Version::newest_known();
    assert!(refused.contains(&format!("runs up to {newest}")), "{refused}");
    assert!(!refused.contains('\n'), "one line: {refused}");
    // The same plugin at its own version loads, and says which contract it was built for.
    let inspected = weir::plugin_tool::inspect(
        &runtime(),
        &repo().join("host/tests/fixtures/contract-0.1.0/validator.wasm"),
    )
    .unwrap();
    assert!(inspected.contains("world:   validator (weir:plugin@0.1.0)"), "{inspected}");
}

/// The user-login pipeline (validate, transform, aggregate, repair) on the plugins in `dir`.
fn login_pipeline_config(dir: &Path) -> weir_core::config::Config {
    let schema = repo().join("schemas/user-login.json");
    let text = format!(
        r#"
[pipeline]
batch_size = 50
[validate]
plugin = "{dir}/json-schema-validator.wasm"
config = {{ schema = "{schema}" }}
[[transform]]
plugin = "{dir}/readable-timestamp.wasm"
[[transform]]
plugin = "{dir}/mask-ip.wasm"
[aggregate]
plugin = "{dir}/login-analytics.wasm"
[repair]
plugin = "{dir}/dead-letter-repair.wasm"
config = {{ schema = "{schema}", defaults = {{ device_type = "unknown" }} }}
"#,
        dir = dir.display(),
        schema = schema.display()
    );
    weir_core::config::Config::parse(&text, Path::new("login.toml")).unwrap()
}

/// What a pipeline made of each input, and its report, as comparable text.
fn run_login_pipeline(
    dir: &Path,
    batches: &[Vec<weir_core::record::Record>],
) -> (Vec<String>, Vec<String>, serde_json::Value) {
    use weir_core::pipeline::{repair::RepairPipeline, Outcome, Pipeline};
    let config = login_pipeline_config(dir);
    let mut pipeline =
        Pipeline::from_config(&runtime(), &config, &weir::resolve::Resolver).unwrap();
    let mut repair =
        RepairPipeline::from_config(&runtime(), &config, &weir::resolve::Resolver).unwrap();
    let (mut outcomes, mut repaired) = (Vec::new(), Vec::new());
    for batch in batches {
        let mut letters = Vec::new();
        for outcome in pipeline.process(batch.clone()) {
            outcomes.push(match outcome {
                Outcome::Processed(outputs) => {
                    assert_eq!(outputs.len(), 1);
                    format!("processed {}", String::from_utf8_lossy(&outputs[0].message.value))
                }
                Outcome::DeadLetter(message, rejection) => {
                    let line = format!(
                        "dead letter at {}: {} ({})",
                        rejection.stage,
                        rejection.summary(),
                        rejection.kind()
                    );
                    letters.push((message, Some(rejection.violations)));
                    line
                }
            });
        }
        repaired.extend(repair.repair(letters).into_iter().map(|r| format!("{r:?}")));
    }
    let report = pipeline.report(vec![]).unwrap().json();
    (outcomes, repaired, report)
}

/// The shipped plugins as they were built for contract 0.1 (kept in `shipped/`) and as
/// built now make the same of the same input: every output, every dead letter with its
/// reasons, every repair, and the report.
#[test]
fn the_shipped_plugins_built_for_0_1_and_built_now_make_the_same_of_the_same_input() {
    kept_shipped_plugins_match_todays("0.1.0");
}

/// The same for the shipped plugins as built for contract 0.2.
#[test]
fn the_shipped_plugins_built_for_0_2_and_built_now_make_the_same_of_the_same_input() {
    kept_shipped_plugins_match_todays("0.2.0");
}

fn kept_shipped_plugins_match_todays(version: &str) {
    let kept = repo().join(format!("host/tests/fixtures/contract-{version}/shipped"));
    check_digests(&kept);
    let now = crate::common::plugin("login-analytics").parent().unwrap().to_path_buf();
    let mut generator = weir_workshop::generate::Generator::new(Some(7), 0.2, 1000.0);
    let records: Vec<_> = (0..1_000)
        .map(|i| {
            let event = generator.next_event();
            weir_core::record::Record {
                key: Some(event.key.into_bytes()),
                ..weir_core::record::Record::read_from("in", i % 3, i as i64, event.value)
            }
        })
        .collect();
    let batches: Vec<Vec<_>> = records.chunks(50).map(<[_]>::to_vec).collect();
    let (old, new) = (run_login_pipeline(&kept, &batches), run_login_pipeline(&now, &batches));
    assert!(
        old.0.iter().any(|o| o.starts_with("dead letter"))
            && old.0.iter().any(|o| o.starts_with("processed")),
        "both kinds of outcome"
    );
    assert!(!old.1.is_empty(), "some dead letters to repair");
    assert_eq!(old.0, new.0, "outcomes");
    assert_eq!(old.1, new.1, "repairs");
    assert_eq!(old.2, new.2, "report");
    let newest = weir_core::plugin::contract::Version::newest_known().to_string();
    for plugin in [
        "json-schema-validator",
        "readable-timestamp",
        "login-analytics",
        "dead-letter-repair",
        "mask-ip",
    ] {
        assert_eq!(
            runtime().load(&kept.join(format!("{plugin}.wasm"))).unwrap().contract.to_string(),
            format!("weir:plugin@{version}")
        );
        assert_eq!(
            runtime().load(&now.join(format!("{plugin}.wasm"))).unwrap().contract.to_string(),
            newest
        );
    }
}

/// The SDK is publishable alone: its package carries the contract (`sdk/wit/weir.wit`,
/// the WIT its bindings are generated from) and builds from the packaged files only.
#[test]
fn the_sdk_packages_with_its_contract_and_builds_alone() {
    let target = tempfile::tempdir().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["publish", "--dry-run", "--allow-dirty", "-p", "weir-plugin", "--target-dir"])
        .arg(target.path())
        .current_dir(repo())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo publish --dry-run -p weir-plugin:\n{stderr}");
    // The SDK's version is its contract's.
    let newest = weir_core::plugin::contract::Version::newest_known();
    let version = format!("{}.{}.{}", newest.0, newest.1, newest.2);
    assert!(
        stderr.contains(&format!("Compiling weir-plugin v{version}"))
            && stderr.contains("aborting upload due to dry run"),
        "{stderr}"
    );
    let packaged = target.path().join(format!("package/weir-plugin-{version}/wit/weir.wit"));
    assert_eq!(
        std::fs::read_to_string(packaged).unwrap(),
        std::fs::read_to_string(repo().join("wit/weir.wit")).unwrap()
    );
}
