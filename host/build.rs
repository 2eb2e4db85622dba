//! Builds every Rust plugin under `plugins/` to `wasm32-wasip2` and copies the
//! components to `target/plugins/NAME.wasm`, so `cargo build` and `cargo test` always
//! run against `.wasm` files made from the current sources.
//!
//! The plugins are built by a nested cargo with its own target directory (no lock
//! shared with the outer build). Set `WEIR_SKIP_PLUGIN_BUILD=1` to skip this, e.g.
//! when the plugins are built in a separate step.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let host = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = host.parent().unwrap().to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() { target } else { root.join(target) };
    let plugins_out = target.join("plugins");
    println!("cargo:rustc-env=WEIR_PLUGIN_DIR={}", plugins_out.display());
    println!("cargo:rerun-if-env-changed=WEIR_SKIP_PLUGIN_BUILD");
    if !root.join("plugins").is_dir() || !root.join("wit").is_dir() {
        // Built from the crates.io package: the plugins' sources are not in it.
        println!("cargo:warning=no plugins/ beside this crate: weir is built without its plugins (install from the repository, `cargo install --git`, to have them)");
        embed(&[], &plugins_out);
        return;
    }
    let shipped = rust_plugins(&root.join("plugins"));
    if std::env::var_os("WEIR_SKIP_PLUGIN_BUILD").is_some() {
        embed(&shipped, &plugins_out);
        return;
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed={}", root.join("Cargo.lock").display());
    // The SDK every plugin links, and the workspace's `wasm` profile.
    println!("cargo:rerun-if-changed={}", root.join("sdk").display());
    println!("cargo:rerun-if-changed={}", root.join("Cargo.toml").display());

    // Misbehaving plugins for the tests; built alongside, never shipped.
    let hostile = rust_plugins(&host.join("tests/plugins"));
    println!("cargo:rustc-env=WEIR_TEST_PLUGIN_DIR={}", target.join("test-plugins").display());
    let crates: Vec<PathBuf> = shipped.iter().chain(&hostile).cloned().collect();
    for dir in &crates {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    ensure_wasm_target();
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(&root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "wasm", "--target-dir"])
        .arg(target.join("wasm"));
    for dir in &crates {
        cargo.arg("-p").arg(package_name(dir));
    }
    // The outer build's flags and wrappers are for the host, not for wasm.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cargo.env_remove(var);
    }
    // 128-bit SIMD: Cranelift compiles it well, and memchr and serde_json's scanning use it.
    // LLVM inlines more: in wasm every call that remains pays an epoch check on entry (what
    // makes a plugin's CPU budget enforceable), so fewer calls pay (measured in the book's
    // performance chapter).
    cargo.env(
        "CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS",
        "-C target-feature=+simd128 -C llvm-args=-inline-threshold=1000",
    );
    match cargo.status() {
        Ok(status) if status.success() => {}
        Ok(_) => {
            fail("building the plugins for wasm32-wasip2 failed; the compiler's errors are above")
        }
        Err(e) => fail(&format!("could not run cargo to build the plugins: {e}")),
    }
    for (crates, out) in [(&shipped, plugins_out.clone()), (&hostile, target.join("test-plugins"))]
    {
        std::fs::create_dir_all(&out).unwrap();
        for dir in crates {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let built = target
                .join("wasm/wasm32-wasip2/wasm")
                .join(format!("{}.wasm", name.replace('-', "_")));
            copy_if_changed(&built, &out.join(format!("{name}.wasm")));
        }
    }
    embed(&shipped, &plugins_out);
}

/// The shipped plugins go into the binary too (`weir plugin install` writes them out), so
/// a weir installed with `cargo install` has its plugins. Only those built are embedded.
fn embed(shipped: &[PathBuf], plugins_out: &Path) {
    let mut list = String::from("/// The shipped plugins built with this binary: file name, component.\npub const SHIPPED: &[(&str, &[u8])] = &[\n");
    for dir in shipped {
        let file = format!("{}.wasm", dir.file_name().unwrap().to_string_lossy());
        let path = plugins_out.join(&file);
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
            list.push_str(&format!(
                "    ({file:?}, include_bytes!({:?})),\n",
                path.display().to_string()
            ));
        }
    }
    list.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("shipped_plugins.rs");
    if std::fs::read_to_string(&out).ok().as_deref() != Some(list.as_str()) {
        std::fs::write(out, list).unwrap();
    }
}

/// A fresh machine has the toolchain but not its wasm target: rustup adds a toolchain
/// file's `targets` only when it installs the toolchain itself. Add it here, once.
fn ensure_wasm_target() {
    const TARGET: &str = "wasm32-wasip2";
    if wasm_std_installed(TARGET) {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    // The toolchain this build runs on (rust-toolchain.toml's), not rustup's default.
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    match rustup.status() {
        // Cargo replays this line on later builds until the script reruns: past tense holds.
        Ok(status) if status.success() && wasm_std_installed(TARGET) => {
            println!("cargo:warning=the {TARGET} target was missing; added it with `rustup target add {TARGET}`")
        }
        Ok(_) => fail(&format!("the {TARGET} target is missing and `rustup target add {TARGET}` failed (see above); run it by hand, then build again")),
        Err(_) => fail(&format!(
            "the plugins need Rust's {TARGET} standard library, and there is no rustup to add it: \
             install it for this rustc (with rustup: `rustup target add {TARGET}`), then build again"
        )),
    }
}

/// Whether `rustc` has a standard library for `target` (its target libdir holds libstd).
fn wasm_std_installed(target: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) =
        Command::new(rustc).args(["--print", "target-libdir", "--target", target]).output()
    else {
        return false;
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false)
}

/// An expected failure: one clear message, no panic backtrace.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// Crates under `plugins/` written in Rust (other languages have their own builds).
/// The `name` in a crate's `[package]` (a plugin's package may differ from its directory,
/// whose name its `.wasm` file keeps).
fn package_name(dir: &Path) -> String {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let package = manifest.split("[package]").nth(1).unwrap_or_default();
    let line = package
        .lines()
        .find(|l| l.trim_start().starts_with("name"))
        .unwrap_or_else(|| panic!("no package name in {}", dir.display()));
    line.split('"').nth(1).unwrap().to_string()
}

fn rust_plugins(dir: &Path) -> Vec<PathBuf> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("Cargo.toml").exists())
        .collect();
    crates.sort();
    crates
}

/// Leaves the destination's mtime alone when nothing changed, so nothing downstream reruns.
fn copy_if_changed(from: &Path, to: &Path) {
    let new = std::fs::read(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display()));
    if std::fs::read(to).ok().as_deref() != Some(new.as_slice()) {
        std::fs::write(to, new).unwrap();
    }
}
