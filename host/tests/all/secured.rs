//! Secured clusters: weir through TLS and mutual TLS to a real broker — tansu behind a TLS
//! terminator, advertising the TLS port — with certificates made by `openssl`; and what a
//! wrong CA, a wrong host name, a missing client certificate or a refused SASL handshake
//! say. Passwords never show in output.

use crate::common::{
    self,
    kafka::*,
    tls::{support_script, Pki, Terminator},
};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// tansu on a plaintext port, reachable only through TLS on `localhost:<tls_port>`.
struct SecuredBroker {
    _tansu: Tansu,
    _terminator: Terminator,
    brokers: String,
}

fn secured_broker(cert: &Path, key: &Path, client_ca: Option<&Path>) -> SecuredBroker {
    let tls_port = free_port();
    let tansu = Tansu::start_with(Some(&format!("localhost:{tls_port}")), &[]);
    let terminator = Terminator::start(tls_port, tansu.port(), cert, key, client_ca);
    SecuredBroker {
        _tansu: tansu,
        _terminator: terminator,
        brokers: format!("localhost:{tls_port}"),
    }
}

/// weir.toml with absolute paths and `security` as its `[kafka.security]` section.
fn config(dir: &Path, name: &str, security: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!("{}\n[kafka.security]\n{security}\n", common::absolute_weir_toml()),
    )
    .unwrap();
    path
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails, quickly, with a message naming the cause.
fn fails_with(brokers: &str, config: &Path, args: &[&str], cause: &str) -> String {
    let started = Instant::now();
    let out = with_config(brokers, config, args).output().unwrap();
    let message = stderr(&out);
    assert!(!out.status.success(), "{args:?} should fail: {message}");
    assert!(message.contains(cause), "{args:?}: expected the cause `{cause}` in: {message}");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    message
}

/// `weir tail` through TLS: the number of records `topic` holds.
fn count_through(brokers: &str, config: &Path, topic: &str) -> u64 {
    let out = run_ok(with_config(
        brokers,
        config,
        &["tail", "--topic", topic, "--from-beginning", "--idle-exit", "2s"],
    ));
    let summary = stderr(&out);
    let line =
        summary.lines().find(|l| l.contains(" messages · ")).unwrap_or_else(|| panic!("{summary}"));
    line.split_whitespace().next().unwrap().parse().unwrap()
}

/// topics, generate, run, repair and tail, all through TLS; and the same broker refuses
/// a client that does not speak TLS, with the fix.
#[test]
fn the_whole_pipeline_runs_through_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue("ca", "broker", "DNS:localhost,IP:127.0.0.1");
    let broker = secured_broker(&cert, &key, None);
    let brokers = broker.brokers.as_str();
    let tls = config(
        dir.path(),
        "tls",
        &format!("protocol = \"SSL\"\nca = \"{}\"", pki.ca("ca").display()),
    );

    let created = run_ok(with_config(brokers, &tls, &["topics", "create"]));
    assert!(String::from_utf8_lossy(&created.stdout).contains("created user-login"));
    let run = spawn(with_config(brokers, &tls, &["run"]));
    let repair = spawn(with_config(brokers, &tls, &["repair"]));
    run_ok(with_config(
        brokers,
        &tls,
        &["generate", "--count", "300", "--rate", "1000", "--invalid-ratio", "0.1", "--seed", "3"],
    ));
    let deadline = Instant::now() + Duration::from_secs(90);
    // Valid events plus the repairable invalid ones (the rest is parked).
    while count_through(brokers, &tls, "user-login-processed-production") < 270 {
        assert!(
            Instant::now() < deadline,
            "the pipeline did not get the records through TLS in time"
        );
    }
    for child in [run, repair] {
        let out = terminate(child);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(
        count_through(brokers, &tls, "user-login-dead-letter") >= 15,
        "dead letters went through TLS too"
    );

    let plaintext = config(dir.path(), "plaintext", "protocol = \"PLAINTEXT\"");
    let message = fails_with(brokers, &plaintext, &["topics", "create"], "cannot");
    assert!(message.contains(brokers), "{message}");
}

/// A CA that did not sign the broker's certificate, and a certificate for another host:
/// each a one-line error naming the cause and the fix.
#[test]
fn a_wrong_ca_or_host_name_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    Pki::new(dir.path(), "other-ca");
    let (cert, key) = pki.issue("ca", "broker", "DNS:localhost,IP:127.0.0.1");
    let broker = secured_broker(&cert, &key, None);
    let wrong_ca = config(
        dir.path(),
        "wrong-ca",
        &format!("protocol = \"SSL\"\nca = \"{}\"", pki.ca("other-ca").display()),
    );
    fails_with(&broker.brokers, &wrong_ca, &["topics", "create"], "kafka.security.ca");

    let (cert, key) = pki.issue("ca", "elsewhere", "DNS:kafka.example.com");
    let elsewhere = secured_broker(&cert, &key, None);
    let right_ca = config(
        dir.path(),
        "right-ca",
        &format!("protocol = \"SSL\"\nca = \"{}\"", pki.ca("ca").display()),
    );
    fails_with(&elsewhere.brokers, &right_ca, &["topics", "create"], "not for the address");
}

