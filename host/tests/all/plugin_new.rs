//! `weir plugin new`: for every world, the generated project passes its own test, builds
//! to a component, and that component runs under `weir plugin test`.

use crate::common;

use std::path::Path;
use std::process::Command;

fn cargo(dir: &Path, args: &[&str], target: &Path) {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.args(args).current_dir(dir).env("CARGO_TARGET_DIR", target);
    for var in
        ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_TARGET"]
    {
        command.env_remove(var);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo {args:?} in {}:\n{stderr}", dir.display());
    // A newcomer's first build is clean: no warning from the generated code.
    assert!(!stderr.contains("warning"), "cargo {args:?} in {} warned:\n{stderr}", dir.display());
}

/// The built component carries the project's config.schema.json, as written.
fn carries_its_config_schema(wasm: &Path, project: &Path, name: &str) {
    let carried = weir(&["plugin", "inspect", wasm.to_str().unwrap(), "--config-schema"]);
    let carried: serde_json::Value =
        serde_json::from_str(&carried).unwrap_or_else(|e| panic!("{name}: {e}: {carried}"));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.join("config.schema.json")).unwrap())
            .unwrap();
    assert_eq!(carried, written, "{name}");
    assert_eq!(carried["title"], name);
}

/// A generated transformer enriches from a table (contract 0.3) when its config names one
/// and the table is served; when it is not, the host's refusal is each record's reason.
fn looks_up_a_table(wasm: &Path, project: &Path, what: &str) {
    std::fs::write(project.join("stage.toml"), "profiles = \"user-profiles\"\n").unwrap();
    std::fs::write(
        project.join("profiles.jsonl"),
        "{\"key\":\"u1\",\"value\":{\"plan\":\"pro\"}}\n",
    )
    .unwrap();
    let (wasm, sample) = (wasm.to_str().unwrap(), project.join("sample.jsonl"));
    let stage = project.join("stage.toml");
    let args = ["plugin", "test", wasm, "--input", sample.to_str().unwrap()];
    let args = [&args[..], &["--stage-config", stage.to_str().unwrap()]].concat();
    let table = format!("user-profiles={}", project.join("profiles.jsonl").display());
    let served = weir(&[&args[..], &["--table", &table]].concat());
    assert!(served.contains(r#""profile":{"plan":"pro"}"#), "{what}: {served}");
    assert!(served.lines().nth(1).is_some_and(|l| !l.contains("profile")), "{what}: {served}");
    let unserved = weir(&args);
    assert!(
        unserved.contains("line 1: error: table `user-profiles` is not one of this stage's tables"),
        "{what}: {unserved}"
    );
}

fn weir(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_CACHE_DIR", common::cache_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "weir {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn generated_rust_plugins_build_and_pass_their_tests() {
    let dir = tempfile::tempdir().unwrap();
    // One target directory for all four, kept between runs so wit-bindgen builds once.
    let target = Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().join("plugin-new");
    let expected = [
        ("validator", "line 2: valid"),
        ("transformer", r#""processed_by":"hello-transformer""#),
        (
            "repairer",
            r#"line 2: repaired: {"user_id":"u2","timestamp":1730244201,"device_type":"unknown"}"#,
        ),
        ("aggregator", "records in 3"),
    ];
    for (world, shows) in expected {
        let name = format!("hello-{world}");
        let created = weir(&[
            "plugin",
            "new",
            &name,
            "--world",
            world,
            "--dir",
            dir.path().to_str().unwrap(),
        ]);
        assert!(
            created.contains(&format!("created {}", dir.path().join(&name).display())),
            "{created}"
        );
        let project = dir.path().join(&name);
        cargo(&project, &["test", "--quiet"], &target);
        cargo(&project, &["build", "--quiet", "--release", "--target", "wasm32-wasip2"], &target);
        let wasm =
            target.join("wasm32-wasip2/release").join(format!("{}.wasm", name.replace('-', "_")));
        let inspected = weir(&["plugin", "inspect", wasm.to_str().unwrap()]);
        assert!(
            inspected.contains(&format!(
                "world:   {world} ({})",
                weir_core::plugin::contract::Version::newest_known()
            )),
            "{inspected}"
        );
        carries_its_config_schema(&wasm, &project, &name);
        let tested = weir(&[
            "plugin",
            "test",
            wasm.to_str().unwrap(),
            "--input",
            project.join("sample.jsonl").to_str().unwrap(),
        ]);
        assert!(tested.contains(shows), "{world}: {tested}");
        if world == "transformer" {
            looks_up_a_table(&wasm, &project, world);
        }
    }
}

/// JavaScript and Python, every world: their own test (node --test, unittest), their own
/// build script, then the component under `weir plugin test`.
#[test]
fn generated_js_and_python_plugins_build_and_pass_their_tests() {
    // The polyglot tests install both toolchains there first; tests share one binary
    // and run in parallel, so wait for that rather than install alongside it.
    crate::polyglot::built();
    let dir = tempfile::tempdir().unwrap();
    // Shared with the polyglot tests, so each toolchain installs once.
    let out = Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().join("polyglot");
    // `javascript`, as the help says it (the value is `js`, with `javascript` its alias).
    for (lang, test) in [("javascript", ["node", "--test"]), ("python", ["python3", "-m unittest"])]
    {
        for world in ["validator", "transformer", "repairer", "aggregator"] {
            let name = format!("hello-{lang}-{world}");
            weir(&[
                "plugin",
                "new",
                &name,
                "--world",
                world,
                "--lang",
                lang,
                "--dir",
                dir.path().to_str().unwrap(),
            ]);
            let project = dir.path().join(&name);
            let mut command = Command::new(test[0]);
            command.args(test[1].split(' ')).current_dir(&project);
            let tested = command.output().unwrap();
            assert!(
                tested.status.success(),
                "{lang} {world} test: {}{}",
                String::from_utf8_lossy(&tested.stdout),
                String::from_utf8_lossy(&tested.stderr)
            );
            let built =
                Command::new("bash").arg(project.join("build.sh")).arg(&out).output().unwrap();
            assert!(
                built.status.success(),
                "{lang} {world} build: {}",
                String::from_utf8_lossy(&built.stderr)
            );
            let wasm = out.join(format!("{}.wasm", name.replace('-', "_")));
            let inspected = weir(&["plugin", "inspect", wasm.to_str().unwrap()]);
            assert!(
                inspected.contains(&format!(
                    "world:   {world} ({})",
                    weir_core::plugin::contract::Version::newest_known()
                )),
                "{lang} {world}: generated on the newest contract: {inspected}"
            );
            carries_its_config_schema(&wasm, &project, &name);
            let shown = weir(&[
                "plugin",
                "test",
                wasm.to_str().unwrap(),
                "--input",
                project.join("sample.jsonl").to_str().unwrap(),
            ]);
            let tagged = format!(
                r#"line 2: {{"user_id":"u2","timestamp":1730244201,"processed_by":"{name}"}}"#
            );
            let expected: &[&str] = match world {
                "validator" => &["line 1: valid", "line 2: valid", "line 3: invalid: not JSON"],
                "transformer" => &[&tagged, "line 3: error: not JSON"],
                "repairer" => &[
                    r#"line 2: repaired: {"user_id":"u2","timestamp":1730244201,"device_type":"unknown"}"#,
                    "line 3: unrepairable: not JSON",
                ],
                _ => &["records in 3", "total           3", "(missing)", "iOS"],
            };
            for line in expected {
                assert!(shown.contains(line), "{lang} {world}: no `{line}` in\n{shown}");
            }
            if world == "transformer" {
                looks_up_a_table(&wasm, &project, &format!("{lang} {world}"));
            }
        }
    }
}

#[test]
fn plugin_new_refuses_bad_names_and_existing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "plugin",
            "new",
            "Bad_Name",
            "--world",
            "transformer",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowercase letters, digits and dashes"));
    weir(&[
        "plugin",
        "new",
        "twice",
        "--world",
        "validator",
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "plugin",
            "new",
            "twice",
            "--world",
            "validator",
            "--dir",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}
