//! docker-compose.yml and the Dockerfile by their structure: the compose file's services,
//! images, health checks and start order, and the image's build script. `.ci/run` also
//! runs the stack in real containers (`.ci/compose-e2e`) and smoke-tests the image layout
//! built by `.ci/build-dist`.

use crate::common;

use serde_yaml::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string(common::repo().join("docker-compose.yml")).unwrap();
    let mut value: Value = serde_yaml::from_str(&text).unwrap();
    value.apply_merge().unwrap();
    value
}

fn depends(service: &Value) -> Vec<(String, String)> {
    service["depends_on"]
        .as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (k.as_str().unwrap().to_string(), v["condition"].as_str().unwrap().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_names_every_service_in_start_order() {
    let c = compose();
    let services = &c["services"];
    let names: Vec<&str> =
        services.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "kafka",
            "schema-registry",
            "topics",
            "schemas",
            "generator",
            "pipeline",
            "repair",
            "prometheus",
            "grafana"
        ]
    );

    let kafka = &services["kafka"];
    assert!(kafka["image"].as_str().unwrap().starts_with("apache/kafka:"));
    assert_eq!(kafka["environment"]["KAFKA_PROCESS_ROLES"], "broker,controller", "KRaft, one node");
    assert!(kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap()
        .contains("HOST://localhost:9092"));
    assert!(kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap()
        .contains("INTERNAL://kafka:29092"));
    assert_eq!(kafka["ports"][0], "9092:9092");
    assert!(kafka["healthcheck"]["test"].is_sequence());
    assert!(services["schema-registry"]["healthcheck"]["test"].is_sequence());
    assert_eq!(depends(&services["schema-registry"]), [("kafka".into(), "service_healthy".into())]);

    for weir in ["topics", "schemas", "generator", "pipeline", "repair"] {
        let s = &services[weir];
        assert_eq!(s["image"], "weir:latest", "{weir}");
        assert_eq!(s["environment"]["WEIR_BROKERS"], "kafka:29092", "{weir}");
        assert!(s["command"][0].is_string(), "{weir}");
    }
    assert_eq!(services["topics"]["command"][0], "topics");
    assert_eq!(depends(&services["topics"]), [("kafka".into(), "service_healthy".into())]);
    assert_eq!(
        depends(&services["schemas"]),
        [("schema-registry".into(), "service_healthy".into())]
    );
    let after_topics = ("topics".to_string(), "service_completed_successfully".to_string());
    for weir in ["generator", "pipeline", "repair"] {
        assert!(depends(&services[weir]).contains(&after_topics), "{weir} waits for the topics");
    }
    assert!(depends(&services["pipeline"])
        .contains(&("schemas".into(), "service_completed_successfully".into())));

    // The long-running services serve metrics and are healthy when weir says it is ready.
    for weir in ["pipeline", "repair"] {
        let s = &services[weir];
        let command: Vec<&str> =
            s["command"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(
            command.windows(2).any(|w| w == ["--metrics", "0.0.0.0:9100"]),
            "{weir}: {command:?}"
        );
        let check: Vec<&str> = s["healthcheck"]["test"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            check,
            ["CMD", "weir", "health", "--ready", "--addr", "127.0.0.1:9100"],
            "{weir}"
        );
    }
}

#[test]
fn compose_runs_prometheus_and_grafana_with_the_shipped_rules_and_dashboard() {
    let c = compose();
    let services = &c["services"];
    let mounts = |service: &str| -> Vec<String> {
        services[service]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert!(mounts("prometheus")
        .contains(&"./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro".to_string()));
    let prometheus: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(common::repo().join("deploy/prometheus/prometheus.yml")).unwrap(),
    )
    .unwrap();
    assert_eq!(prometheus["rule_files"][0], "/etc/prometheus/alerts.yml");
    let targets = &prometheus["scrape_configs"][0]["static_configs"][0]["targets"];
    assert_eq!(targets.as_sequence().unwrap().len(), 2);
    assert!(mounts("grafana").contains(
        &"./deploy/grafana/weir.json:/var/lib/grafana/dashboards/weir.json:ro".to_string()
    ));
    // Grafana's provisioned data source is the one every dashboard panel names.
    let source: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(
            common::repo().join("deploy/grafana/provisioning/datasources/prometheus.yml"),
        )
        .unwrap(),
    )
    .unwrap();
    let uid = source["datasources"][0]["uid"].as_str().unwrap();
    assert!(source["datasources"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://prometheus:9090"));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("deploy/grafana/weir.json")).unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels.iter().map(|p| p["title"].as_str().unwrap()).collect();
    for wanted in ["Throughput", "lag", "Dead letters", "latency", "faults", "Plugin versions"] {
        assert!(titles.iter().any(|t| t.contains(wanted)), "no panel for {wanted}: {titles:?}");
    }
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], uid, "{}", panel["title"]);
    }
}

#[test]
fn the_image_is_built_by_the_script_ci_runs_and_ships_what_weir_needs() {
    let dockerfile = std::fs::read_to_string(common::repo().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("RUN .ci/build-dist /dist"),
        "the image runs the script CI exercises"
    );
    assert!(dockerfile.contains("COPY --from=dist /dist /opt/weir"));
    // One runtime stage, fed either by the build stage or by a prebuilt dist/ (CI).
    assert!(dockerfile.contains("ARG DIST=build") && dockerfile.contains("FROM ${DIST} AS dist"));
    assert!(dockerfile.contains("FROM scratch AS prebuilt\nCOPY dist /dist"));
    assert_eq!(dockerfile.matches("FROM debian:bookworm-slim").count(), 1);
    let script = std::fs::read_to_string(common::repo().join(".ci/build-dist")).unwrap();
    // The image builds with the dist profile; CI lays dist/ out from its release build.
    assert!(!dockerfile.contains("WEIR_PROFILE"), "the image builds with the dist profile");
    for shipped in [
        "profile=\"${WEIR_PROFILE:-dist}\"",
        "cargo build --profile \"$profile\" -p weir-stream",
        "target/$profile/weir",
        "target/plugins/*.wasm",
        "schemas/*.json schemas/*.avsc",
        "weir.toml",
        "THIRD-PARTY-NOTICES",
    ] {
        assert!(script.contains(shipped), "{shipped}");
    }
    // The shipped weir.toml finds its plugins at the paths the image lays them out at.
    let config = weir_core::config::Config::load(&common::repo().join("weir.toml")).unwrap();
    for (key, stage) in config.stages() {
        assert!(stage.plugin.starts_with("target/plugins"), "{key}: {}", stage.plugin.display());
    }
    let run = std::fs::read_to_string(common::repo().join(".ci/run")).unwrap();
    assert!(run.contains(".ci/build-dist"), ".ci/run exercises the image build");
}
