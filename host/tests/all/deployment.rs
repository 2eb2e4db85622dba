//! docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs
//! here): the compose file's services, images, health checks and start order, and the
//! image's build script. `.ci/run` also runs Debian's `docker-compose config` on it (where installed) and
//! smoke-tests the image layout built by `.ci/build-dist`.

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
                .map(|(k, v)| (k.as_str().unwrap().to_string(), v["condition"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_names_every_service_in_start_order() {
    let c = compose();
    let services = &c["services"];
    let names: Vec<&str> = services.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, ["kafka", "schema-registry", "topics", "schemas", "generator", "pipeline", "repair"]);

    let kafka = &services["kafka"];
    assert!(kafka["image"].as_str().unwrap().starts_with("apache/kafka:"));
    assert_eq!(kafka["environment"]["KAFKA_PROCESS_ROLES"], "broker,controller", "KRaft, one node");
    assert!(kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].as_str().unwrap().contains("HOST://localhost:9092"));
    assert!(kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].as_str().unwrap().contains("INTERNAL://kafka:29092"));
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
    assert_eq!(depends(&services["schemas"]), [("schema-registry".into(), "service_healthy".into())]);
    let after_topics = ("topics".to_string(), "service_completed_successfully".to_string());
    for weir in ["generator", "pipeline", "repair"] {
        assert!(depends(&services[weir]).contains(&after_topics), "{weir} waits for the topics");
    }
    assert!(depends(&services["pipeline"]).contains(&("schemas".into(), "service_completed_successfully".into())));
}

#[test]
fn the_image_is_built_by_the_script_ci_runs_and_ships_what_weir_needs() {
    let dockerfile = std::fs::read_to_string(common::repo().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("RUN .ci/build-dist /dist"), "the image runs the script CI exercises");
    assert!(dockerfile.contains("COPY --from=build /dist /opt/weir"));
    let script = std::fs::read_to_string(common::repo().join(".ci/build-dist")).unwrap();
    for shipped in ["target/release/weir", "target/plugins/*.wasm", "schemas/*.json", "weir.toml"] {
        assert!(script.contains(shipped), "{shipped}");
    }
    // The shipped weir.toml finds its plugins at the paths the image lays them out at.
    let config = weir::config::Config::load(&common::repo().join("weir.toml")).unwrap();
    for (key, stage) in config.stages() {
        assert!(stage.plugin.starts_with("target/plugins"), "{key}: {}", stage.plugin.display());
    }
    let run = std::fs::read_to_string(common::repo().join(".ci/run")).unwrap();
    assert!(run.contains(".ci/build-dist"), ".ci/run exercises the image build");
}
