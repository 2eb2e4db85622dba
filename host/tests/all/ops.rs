//! Operating weir: its Prometheus metrics scraped by a real Prometheus (Debian's 2.42) from a
//! `weir run` on tansu, the dashboard's and the alerts' queries run against it, the
//! probes, promtool on the rules, and the Kubernetes manifests checked against the
//! Kubernetes schemas (`kubernetes-validate`, offline).

use crate::common::{self, kafka::*, tools};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A Prometheus scraping `target` every second, with weir's alert rules loaded.
struct Prometheus {
    _child: Guarded,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let alerts = common::repo().join("deploy/prometheus/alerts.yml");
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: weir\n    static_configs: [{{targets: [\"{target}\"]}}]\n",
            alerts.display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = Command::new(tools::prometheus_bin().join("prometheus"))
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            _child: Guarded::new(child),
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        wait_until(Duration::from_secs(30), "Prometheus to be ready", || {
            ureq::get(&format!("{}/-/ready", prometheus.url)).call().is_ok()
        });
        prometheus
    }

    /// An instant query; panics unless Prometheus parsed and ran it.
    fn query(&self, expr: &str) -> Vec<Value> {
        let response: Value = ureq::get(&format!("{}/api/v1/query", self.url))
            .query("query", expr)
            .call()
            .unwrap_or_else(|e| panic!("query `{expr}`: {e}"))
            .into_json()
            .unwrap();
        assert_eq!(response["status"], "success", "`{expr}`: {response}");
        response["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of a query that returns one series, if it does.
    fn value(&self, expr: &str) -> Option<f64> {
        let result = self.query(expr);
        result.first().and_then(|series| series["value"][1].as_str()).and_then(|v| v.parse().ok())
    }
}

fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "waited {} s for {what}", timeout.as_secs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Status and body of a GET; `None` while nothing listens.
pub(crate) fn get(url: &str) -> Option<(u16, String)> {
    match ureq::get(url).timeout(Duration::from_secs(5)).call() {
        Ok(response) => Some((response.status(), response.into_string().unwrap())),
        Err(ureq::Error::Status(status, response)) => {
            Some((status, response.into_string().unwrap()))
        }
        Err(_) => None,
    }
}

fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(common::repo().join("deploy/grafana/weir.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| {
            panel["targets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["expr"].as_str().unwrap().to_string())
        })
        .collect()
}

fn alert_rules() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(common::repo().join("deploy/prometheus/alerts.yml")).unwrap();
    let rules: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    rules["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|rule| {
            (
                rule["alert"].as_str().unwrap().to_string(),
                rule["expr"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The `weir_…` metric names an expression reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("weir_") {
        let name: String =
            rest[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        rest = &rest[at + name.len()..];
        names.insert(name);
    }
    names
}

#[test]
fn prometheus_scrapes_weir_run_and_every_dashboard_and_alert_query_has_data() {
    let tansu = Tansu::start();
    let brokers = tansu.brokers.as_str();
    run_ok(weir(brokers, &["topics", "create"]));
    let addr = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::start(&addr);
    let run = spawn(weir(brokers, &["run", "--metrics", &addr]));

    // Not ready until the consumer group is joined (tansu takes seconds), then ready.
    let mut first = None;
    wait_until(Duration::from_secs(30), "weir to serve /readyz", || {
        first = get(&format!("http://{addr}/readyz"));
        first.is_some()
    });
    let (status, body) = first.unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the consumer group is not joined yet"), "{body}");
    wait_until(Duration::from_secs(60), "/readyz to turn ready", || {
        get(&format!("http://{addr}/readyz")).is_some_and(|(status, _)| status == 200)
    });
    assert_eq!(get(&format!("http://{addr}/healthz")).unwrap().0, 200);

    const EVENTS: u64 = 3_000;
    run_ok(weir(
        brokers,
        &[
            "generate",
            "--count",
            "3000",
            "--rate",
            "1500",
            "--invalid-ratio",
            "0.05",
            "--seed",
            "7",
        ],
    ));

    // What Prometheus scraped matches what was produced: every record consumed, every
    // one acknowledged on the output or the dead-letter topic, and no lag left on any of
    // the three partitions (librdkafka reports it every 5 s).
    let consumed = r#"sum(weir_records_consumed_total{topic="user-login"})"#;
    let settled = r#"sum(weir_records_produced_total{topic=~"user-login-processed-production|user-login-dead-letter"})"#;
    let lag = r#"sum(weir_consumer_lag{topic="user-login"})"#;
    let partitions = r#"count(weir_consumer_lag{topic="user-login"})"#;
    wait_until(
        Duration::from_secs(120),
        "Prometheus to see every record consumed and no lag",
        || {
            prometheus.value(consumed) == Some(EVENTS as f64)
                && prometheus.value(settled) == Some(EVENTS as f64)
                && prometheus.value(partitions) == Some(3.0)
                && prometheus.value(lag) == Some(0.0)
        },
    );
    let dead = prometheus.value(r#"sum(weir_dead_letters_total{stage="validate"})"#).unwrap();
    assert!(dead > 0.0 && dead < EVENTS as f64 * 0.2, "dead letters {dead}");
    assert_eq!(
        prometheus.value(r#"sum(weir_stage_records_total{stage="validate"})"#),
        Some(EVENTS as f64)
    );
    assert_eq!(prometheus.value("count(weir_plugin_info)"), Some(3.0), "one plugin per stage");
    assert_eq!(prometheus.value("max(weir_ready)"), Some(1.0));

    // The exposition passes promtool's linter.
    let exposition = get(&format!("http://{addr}/metrics")).unwrap().1;
    let mut promtool = Guarded::new(
        Command::new(tools::prometheus_bin().join("promtool"))
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), exposition.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics: {checked:?}"
    );

    // Every dashboard query parses and returns series; every alert parses; every metric
    // either reads is one weir exports.
    for expr in dashboard_exprs() {
        assert!(!prometheus.query(&expr).is_empty(), "dashboard query returned no series: {expr}");
    }
    let rules = alert_rules();
    assert_eq!(rules.len(), 6);
    let mut names = BTreeSet::new();
    for (alert, expr) in &rules {
        prometheus.query(expr);
        names.extend(metric_names(expr));
        let _ = alert;
    }
    for expr in dashboard_exprs() {
        names.extend(metric_names(&expr));
    }
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        assert!(!prometheus.query(&format!("count({name})")).is_empty(), "no series for {name}");
    }
    // Prometheus evaluated each alert rule on this data without an error.
    let loaded: Value =
        ureq::get(&format!("{}/api/v1/rules", prometheus.url)).call().unwrap().into_json().unwrap();
    let evaluated = loaded["data"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(evaluated.len(), rules.len());
    for rule in evaluated {
        assert_eq!(rule["health"], "ok", "{rule}");
    }

    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
}

#[test]
fn promtool_checks_the_alert_rules_and_their_unit_tests() {
    let dir = common::repo().join("deploy/prometheus");
    let promtool = tools::prometheus_bin().join("promtool");
    for args in [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]] {
        let out = Command::new(&promtool).args(args).current_dir(&dir).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Every alert has a unit test.
    let tests = std::fs::read_to_string(dir.join("alerts.test.yml")).unwrap();
    for (alert, _) in alert_rules() {
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "{alert} has no test in alerts.test.yml"
        );
    }
}

/// The I/O side of a flow that never ends by itself: one record per poll.
struct Endless;

impl weir_core::driver::Source for Endless {
    fn poll(&mut self, _max: usize, _wait: Duration) -> anyhow::Result<weir_core::driver::Poll> {
        Ok(weir_core::driver::Poll::Batch(vec![common::message("{}")]))
    }
}

impl weir_core::driver::Sink<()> for Endless {
    fn send(&mut self, _outputs: Vec<()>) -> anyhow::Result<()> {
        Ok(())
    }

    fn finish(&mut self, _drain: Duration) -> anyhow::Result<()> {
        Ok(())
    }
}

#[test]
fn healthz_fails_once_the_plugin_thread_has_died() {
    let ops = weir_core::ops::Ops::default();
    let server = weir::server::serve("127.0.0.1:0", ops.clone()).unwrap();
    let healthz = format!("http://{}/healthz", server.addr);
    assert_eq!(get(&healthz), Some((200, "ok\n".to_string())));

    let stop = std::sync::atomic::AtomicBool::new(false);
    let flow = weir_core::driver::Controls {
        batch_size: 1,
        stop: &stop,
        drain: Duration::ZERO,
        checkpoint_every: None,
        ops: Some(&ops),
    };
    let mut batches = 0;
    let result = weir_core::driver::drive(&mut Endless, &flow, |_task| {
        batches += 1;
        match batches {
            1 => Ok(weir_core::driver::Done::outputs(vec![()])),
            _ => anyhow::bail!("the plugins' host state is broken"),
        }
    });
    assert!(result.is_err());
    let (status, body) = get(&healthz).unwrap();
    assert_eq!(status, 503);
    assert_eq!(body, "the plugin thread has died: the plugins' host state is broken\n");
    let (status, body) = get(&format!("http://{}/readyz", server.addr)).unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("the plugin thread has died"), "{body}");
}

#[test]
fn a_stopped_flow_stays_healthy() {
    let ops = weir_core::ops::Ops::default();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let flow = weir_core::driver::Controls {
        batch_size: 1,
        stop: &stop,
        drain: Duration::ZERO,
        checkpoint_every: None,
        ops: Some(&ops),
    };
    weir_core::driver::drive(&mut Endless, &flow, |_task| {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(weir_core::driver::Done::outputs(vec![()]))
    })
    .unwrap();
    assert_eq!(ops.health.live(), Ok(()), "a graceful stop is not a death");
}

#[test]
fn logs_are_json_lines_with_log_format_json() {
    let addr = format!("127.0.0.1:{}", free_port());
    let out =
        weir("127.0.0.1:1", &["--log-format", "json", "--log", "info", "run", "--metrics", &addr])
            .output()
            .unwrap();
    assert!(!out.status.success(), "no broker there");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logged: Vec<Value> =
        stderr.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let served = logged.iter().find(|line| {
        line["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("metrics at http://{addr}/metrics")))
    });
    let served = served
        .unwrap_or_else(|| panic!("no JSON log line says where metrics are served:\n{stderr}"));
    assert_eq!(served["level"], "INFO");
    assert!(served["timestamp"].is_string());
    // The final error is a JSON line too (a log shipper reads every line), in plain words.
    let last: Value = serde_json::from_str(stderr.lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(last["level"], "ERROR");
    assert!(
        last["message"].as_str().unwrap().starts_with("error: cannot reach Kafka at 127.0.0.1:1"),
        "{stderr}"
    );
}

#[test]
fn a_taken_metrics_port_is_named_with_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = weir("127.0.0.1:1", &["run", "--metrics", &addr]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot serve metrics on {addr}")) && stderr.contains("--metrics"),
        "{stderr}"
    );
}

fn yaml(path: &Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let dir = common::repo().join("deploy/k8s");
    let kustomization = yaml(&dir.join("kustomization.yaml"));
    let resources: Vec<String> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    // Every manifest in the directory is in the kustomization, and the other way round.
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    assert_eq!(on_disk, resources.iter().cloned().collect::<BTreeSet<_>>());

    // The ConfigMap kustomize generates, made here from the same files.
    let generated = tempfile::tempdir().unwrap();
    let mut data = serde_yaml::Mapping::new();
    for file in kustomization["configMapGenerator"][0]["files"].as_sequence().unwrap() {
        let file = file.as_str().unwrap();
        let (key, path) = file.split_once('=').unwrap_or((file, file));
        data.insert(key.into(), std::fs::read_to_string(dir.join(path)).unwrap().into());
        std::fs::copy(dir.join(path), generated.path().join(key)).unwrap();
    }
    let config_map = serde_yaml::to_string(&serde_yaml::Value::Mapping(
        [
            ("apiVersion".into(), "v1".into()),
            ("kind".into(), "ConfigMap".into()),
            ("metadata".into(), serde_yaml::from_str("{name: weir-config}").unwrap()),
            ("data".into(), serde_yaml::Value::Mapping(data)),
        ]
        .into_iter()
        .collect(),
    ))
    .unwrap();
    std::fs::write(generated.path().join("configmap.yaml"), config_map).unwrap();

    // The oldest Kubernetes still commonly run, and the newest the package knows.
    for version in ["1.29.0", "1.37.0"] {
        let out = tools::kubernetes_validate()
            .args(["--strict", "--kubernetes-version", version])
            .args(resources.iter().map(|r| dir.join(r)))
            .arg(generated.path().join("configmap.yaml"))
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "kubernetes-validate {version}:\n{said}");
        assert_eq!(said.matches(" passed for resource ").count(), resources.len() + 1, "{said}");
    }

    // weir reads the ConfigMap's weir.toml as mounted (the schema beside it), and the
    // manifests agree with it: probes on its metrics port, no more replicas than
    // partitions, a grace period longer than the 30 s drain.
    let config = weir_core::config::Config::load(&generated.path().join("weir.toml")).unwrap();
    assert!(
        weir::resolve::stage_json(&config, "validate", config.validate.as_ref().unwrap()).is_ok(),
        "the schema resolves beside weir.toml"
    );
    let port: u16 =
        config.metrics.listen.as_deref().unwrap().rsplit(':').next().unwrap().parse().unwrap();
    for (file, command) in [("run.yaml", "run"), ("repair.yaml", "repair")] {
        let deployment = yaml(&dir.join(file));
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        assert_eq!(container["args"][0], command);
        assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(u64::from(port)));
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 30, "{file}");
        assert_eq!(
            pod["initContainers"][0]["image"], "weir-plugins",
            "{file}: plugins come from their own image"
        );
        for stage in config.stages().into_iter().map(|(_, s)| s) {
            assert!(
                stage.plugin.starts_with("/opt/weir/plugins"),
                "{file}: {}",
                stage.plugin.display()
            );
        }
    }
    let hpa = yaml(&dir.join("hpa.yaml"));
    assert_eq!(hpa["spec"]["maxReplicas"].as_i64(), Some(i64::from(config.kafka.partitions)));
    assert_eq!(hpa["spec"]["metrics"][0]["external"]["metric"]["name"], "weir_consumer_lag");
    assert!(
        yaml(&dir.join("run.yaml"))["spec"]["replicas"].as_i64().unwrap()
            <= i64::from(config.kafka.partitions)
    );
}

/// The status of a raw HTTP/1.1 GET with the given `Host` header.
fn status_with_host(addr: std::net::SocketAddr, path: &str, host: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let code = answer.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
}

/// Anyone who reaches the port reaches the server. A page elsewhere that rebinds its
/// name to weir's address cannot read the status (names are checked; the probes and
/// `/metrics` answer any); records are hidden unless the config shows them (by default
/// only on loopback); and 300 clients that send half a request from one address
/// neither starve the probes nor stay connected (they stayed open 50 s and more).
#[test]
fn the_metrics_server_answers_its_own_names_hides_records_and_bounds_slow_clients() {
    use weir::server::{serve_page, Page, HEADER_TIME};
    let ops = weir_core::ops::Ops::default();
    let page =
        Page { show_records: Some(false), hosts: vec!["weir.example".into()], topics: vec![] };
    let server = serve_page("127.0.0.1:0", ops.clone(), page).unwrap();
    let addr = server.addr;
    ops.metrics.events().dead_letter(&weir_core::ops::events::DeadLettered {
        stage: "validate",
        kind: "violation",
        reason: "'secret-7' is not a valid locale",
        key: Some(b"user-42"),
        value: b"{\"locale\":\"secret-7\"}",
    });
    for (host, code) in [
        ("evil.example", 421),
        ("evil.example:80", 421),
        ("weir.example:9100", 200),
        ("127.0.0.1", 200),
        ("[::1]:9100", 200),
        ("localhost:1", 200),
    ] {
        assert_eq!(status_with_host(addr, "/api/status", host).0, code, "Host: {host}");
        assert_eq!(status_with_host(addr, "/", host).0, code, "Host: {host}");
    }
    assert_eq!(
        status_with_host(addr, "/healthz", "evil.example").0,
        200,
        "the probes answer any name"
    );
    assert_eq!(status_with_host(addr, "/metrics", "prometheus.svc").0, 200, "so does /metrics");
    let (_, body) = status_with_host(addr, "/api/status", "127.0.0.1");
    let status: Value = serde_json::from_str(&body).unwrap();
    let card = &status["dead_letters"]["recent"][0];
    assert_eq!(
        (card["key"].clone(), card["value"].clone(), status["dead_letters"]["hidden"].clone()),
        (Value::Null, Value::Null, Value::Bool(true)),
        "{card}"
    );
    assert!(!body.contains("secret-7") && !body.contains("user-42"), "{body}");

    // 300 half-sent requests from 127.0.0.2.
    let slow: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.bind(&"127.0.0.2:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
            socket.connect(&addr.into()).unwrap();
            let mut stream: std::net::TcpStream = socket.into();
            let _ = std::io::Write::write_all(
                &mut stream,
                b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            );
            stream
        })
        .collect();
    let started = Instant::now();
    while started.elapsed() < HEADER_TIME + Duration::from_secs(1) {
        let asked = Instant::now();
        let (code, _) = get(&format!("http://{addr}/healthz")).expect("the server answers");
        assert_eq!(code, 200);
        assert!(
            asked.elapsed() < Duration::from_secs(1),
            "/healthz took {:?} beside 300 slow clients",
            asked.elapsed()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every slow connection is closed by the server: at once beyond the per-peer bound,
    // the others once their headers are late.
    for (i, mut stream) in slow.into_iter().enumerate() {
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = [0u8; 512];
        let closed = loop {
            match std::io::Read::read(&mut stream, &mut buf) {
                Ok(0) => break true,
                Ok(_) => continue, // a 408 or similar before the close
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
                Err(_) => break false,
            }
        };
        assert!(closed, "slow connection {i} still open {:?} after it started", started.elapsed());
    }
}
