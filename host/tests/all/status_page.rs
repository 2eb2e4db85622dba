//! The status page (`GET /` beside `/metrics`) in a real browser: `weir run --metrics` on
//! tansu with the generator, the page opened in headless Chromium, its DOM checked, a
//! screenshot left at `target/status-page.png` (the README's is a copy of it).

use crate::common::{kafka::*, tools};
use crate::ops::get;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Dead letters whose key, value and reason carry markup that would run if the page put
/// them in the DOM as HTML: each would retitle the page.
const HOSTILE: [(&str, &str); 3] = [
    (
        "<script>document.title='pwned'</script>",
        r#"{"user_id":"u","app_version":"2.3.0","device_type":"iOS","ip":"1.2.3.4","locale":"MD","device_id":"d"}"#,
    ),
    (
        "hostile-value",
        r#"{"user_id":"<script>document.title='pwned'</script>","app_version":"2.3.0","ip":"1.2.3.4","locale":"MD","device_id":"d","timestamp":1}"#,
    ),
    (
        "hostile-reason",
        r#"{"user_id":"u","app_version":"2.3.0","device_type":"iOS","ip":"1.2.3.4","locale":"MD","device_id":"d","timestamp":"<img src=x onerror=\"document.title='pwned'\">"}"#,
    ),
];

fn status(addr: &str) -> Value {
    let (code, body) = get(&format!("http://{addr}/api/status")).expect("the status API answers");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_status_page_shows_the_live_flow_in_a_browser_and_runs_no_record_as_markup() {
    let _alone = one_group_test_at_a_time();
    let (tansu, _dir, config) = tansu_with_topics();
    let brokers = tansu.brokers.as_str();
    produce(brokers, HOSTILE.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let addr = format!("127.0.0.1:{}", free_port());
    let _generator = spawn(with_config(
        brokers,
        &config,
        &["generate", "--count", "1000000", "--rate", "200", "--invalid-ratio", "0"],
    ));
    let _run = spawn(with_config(brokers, &config, &["run", "--metrics", &addr]));

    // Live numbers: every stage moving, the three hostile dead letters in, a report.
    let deadline = Instant::now() + Duration::from_secs(90);
    let live = loop {
        let s = get(&format!("http://{addr}/api/status"))
            .filter(|(code, _)| *code == 200)
            .map(|(_, body)| serde_json::from_str::<Value>(&body).unwrap());
        if let Some(s) = s.filter(|s| {
            let moving = |v: &Value| v.as_f64().is_some_and(|r| r > 0.0);
            moving(&s["input"]["per_s"])
                && s["stages"]
                    .as_array()
                    .is_some_and(|st| st.len() == 3 && st.iter().all(|st| moving(&st["per_s"])))
                && s["dead_letters"]["recent"].as_array().is_some_and(|r| r.len() == 3)
                && s["report"]["report"]["analytics"].is_object()
        }) {
            break s;
        }
        assert!(Instant::now() < deadline, "no live status within 90 s: {}", status(&addr));
        std::thread::sleep(Duration::from_millis(200));
    };
    let stages: Vec<&str> =
        live["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(stages, ["validate", "transform", "aggregate"]);
    for stage in live["stages"].as_array().unwrap() {
        let newest = weir_core::plugin::contract::Version::newest_known();
        assert_eq!(stage["contract"], format!("{}.{}.{}", newest.0, newest.1, newest.2), "{stage}");
        assert_eq!(stage["sha256"].as_str().unwrap().len(), 64, "{stage}");
        assert!(
            stage["memory_bytes"].as_f64().unwrap() > 0.0
                && stage["memory_limit_bytes"].as_f64().unwrap() > 0.0,
            "{stage}"
        );
        assert!(
            stage["batch_p99_ms"].as_f64().unwrap() >= stage["batch_p50_ms"].as_f64().unwrap(),
            "{stage}"
        );
    }
    let roles: Vec<&str> =
        live["outputs"].as_array().unwrap().iter().map(|o| o["role"].as_str().unwrap()).collect();
    assert!(
        ["output", "dead_letter", "parked", "analytics"].iter().all(|r| roles.contains(r)),
        "{roles:?}"
    );

    // Nothing it serves changes anything: every route refuses anything but GET.
    for route in ["/", "/api/status", "/status.js", "/metrics"] {
        let refused = ureq::post(&format!("http://{addr}{route}")).call();
        assert!(matches!(refused, Err(ureq::Error::Status(405, _))), "POST {route}: {refused:?}");
    }
    let page = ureq::get(&format!("http://{addr}/")).call().unwrap();
    assert!(
        page.header("content-security-policy").is_some_and(|p| p.contains("script-src 'self'")),
        "the page allows its own script only"
    );

    let profile = tempfile::tempdir().unwrap();
    let dumped = tools::chromium(
        profile.path(),
        &["--virtual-time-budget=4000", "--dump-dom", &format!("http://{addr}/")],
    );
    let dom = String::from_utf8_lossy(&dumped.stdout).into_owned();
    assert!(
        dom.contains("data-stage"),
        "the page drew no flow:\n{dom}\n{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    for stage in &stages {
        assert!(dom.contains(&format!("data-stage=\"{stage}\"")), "stage {stage} is not drawn");
    }
    // The edges into each stage carry its rate, non-zero.
    for stage in &stages {
        let marker = format!("data-edge=\"into {stage}\">");
        let at = dom.find(&marker).unwrap_or_else(|| panic!("no edge into {stage}")) + marker.len();
        let rate: f64 =
            dom[at..].split("/s").next().unwrap().replace(',', "").parse().unwrap_or(0.0);
        assert!(rate > 0.0, "edge into {stage}: {:?}", &dom[at..at + 20]);
    }
    assert!(dom.contains("is not of type"), "the dead letters' reasons are listed");
    assert!(
        dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"),
        "the hostile key and value are shown, as text"
    );
    assert!(dom.contains("&lt;img src=x onerror="), "the hostile reason is shown, as text");
    assert_eq!(dom.matches("<script").count(), 1, "the page's own script only");
    assert!(!dom.contains("<img"), "no markup from a record reached the DOM");
    assert!(dom.contains("<title>weir status</title>"), "no record's script ran");

    let screenshot = tools::target().join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let profile = tempfile::tempdir().unwrap();
    let shot = format!("--screenshot={}", screenshot.display());
    tools::chromium(
        profile.path(),
        &[
            "--window-size=1400,1100",
            "--virtual-time-budget=4000",
            "--hide-scrollbars",
            &shot,
            &format!("http://{addr}/"),
        ],
    );
    let png = std::fs::read(&screenshot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
    println!("status page: {} stages drawn, screenshot at {}", stages.len(), screenshot.display());
}
