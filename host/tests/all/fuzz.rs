//! Property-based fuzzing of the path from raw bytes through the real plugins to
//! output records: whatever the bytes, every record gets exactly one outcome, outputs are
//! well-formed, dead letters keep the original bytes and say why.

use crate::common;

use common::{login_config, message, plugin, runtime};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use std::sync::Mutex;
use weir_core::config::Config;
use weir_core::pipeline::{Outcome, Pipeline};

fn pipeline() -> &'static Mutex<Pipeline> {
    static PIPELINE: std::sync::OnceLock<Mutex<Pipeline>> = std::sync::OnceLock::new();
    PIPELINE.get_or_init(|| {
        let text = login_config(&plugin("readable-timestamp"));
        let config = Config::parse(&text, std::path::Path::new("fuzz.toml")).unwrap();
        Mutex::new(Pipeline::from_config(&runtime(), &config, &weir::resolve::Resolver).unwrap())
    })
}

const FIELDS: [&str; 7] =
    ["user_id", "app_version", "device_type", "ip", "locale", "device_id", "timestamp"];

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        ".{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A login event with some fields dropped or replaced by arbitrary JSON.
fn mutated_login() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec((0..FIELDS.len(), prop::option::of(json_value())), 0..3),
        prop_oneof![3 => -100_000_000_000i64..100_000_000_000, 1 => any::<i64>()],
    )
        .prop_map(|(edits, ts)| {
            let mut login = serde_json::json!({
                "user_id": "u", "app_version": "2.3.0", "device_type": "iOS", "ip": "1.2.3.4",
                "locale": "MD", "device_id": "d", "timestamp": ts,
            });
            for (field, value) in edits {
                match value {
                    Some(v) => login[FIELDS[field]] = v,
                    None => {
                        login.as_object_mut().unwrap().remove(FIELDS[field]);
                    }
                }
            }
            serde_json::to_vec(&login).unwrap()
        })
}

fn raw_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        mutated_login(),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        // A valid event cut short or with bytes flipped.
        (mutated_login(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(mut v, at, b)| {
            let i = at.index(v.len());
            v[i] = b;
            v
        }),
    ]
}

static PROCESSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_record_gets_one_well_formed_outcome(values in prop::collection::vec(raw_value(), 1..12)) {
        let batch: Vec<_> = values.iter().map(|v| { let mut m = message(""); m.value = v.clone(); m }).collect();
        let outcomes = pipeline().lock().unwrap().process(batch);
        prop_assert_eq!(outcomes.len(), values.len());
        PROCESSED.fetch_add(outcomes.iter().filter(|o| matches!(o, Outcome::Processed(_))).count(), std::sync::atomic::Ordering::Relaxed);
        for (outcome, original) in outcomes.iter().zip(&values) {
            match outcome {
                Outcome::Processed(outputs) => {
                    prop_assert_eq!(outputs.len(), 1, "one record per input");
                    let v: serde_json::Value = serde_json::from_slice(&outputs[0].message.value).expect("output is JSON");
                    let ts = v["timestamp"].as_str().expect("readable timestamp");
                    prop_assert_eq!(ts.len(), 19, "{}", ts);
                    for field in FIELDS {
                        prop_assert!(v.get(field).is_some(), "{} missing in {}", field, v);
                    }
                }
                Outcome::DeadLetter(m, rejection) => {
                    prop_assert_eq!(&m.value, original, "dead letters keep the original bytes");
                    prop_assert!(!rejection.violations.is_empty());
                    prop_assert!(rejection.violations.iter().all(|v| !v.reason.is_empty()));
                    prop_assert!(!rejection.is_fault(), "a plugin faulted: {}", rejection.summary());
                }
            }
        }
    }
}

/// Guards the generator itself: the fuzzing above must reach the output path too.
#[test]
fn the_fuzzer_reaches_the_output_path() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut processed = 0;
    for _ in 0..200 {
        let value = mutated_login().new_tree(&mut runner).unwrap().current();
        let mut m = message("");
        m.value = value;
        processed += pipeline()
            .lock()
            .unwrap()
            .process(vec![m])
            .iter()
            .filter(|o| matches!(o, Outcome::Processed(_)))
            .count();
    }
    assert!(processed > 20, "only {processed} of 200 mutated logins were processed");
}
