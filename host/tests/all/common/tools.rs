//! Third-party tools the operations tests run for real, installed on first use into
//! `target/` from the registries a newcomer's machine reaches (as tansu is): Debian's
//! `prometheus` package (Prometheus and promtool, 2.42) and PyPI's `kubernetes-validate`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn target_dir() -> PathBuf {
    Path::new(env!("WEIR_PLUGIN_DIR")).parent().unwrap().to_path_buf()
}

/// Debian's package, pinned; `$WEIR_PROMETHEUS_DIR` (holding `prometheus` and `promtool`)
/// instead, if set.
const PROMETHEUS_PACKAGE: &str = "prometheus=2.42.0+ds-5+deb12u1";

/// The directory holding the `prometheus` and `promtool` binaries.
pub fn prometheus_bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEIR_PROMETHEUS_DIR") {
        return PathBuf::from(dir);
    }
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(install_prometheus).clone()
}

/// `apt-get download` needs no root and installs nothing system-wide: the package is
/// unpacked under `target/prometheus`.
fn install_prometheus() -> PathBuf {
    let dir = target_dir().join("prometheus");
    let bin = dir.join("usr/bin");
    if bin.join("promtool").exists() {
        return bin;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let downloaded = Command::new("apt-get").args(["download", PROMETHEUS_PACKAGE]).current_dir(&dir).status();
    assert!(
        downloaded.is_ok_and(|s| s.success()),
        "could not download Debian's {PROMETHEUS_PACKAGE} with `apt-get download` (the operations tests run a real \
         Prometheus); on a machine without apt, set WEIR_PROMETHEUS_DIR to a directory with prometheus and promtool 2.42+"
    );
    let deb = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("the downloaded .deb");
    let unpacked = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&dir).status().unwrap();
    assert!(unpacked.success(), "dpkg-deb -x {}", deb.display());
    bin
}

/// `python3 -m kubernetes_validate`, with its pinned wheels under `target/kubernetes-validate`.
pub fn kubernetes_validate() -> Command {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    let lib = INSTALLED.get_or_init(|| {
        let lib = target_dir().join("kubernetes-validate");
        if !lib.join("kubernetes_validate").exists() {
            let requirements = super::repo().join(".ci/kubernetes-validate-requirements.txt");
            super::pip_install(&requirements, &lib, "kubernetes-validate");
        }
        lib
    });
    let mut command = Command::new("python3");
    command.args(["-m", "kubernetes_validate"]).env("PYTHONPATH", lib);
    command
}
