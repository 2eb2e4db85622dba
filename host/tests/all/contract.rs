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
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), digest, "{file} is not the binary that was kept");
    }
}

#[test]
fn plugins_built_against_contract_0_1_0_run_in_every_world() {
    let dir = repo().join("host/tests/fixtures/contract-0.1.0");
    check_digests(&dir);
    let sample = repo().join("host/templates/rust/sample.jsonl.tmpl");
    let expected: [(&str, &[&str]); 4] = [
        ("validator", &["line 1: valid", "line 2: valid", "line 3: invalid"]),
        ("transformer", &[r#""processed_by":"hello-transformer""#]),
        ("repairer", &[r#"line 2: repaired: {"user_id":"u2","timestamp":1730244201,"device_type":"unknown"}"#]),
        ("aggregator", &["records in 3"]),
    ];
    for (world, shows) in expected {
        let wasm = dir.join(format!("{world}.wasm"));
        let plugin = runtime().load(&wasm).unwrap_or_else(|e| panic!("{world}: {e:#}"));
        assert_eq!(plugin.world.name(), world);
        let shown = weir::plugin_tool::test(&runtime(), &wasm, &sample, None).unwrap_or_else(|e| panic!("{world}: {e:#}"));
        for line in shows {
            assert!(shown.contains(line), "{world}: no `{line}` in\n{shown}");
        }
    }
}
