//! Records that used to stop weir for good: each must be settled (dead-lettered or
//! parked, bytes intact, with a reason) while everything around it flows on.

use crate::common::kafka::*;
use rdkafka::message::{BorrowedHeaders, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::Duration;

const BAD_KEY: &[u8] = b"\xff\xfe-key";

/// Headers with one key that is not UTF-8, added through librdkafka's C API (rdkafka's
/// safe API takes `&str` keys; C and Go producers send any bytes).
fn headers_with_a_raw_key() -> OwnedHeaders {
    let headers = OwnedHeaders::new().insert(Header { key: "trace-id", value: Some("abc") });
    let native =
        headers.as_borrowed() as *const BorrowedHeaders as *mut rdkafka_sys::rd_kafka_headers_t;
    let value = b"x";
    // SAFETY: `native` is the headers' own librdkafka pointer, alive while `headers` is.
    let error = unsafe {
        rdkafka_sys::rd_kafka_header_add(
            native,
            BAD_KEY.as_ptr() as *const std::ffi::c_char,
            BAD_KEY.len() as isize,
            value.as_ptr() as *const std::ffi::c_void,
            value.len() as isize,
        )
    };
    assert_eq!(error, rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
    headers
}

/// The login pipeline with `message.max.bytes` at 20,000: a larger output is refused.
fn small_records_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("weir.toml");
    let text = crate::common::login_config(&crate::common::plugin("readable-timestamp"));
    std::fs::write(
        &config,
        format!("{text}\n[kafka.properties]\n\"message.max.bytes\" = \"20000\"\n"),
    )
    .unwrap();
    config
}

/// A valid login event of about 30 KB: its output is over `small_records_config`'s limit.
fn huge_login() -> String {
    login("huge")
        .replace(r#""user_id""#, &format!(r#""padding":"{}","user_id""#, "x".repeat(30_000)))
}

fn login(user: &str) -> String {
    format!(
        r#"{{"user_id":"{user}","app_version":"2.3.0","device_type":"iOS","ip":"10.0.0.1","locale":"CA","device_id":"d-{user}","timestamp":1730244200}}"#
    )
}

/// rdkafka 0.39 unwraps header keys as UTF-8; one such record used to panic `weir run`,
/// `weir repair` and `weir tail` on every restart.
#[test]
fn a_header_key_that_is_not_utf8_is_settled_not_a_panic() {
    let broker = embedded(1);
    let brokers = broker.bootstrap_servers().to_string();
    let producer: BaseProducer =
        weir_kafka::client_config(&brokers, &Default::default()).create().unwrap();
    let valid: Vec<String> = (0..6).map(|i| format!("valid-{i}")).collect();
    for (i, key) in valid.iter().enumerate() {
        let value = login(key);
        producer
            .send(BaseRecord::<str, str>::to("user-login").key(key).payload(&value))
            .map_err(|(e, _)| e)
            .unwrap();
        if i == 2 {
            let record = BaseRecord::<str, str>::to("user-login")
                .key("poison")
                .payload(r#"{"user_id":"p"}"#);
            producer.send(record.headers(headers_with_a_raw_key())).map_err(|(e, _)| e).unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let run = spawn(weir(&brokers, &["run"]));
    let processed =
        wait_for_topic(&brokers, "user-login-processed-production", Duration::from_secs(60), |r| {
            r.len() >= 6
        });
    let dead = wait_for_topic(&brokers, "user-login-dead-letter", Duration::from_secs(60), |r| {
        !r.is_empty()
    });
    let out = terminate(run);
    assert!(out.status.success(), "weir run: {}", String::from_utf8_lossy(&out.stderr));
    let mut delivered: Vec<String> = processed.iter().map(key).collect();
    delivered.sort();
    assert_eq!(delivered, valid, "every valid event once, none lost around the poison record");

    assert_eq!(dead.len(), 1, "only the poison record is a dead letter");
    let letter = &dead[0];
    assert_eq!(key(letter), "poison");
    assert_eq!(letter.value, br#"{"user_id":"p"}"#, "value intact");
    assert!(header(letter, weir_core::headers::REASONS).unwrap().contains("not UTF-8"));
    assert_eq!(header(letter, "trace-id").as_deref(), Some("abc"));
    let lossy_key = String::from_utf8_lossy(BAD_KEY).into_owned();
    assert_eq!(header(letter, &lossy_key).as_deref(), Some("x"), "the raw header is still there");

    // The dead letter still carries the raw key: repair parks it, tail shows it.
    let repair = spawn(weir(&brokers, &["repair"]));
    let parked =
        wait_for_topic(&brokers, "user-login-dead-letter-parked", Duration::from_secs(60), |r| {
            !r.is_empty()
        });
    let out = terminate(repair);
    assert!(out.status.success(), "weir repair: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].value, letter.value);
    assert!(header(&parked[0], weir_core::headers::PARK_REASON).unwrap().contains("not UTF-8"));
    let tail = run_ok(weir(
        &brokers,
        &[
            "tail",
            "--topic",
            "user-login-dead-letter",
            "--from-beginning",
            "--count",
            "1",
            "--headers",
        ],
    ));
    let shown = String::from_utf8_lossy(&tail.stdout);
    assert!(shown.contains(r#"{"user_id":"p"}"#) && shown.contains("trace-id: abc"), "{shown}");
}

/// A record the broker refuses for good (here: over `message.max.bytes`) used to stop
/// `weir run`, and stop it again at every restart. It is now parked as a small pointer —
/// where it came from, size, hash, reason, a bounded prefix — and the flow goes on.
#[test]
fn an_output_the_broker_refuses_is_parked_as_a_pointer() {
    let broker = embedded(1);
    let brokers = broker.bootstrap_servers().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = small_records_config(dir.path());

    let producer: BaseProducer =
        weir_kafka::client_config(&brokers, &Default::default()).create().unwrap();
    let huge = huge_login();
    let mut keys = Vec::new();
    for i in 0..6 {
        let key = format!("valid-{i}");
        producer
            .send(BaseRecord::<str, str>::to("user-login").key(&key).payload(&login(&key)))
            .map_err(|(e, _)| e)
            .unwrap();
        keys.push(key);
        if i == 2 {
            producer
                .send(BaseRecord::<str, str>::to("user-login").key("huge").payload(&huge))
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let run = spawn(weir(&brokers, &["run", "--config", config.to_str().unwrap()]));
    let processed =
        wait_for_topic(&brokers, "user-login-processed-production", Duration::from_secs(60), |r| {
            r.len() >= 6
        });
    let parked =
        wait_for_topic(&brokers, "user-login-dead-letter-parked", Duration::from_secs(60), |r| {
            !r.is_empty()
        });
    let out = terminate(run);
    assert!(out.status.success(), "weir run: {}", String::from_utf8_lossy(&out.stderr));
    let mut delivered: Vec<String> = processed.iter().map(key).collect();
    delivered.sort();
    assert_eq!(delivered, keys, "every valid event once, the flow went on past the refused record");

    assert_eq!(parked.len(), 1);
    let pointer = &parked[0];
    assert_eq!(key(pointer), "huge");
    assert!(pointer.value.len() < 2_000, "a pointer is small: {} bytes", pointer.value.len());
    assert_eq!(header(pointer, weir_core::headers::KIND).as_deref(), Some("oversize"));
    assert_eq!(header(pointer, weir_core::headers::SOURCE_TOPIC).as_deref(), Some("user-login"));
    assert_eq!(header(pointer, weir_core::headers::SOURCE_OFFSET).as_deref(), Some("3"));
    let body: serde_json::Value = serde_json::from_slice(&pointer.value).unwrap();
    assert_eq!(body["topic"], "user-login-processed-production");
    assert!(body["size"].as_u64().unwrap() > 30_000);
    assert_eq!(body["sha256"].as_str().unwrap().len(), 64);
    assert!(body["reason"].as_str().unwrap().contains("too large"), "{body}");
    assert_eq!(body["prefix"].as_str().unwrap().len(), 256);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("parking a pointer to a record of"), "{stderr}");
}

/// One `weir run` fed a stream mixing valid events with every poison record at once — a
/// header key that is not UTF-8, an output over `message.max.bytes`, malformed JSON, a
/// tombstone — keeps running and delivers every valid event, each exactly once.
#[test]
fn one_run_survives_every_poison_record_in_one_stream() {
    let broker = embedded(1);
    let brokers = broker.bootstrap_servers().to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = small_records_config(dir.path());
    let producer: BaseProducer =
        weir_kafka::client_config(&brokers, &Default::default()).create().unwrap();
    let huge = huge_login();
    let mut valid = Vec::new();
    for i in 0..20 {
        let key = format!("valid-{i}");
        producer
            .send(BaseRecord::<str, str>::to("user-login").key(&key).payload(&login(&key)))
            .map_err(|(e, _)| e)
            .unwrap();
        valid.push(key);
        let poison = match i % 5 {
            0 => BaseRecord::<str, str>::to("user-login")
                .key("raw-header")
                .payload(r#"{"user_id":"p"}"#)
                .headers(headers_with_a_raw_key()),
            1 => BaseRecord::<str, str>::to("user-login").key("huge").payload(&huge),
            2 => BaseRecord::<str, str>::to("user-login").key("not-json").payload("{\"user_id\": "),
            3 => BaseRecord::<str, str>::to("user-login").key("tombstone"),
            _ => continue,
        };
        producer.send(poison).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();

    let run = spawn(weir(&brokers, &["run", "--config", config.to_str().unwrap()]));
    wait_for_count(
        &brokers,
        "user-login-processed-production",
        valid.len(),
        Duration::from_secs(60),
    );
    wait_for_count(&brokers, "user-login-dead-letter-parked", 4, Duration::from_secs(60));
    let out = terminate(run);
    assert!(out.status.success(), "weir run: {}", String::from_utf8_lossy(&out.stderr));
    let processed = read_topic(&brokers, "user-login-processed-production", Duration::from_secs(1));
    let (lost, duplicated) = losses_and_duplicates(valid.iter().map(String::as_str), &processed);
    assert!(lost.is_empty() && duplicated.is_empty(), "lost {lost:?}, duplicated {duplicated:?}");
    assert_eq!(processed.len(), valid.len(), "nothing but the valid events was processed");
    let dead = read_topic(&brokers, "user-login-dead-letter", Duration::from_secs(1));
    let parked = read_topic(&brokers, "user-login-dead-letter-parked", Duration::from_secs(1));
    let count = |records: &[weir_core::record::Record], k: &str| {
        records.iter().filter(|m| key(m) == k).count()
    };
    for k in ["raw-header", "not-json", "tombstone"] {
        assert_eq!(count(&dead, k), 4, "{k}: each one a dead letter, once");
    }
    assert_eq!(count(&parked, "huge"), 4, "each oversize output parked as a pointer, once");
}

/// The login pipeline on `transform`, with `validate_limits` in `[validate]` and the
/// default breaker (50 faults in a row).
fn breaker_config(
    dir: &std::path::Path,
    transform: &std::path::Path,
    validate_limits: &str,
) -> std::path::PathBuf {
    let config = dir.join("weir.toml");
    let text = crate::common::login_config(transform).replacen(
        "[validate]\n",
        &format!("[validate]\n{validate_limits}\n"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// 60 poison records in a row between good ones: all good ones delivered once, the 60
/// dead-lettered with their fault, and `weir run` never holding.
fn poison_run(config: &std::path::Path, poison: impl Fn(usize) -> String, fault_kind: &str) {
    let broker = embedded(1);
    let brokers = broker.bootstrap_servers().to_string();
    let before: Vec<String> = (0..6).map(|i| format!("before-{i}")).collect();
    let after: Vec<String> = (0..6).map(|i| format!("after-{i}")).collect();
    produce(&brokers, before.iter().map(|k| (k.clone(), login(k))));
    produce(&brokers, (0..60).map(|i| (format!("poison-{i}"), poison(i))));
    produce(&brokers, after.iter().map(|k| (k.clone(), login(k))));

    let run = spawn(weir(&brokers, &["run", "--config", config.to_str().unwrap()]));
    let processed =
        wait_for_topic(&brokers, "user-login-processed-production", Duration::from_secs(60), |r| {
            r.len() >= 12
        });
    let dead = wait_for_topic(&brokers, "user-login-dead-letter", Duration::from_secs(60), |r| {
        r.len() >= 60
    });
    let log = run.stderr_so_far();
    let out = terminate(run);
    assert!(out.status.success(), "weir run: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!log.contains("Consumption paused"), "the breaker held the flow: {log}");
    let good: Vec<&str> = before.iter().chain(&after).map(String::as_str).collect();
    let (lost, duplicated) = losses_and_duplicates(good, &processed);
    assert!(lost.is_empty() && duplicated.is_empty(), "lost {lost:?}, duplicated {duplicated:?}");
    let (lost, duplicated) = losses_and_duplicates(
        (0..60).map(|i| format!("poison-{i}")).collect::<Vec<_>>().iter().map(String::as_str),
        &dead,
    );
    assert!(
        lost.is_empty() && duplicated.is_empty(),
        "dead letters: lost {lost:?}, duplicated {duplicated:?}"
    );
    assert!(
        dead.iter().all(|m| header(m, weir_core::headers::KIND).as_deref() == Some(fault_kind)),
        "{:?}",
        dead.iter().map(|m| header(m, weir_core::headers::KIND)).collect::<Vec<_>>()
    );
}

/// Records over the stage's size limit never reach the plugin: input faults, which the
/// breaker does not count. 60 in a row used to trip it (50) and hold `weir run` forever.
#[test]
fn sixty_oversize_records_in_a_row_never_hold_the_flow() {
    let dir = tempfile::tempdir().unwrap();
    let config = breaker_config(
        dir.path(),
        &crate::common::plugin("readable-timestamp"),
        "limits = { max_message_kib = 4 }",
    );
    let oversize = |i: usize| {
        login(&format!("poison-{i}"))
            .replace(r#""user_id""#, &format!(r#""padding":"{}","user_id""#, "x".repeat(6_000)))
    };
    poison_run(&config, oversize, "oversize");
}

/// 60 records that make a healthy plugin trap, in a row: the breaker trips, the canaries
/// (recent good records on a fresh instance) still pass, so the records are poison and
/// go to the dead letters — the flow goes on.
#[test]
fn sixty_records_that_make_a_plugin_trap_are_dead_lettered_not_held() {
    let dir = tempfile::tempdir().unwrap();
    let config = breaker_config(dir.path(), &crate::common::test_plugin("hostile"), "");
    let trapping = |i: usize| {
        login(&format!("poison-{i}")).replace(r#""device_id""#, r#""note":"PANIC","device_id""#)
    };
    poison_run(&config, trapping, "trap");
}

/// `weir tail` prints record bytes with control characters escaped: a record cannot clear
/// the terminal, recolour it or forge lines of output.
#[test]
fn tail_prints_control_characters_escaped() {
    let broker = embedded(1);
    let brokers = broker.bootstrap_servers().to_string();
    let producer: BaseProducer =
        weir_kafka::client_config(&brokers, &Default::default()).create().unwrap();
    let value = "{\"user_id\":\"\x1b[2J\x1b[31mred\"}\nforged line";
    let headers =
        OwnedHeaders::new().insert(Header { key: "trace\x07id", value: Some("bell\x07") });
    producer
        .send(BaseRecord::<str, str>::to("user-login").key("k\r\n").payload(value).headers(headers))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
    let tail = run_ok(weir(
        &brokers,
        &["tail", "--topic", "user-login", "--from", "earliest", "--count", "1", "--headers"],
    ));
    let shown = String::from_utf8_lossy(&tail.stdout);
    assert!(
        !shown.bytes().any(|b| b == 0x1b || b == 0x07 || b == b'\r'),
        "raw control bytes: {shown:?}"
    );
    assert!(
        shown.contains(r"\u{1b}[2J\u{1b}[31mred") && shown.contains(r"\nforged line"),
        "{shown}"
    );
    assert!(shown.contains(r"key: k\r\n") && shown.contains(r"trace\u{7}id: bell\u{7}"), "{shown}");
    assert!(!shown.lines().any(|l| l.starts_with("forged")), "{shown}");
}
