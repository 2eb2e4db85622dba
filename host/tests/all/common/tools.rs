//! Third-party tools the operations tests run for real, installed on first use into
//! `target/` from the registries a newcomer's machine reaches (as tansu is): Debian's
//! `prometheus` package (Prometheus and promtool, the 2.42 line) and PyPI's `kubernetes-validate`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn target_dir() -> PathBuf {
    Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().to_path_buf()
}

/// The directory holding the `prometheus` and `promtool` binaries: Debian's package
/// (the 2.42 line the machine's lists offer, see `.ci/fetch-prometheus`) unpacked under
/// `target/prometheus`, or `$WEIR_PROMETHEUS_DIR` if set.
pub fn prometheus_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEIR_PROMETHEUS_DIR") {
        return PathBuf::from(dir);
    }
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(install_prometheus).clone()
}

/// The same script `.ci/compose-e2e` uses: it needs no root and installs nothing
/// system-wide.
fn install_prometheus() -> PathBuf {
    let dir = target_dir().join("prometheus");
    let fetched = Command::new(super::repo().join(".ci/fetch-prometheus")).arg(&dir).status();
    assert!(
        fetched.is_ok_and(|s| s.success()),
        "could not fetch Debian's prometheus 2.42 with .ci/fetch-prometheus (the operations tests run a real \
         Prometheus); on a machine without apt, set WEIR_PROMETHEUS_DIR to a directory with prometheus and promtool 2.42+"
    );
    dir.join("usr/bin")
}

/// `python3 -m kubernetes_validate`, with its pinned wheels under `target/kubernetes-validate`.
pub fn kubernetes_validate() -> Command {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    let mut command = python_with(&INSTALLED, "kubernetes-validate", "kubernetes_validate");
    command.args(["-m", "kubernetes_validate"]);
    command
}

/// `python3 host/tests/support/confluent_serde.py`: Confluent's own serializers and
/// deserializers (confluent-kafka with its Avro and JSON Schema extras), its pinned
/// wheels under `target/confluent-kafka`.
pub fn confluent_serde() -> Command {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    let mut command = python_with(&INSTALLED, "confluent-kafka", "confluent_kafka");
    command.arg(super::repo().join("host/tests/support/confluent_serde.py"));
    command
}

/// `python3` with `name`'s pinned wheels (`.ci/<name>-requirements.txt`) on its path,
/// installed into `target/<name>` once (`module` is there when they are).
fn python_with(installed: &'static OnceLock<PathBuf>, name: &str, module: &str) -> Command {
    let lib = installed.get_or_init(|| {
        let lib = target_dir().join(name);
        if !lib.join(module).exists() {
            super::pip_install(
                &super::repo().join(format!(".ci/{name}-requirements.txt")),
                &lib,
                name,
            );
        }
        lib
    });
    let mut command = Command::new("python3");
    command.env("PYTHONPATH", lib);
    command
}

/// Headless Chromium (Debian's `chromium`, installed by `.ci/fetch-chromium` on first use
/// unless one is on the PATH), run with the flags a closed network needs and a fresh
/// profile; `args` end with the URL.
pub fn chromium(profile: &Path, args: &[&str]) -> std::process::Output {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let fetched = Command::new(super::repo().join(".ci/fetch-chromium")).status();
        assert!(
            fetched.is_ok_and(|s| s.success()),
            "could not install Debian's chromium with .ci/fetch-chromium (the status page is tested in a real browser)"
        );
    });
    // A browser that hangs ends the test rather than holding it (the dump is read whole).
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=5", "120", "chromium"])
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(std::process::Stdio::null());
    let child = super::child::Guarded::new(
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    child.wait_with_output().unwrap()
}

/// `target/`, where tests leave what a person may want to look at (screenshots).
pub fn target() -> PathBuf {
    target_dir()
}

/// mdBook, from crates.io, built once into `target/mdbook` (without the `serve`/`watch`
/// features a build does not need), or `$WEIR_MDBOOK` if set.
pub fn mdbook() -> PathBuf {
    if let Some(path) = std::env::var_os("WEIR_MDBOOK") {
        return PathBuf::from(path);
    }
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            let root = target_dir().join("mdbook");
            let bin = root.join("bin/mdbook");
            if !bin.is_file() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let mut install = Command::new(cargo);
                install
                    .args(["install", "mdbook", "--version", MDBOOK, "--locked"])
                    .args(["--no-default-features", "--root"])
                    .arg(&root)
                    .env("CARGO_TARGET_DIR", target_dir().join("mdbook-build"));
                for var in ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER"] {
                    install.env_remove(var);
                }
                let out = install.output().unwrap();
                assert!(
                    out.status.success(),
                    "could not install mdbook {MDBOOK} from crates.io:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            bin
        })
        .clone()
}

/// The mdBook the book is checked with.
const MDBOOK: &str = "0.5.4";