/// A broker that verifies client certificates: weir with one signed by the CA it trusts
/// works; without one it fails, saying a client certificate may be required.
#[test]
fn mutual_tls_needs_the_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue("ca", "broker", "DNS:localhost,IP:127.0.0.1");
    let (client_cert, client_key) = pki.issue("ca", "weir-client", "DNS:weir-client");
    let broker = secured_broker(&cert, &key, Some(&pki.ca("ca")));
    let brokers = broker.brokers.as_str();
    let ca = pki.ca("ca");
    let with_cert = config(
        dir.path(),
        "mtls",
        &format!(
            "protocol = \"SSL\"\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"",
            ca.display(),
            client_cert.display(),
            client_key.display()
        ),
    );
    run_ok(with_config(brokers, &with_cert, &["topics", "create"]));
    run_ok(with_config(
        brokers,
        &with_cert,
        &["generate", "--count", "20", "--rate", "1000", "--seed", "4"],
    ));
    assert_eq!(count_through(brokers, &with_cert, "user-login"), 20);

    let without =
        config(dir.path(), "no-cert", &format!("protocol = \"SSL\"\nca = \"{}\"", ca.display()));
    fails_with(
        brokers,
        &without,
        &["tail", "--topic", "user-login", "--count", "1"],
        "client certificate",
    );
}

/// tansu with `--authentication` refuses the SASL handshakes librdkafka offers (PLAIN and
/// SCRAM: "no shared mechanism"), so no broker here checks credentials: what can be shown
/// is the refused handshake's error, the password read from the environment, and that
/// it shows nowhere.
#[test]
fn a_refused_sasl_handshake_is_named_and_the_password_never_shows() {
    const PASSWORD: &str = "pa55-weir-secret-7f3a";
    let tansu = Tansu::start_with(None, &["--authentication"]);
    let dir = tempfile::tempdir().unwrap();
    let sasl = config(dir.path(), "sasl", "protocol = \"SASL_PLAINTEXT\"\n[kafka.security.sasl]\nmechanism = \"SCRAM-SHA-512\"\nusername = \"weir\"\npassword_env = \"WEIR_TEST_KAFKA_PASSWORD\"");

    let unset =
        fails_with(&tansu.brokers, &sasl, &["topics", "create"], "$WEIR_TEST_KAFKA_PASSWORD");
    assert!(unset.contains("not set"), "{unset}");

    let mut command = with_config(&tansu.brokers, &sasl, &["topics", "create"]);
    command.env("WEIR_TEST_KAFKA_PASSWORD", PASSWORD).env("WEIR_LOG", "debug");
    let out = command.output().unwrap();
    let message = stderr(&out);
    assert!(!out.status.success());
    assert!(message.contains("SASL"), "the refused handshake is named: {message}");
    assert!(!message.contains(PASSWORD), "the password shows in: {message}");

    let mut check = with_config(&tansu.brokers, &sasl, &["check"]);
    check.env("WEIR_TEST_KAFKA_PASSWORD", PASSWORD);
    let out = check.output().unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!printed.contains(PASSWORD), "weir check shows the password: {printed}");
}

/// A trusted certificate for another host name in front of a SASL PLAIN login: the
/// endpoint (host/tests/support/sasl_recorder.py) records every byte it receives and
/// answers ApiVersions and SaslHandshake(PLAIN), so a client about to send the password
/// would. weir tells the host name mismatch apart with bare TLS handshakes: the password
/// never reaches it, and the error names the cause.
#[test]
fn a_certificate_for_another_host_never_receives_the_sasl_password() {
    const PASSWORD: &str = "pa55-weir-leak-check-91c4";
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue("ca", "elsewhere", "DNS:kafka.example.com");
    let record = dir.path().join("received.bin");
    std::fs::write(&record, b"").unwrap();
    let port = free_port();
    let _endpoint = support_script(
        "sasl_recorder.py",
        &[port.to_string().into(), cert.into(), key.into(), record.clone().into()],
    );
    let sasl = config(dir.path(), "sasl-ssl", &format!(
        "protocol = \"SASL_SSL\"\nca = \"{}\"\n[kafka.security.sasl]\nmechanism = \"PLAIN\"\nusername = \"weir\"\npassword_env = \"WEIR_TEST_KAFKA_PASSWORD\"",
        pki.ca("ca").display()
    ));
    let mut command = with_config(&format!("localhost:{port}"), &sasl, &["topics", "create"]);
    command.env("WEIR_TEST_KAFKA_PASSWORD", PASSWORD);
    let out = command.output().unwrap();
    let message = stderr(&out);
    assert!(!out.status.success(), "{message}");
    assert!(message.contains("host name mismatch"), "the cause is named: {message}");
    let received = std::fs::read(&record).unwrap();
    let leaked = received.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes());
    assert!(!leaked, "the endpoint received the SASL password ({} bytes received)", received.len());

    // The control: the same endpoint with a certificate for the host weir connects to
    // receives the password, as a broker should — the check above can fail.
    let (cert, key) = pki.issue("ca", "localhost", "DNS:localhost");
    let record = dir.path().join("received-by-localhost.bin");
    std::fs::write(&record, b"").unwrap();
    let port = free_port();
    let _endpoint = support_script(
        "sasl_recorder.py",
        &[port.to_string().into(), cert.into(), key.into(), record.clone().into()],
    );
    let mut command = with_config(&format!("localhost:{port}"), &sasl, &["topics", "create"]);
    command.env("WEIR_TEST_KAFKA_PASSWORD", PASSWORD);
    let _ = command.output().unwrap();
    let received = std::fs::read(&record).unwrap();
    assert!(
        received.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()),
        "a checked endpoint is sent the PLAIN login"
    );
}
