//! The schema registry commands and `registry://` schemas, against the tests' registry
//! (`common::registry`, a small server following Confluent's documented REST API).

use crate::common;

use common::registry::{registry, registry_requiring};
use common::{cache_dir, login_config, plugin, repo};
use std::process::{Command, Output};

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env("WEIR_CACHE_DIR", cache_dir())
        .env_remove("WEIR_REGISTRY")
        .current_dir(repo())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn register_then_get_through_the_rest_api() {
    let (url, store) = registry();
    let out = weir(&["schema", "register", "--registry", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("as user-login-value (id 1, JSON)"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("as user-login-processed-production-value (id 2, JSON)"));
    {
        let store = store.lock().unwrap();
        let (_, schema, schema_type, _) = &store.subjects["user-login-value"][0];
        assert_eq!(schema_type, "JSON");
        let on_disk: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("schemas/user-login.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(schema).unwrap(), on_disk);
    }
    let out = weir(&["schema", "get", "user-login-processed-production-value", "--registry", &url]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("\"title\": \"processed user-login event\""),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("version 1 (id 2, JSON)"));
}

#[test]
fn a_stage_schema_can_come_from_the_registry() {
    let (url, _store) = registry();
    assert!(weir(&["schema", "register", "--registry", &url]).status.success());
    // A second, stricter version: only the latest applies unless pinned with @1.
    let strict = r#"{"type":"object","required":["nope"]}"#;
    weir::registry::Registry::new(&url).register("user-login-value", strict).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file_schema = repo().join("schemas/user-login.json").display().to_string();
    let config = |reference: &str| {
        let text = login_config(&plugin("readable-timestamp")).replacen(&file_schema, reference, 1);
        let path = dir.path().join(format!("weir-{}.toml", reference.len()));
        std::fs::write(&path, format!("{text}\n[registry]\nurl = \"{url}\"\n")).unwrap();
        path.display().to_string()
    };
    let sample = repo().join("samples/user-login.jsonl").display().to_string();
    let pinned = weir(&[
        "process",
        "--config",
        &config("registry://user-login-value@1"),
        "--input",
        &sample,
        "--dead-letter",
        "/dev/null",
    ]);
    assert!(pinned.status.success(), "{}", text(&pinned.stderr));
    let golden =
        std::fs::read_to_string(repo().join("host/tests/golden/process.out.jsonl")).unwrap();
    assert_eq!(text(&pinned.stdout), golden, "version 1 is the file's schema");
    let latest = weir(&[
        "process",
        "--config",
        &config("registry://user-login-value"),
        "--input",
        &sample,
        "--dead-letter",
        "/dev/null",
    ]);
    assert!(latest.status.success());
    assert_eq!(text(&latest.stdout), "", "the latest version rejects everything");

    let unknown = weir(&["check", "--config", &config("registry://no-such-value")]);
    assert!(!unknown.status.success());
    let err = text(&unknown.stderr);
    assert!(
        err.contains(&url)
            && err.contains("no subject `no-such-value`")
            && err.contains("validate.config.schema"),
        "{err}"
    );
}

/// A registry schema's Confluent `references` come with it; file `resources` sit beside it.
#[test]
fn a_registry_schema_brings_the_schemas_it_references() {
    use weir::registry::{Reference, Registry};
    let (url, _store) = registry();
    let registry = Registry::new(&url);
    registry.register("city-value", r#"{"type":"string","minLength":2}"#).unwrap();
    let address =
        r#"{"type":"object","required":["city"],"properties":{"city":{"$ref":"city.json"}}}"#;
    let city = Reference { name: "city.json".into(), subject: "city-value".into(), version: 1 };
    registry.register_with_references("address-value", "JSON", address, &[city]).unwrap();
    let order = r#"{"type":"object","required":["address","zip"],"properties":{"address":{"$ref":"address.json"},"zip":{"$ref":"http://example.com/zip.json"}}}"#;
    let address =
        Reference { name: "address.json".into(), subject: "address-value".into(), version: 1 };
    registry.register_with_references("order-value", "JSON", order, &[address]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    std::fs::write(
        dir.path().join("shared/zip.json"),
        r#"{"type":"string","pattern":"^[0-9]{5}$"}"#,
    )
    .unwrap();
    let config = format!(
        "[pipeline]\nbatch_size = 10\n[validate]\nplugin = \"{}\"\nconfig = {{ schema = \"registry://order-value\", \
         resources = {{ \"http://example.com/\" = \"shared/\" }} }}\n[registry]\nurl = \"{url}\"\n",
        plugin("json-schema-validator").display()
    );
    std::fs::write(dir.path().join("weir.toml"), config).unwrap();
    let input = dir.path().join("orders.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"address":{"city":"Oslo"},"zip":"01234"}"#,
            "\n",
            r#"{"address":{"city":"O"},"zip":"01234"}"#,
            "\n",
            r#"{"address":{},"zip":"1"}"#,
            "\n",
        ),
    )
    .unwrap();
    let dead = dir.path().join("dead.jsonl");
    let config = dir.path().join("weir.toml").display().to_string();
    let out = weir(&[
        "process",
        "--config",
        &config,
        "--input",
        input.to_str().unwrap(),
        "--dead-letter",
        dead.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\"address\":{\"city\":\"Oslo\"},\"zip\":\"01234\"}\n");
    let dead = std::fs::read_to_string(dead).unwrap();
    let paths: Vec<Vec<String>> = dead
        .lines()
        .map(|line| {
            let letter: serde_json::Value = serde_json::from_str(line).unwrap();
            let mut paths: Vec<String> = letter["violations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["path"].as_str().unwrap().to_string())
                .collect();
            paths.sort();
            paths
        })
        .collect();
    assert_eq!(
        paths,
        [vec!["/address/city".to_string()], vec!["/address".to_string(), "/zip".to_string()]],
        "{dead}"
    );
}

#[test]
fn an_unreachable_registry_is_named_with_the_subject() {
    let port = common::kafka::free_port();
    let out = weir(&[
        "schema",
        "get",
        "user-login-value",
        "--registry",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "cannot reach schema registry http://127.0.0.1:{port} for subject `user-login-value`"
        )),
        "{err}"
    );
}

/// The registry behind TLS (a CA of our own, given as `registry.ca`) with basic auth,
/// the password from the environment: good credentials register and fetch; bad ones are
/// a clear error; the password shows nowhere.
#[test]
fn an_https_registry_with_basic_auth() {
    use base64::Engine;
    const PASSWORD: &str = "registry-secret-93c1";
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("weir-key:{PASSWORD}"))
    );
    let (plain_url, _store) = registry_requiring(Some(expected));
    let dir = tempfile::tempdir().unwrap();
    let pki = common::tls::Pki::new(dir.path(), "ca");
    let (cert, key) = pki.issue("ca", "registry", "DNS:localhost");
    let tls_port = common::kafka::free_port();
    let plain_port: u16 = plain_url.rsplit(':').next().unwrap().parse().unwrap();
    let _terminator = common::tls::Terminator::start(tls_port, plain_port, &cert, &key, None);
    let url = format!("https://localhost:{tls_port}");
    // `schema register` finds the schemas next to the config.
    std::os::unix::fs::symlink(repo().join("schemas"), dir.path().join("schemas")).unwrap();
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, format!(
        "{}\n[registry]\nurl = \"{url}\"\nca = \"{}\"\nusername = \"weir-key\"\npassword_env = \"WEIR_TEST_REGISTRY_PASSWORD\"\n",
        common::absolute_weir_toml(), pki.ca("ca").display()
    )).unwrap();
    let config = config.to_str().unwrap();
    let run = |password: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .args(["--config", config])
            .env("WEIR_CACHE_DIR", cache_dir())
            .env("WEIR_TEST_REGISTRY_PASSWORD", password)
            .env_remove("WEIR_REGISTRY")
            .output()
            .unwrap()
    };
    let out = run(PASSWORD, &["schema", "register"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(PASSWORD, &["schema", "get", "user-login-value"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!format!("{}{}", text(&out.stdout), text(&out.stderr)).contains(PASSWORD));

    let out = run("wrong", &["schema", "get", "user-login-value"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("refused the credentials (HTTP 401)"),
        "{}",
        text(&out.stderr)
    );

    // Without the CA, the registry's certificate is not trusted.
    let untrusting = dir.path().join("untrusting.toml");
    std::fs::write(
        &untrusting,
        std::fs::read_to_string(config)
            .unwrap()
            .replace(&format!("ca = \"{}\"\n", pki.ca("ca").display()), ""),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["schema", "get", "user-login-value", "--config", untrusting.to_str().unwrap()])
        .env("WEIR_TEST_REGISTRY_PASSWORD", PASSWORD)
        .env_remove("WEIR_REGISTRY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot reach schema registry"), "{}", text(&out.stderr));
}

/// Basic-auth credentials never cross plain HTTP unless the config says so, and never sit
/// in the URL (where every error would echo them).
#[test]
fn registry_credentials_never_cross_plain_http_unasked() {
    use base64::Engine;
    const PASSWORD: &str = "registry-secret-plain-5d2e";
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("weir-key:{PASSWORD}"))
    );
    let (url, _store) = registry_requiring(Some(expected));
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, registry: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{}\n[registry]\n{registry}\nusername = \"weir-key\"\npassword_env = \"WEIR_TEST_REGISTRY_PASSWORD\"\n", common::absolute_weir_toml())).unwrap();
        path
    };
    let get = |config: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["schema", "get", "user-login-value", "--config", config.to_str().unwrap()])
            .env("WEIR_CACHE_DIR", cache_dir())
            .env("WEIR_TEST_REGISTRY_PASSWORD", PASSWORD)
            .env_remove("WEIR_REGISTRY")
            .output()
            .unwrap()
    };
    let out = get(&config("plain.toml", &format!("url = \"{url}\"")));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("refusing to send the registry's credentials over plain HTTP"),
        "{}",
        text(&out.stderr)
    );

    let in_url = url.replace("http://", &format!("http://weir-key:{PASSWORD}@"));
    let out = get(&config("in-url.toml", &format!("url = \"{in_url}\"\nallow_insecure = true")));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("carries credentials") && !text(&out.stderr).contains(PASSWORD),
        "{}",
        text(&out.stderr)
    );

    // Asked for: sent, and the registry answers (404: nothing registered yet, not 401).
    let out = get(&config("insecure.toml", &format!("url = \"{url}\"\nallow_insecure = true")));
    assert!(
        text(&out.stderr).contains("has no subject `user-login-value`"),
        "{}",
        text(&out.stderr)
    );
}

/// A schema's references are followed within bounds: whoever answers as the registry
/// cannot make weir fetch documents without end (here 300 referenced subjects).
#[test]
fn a_schema_pulling_in_too_many_references_is_refused() {
    use weir::registry::{Reference, Registry};
    let (url, _store) = registry();
    let registry = Registry::new(&url);
    let references: Vec<Reference> = (0..300)
        .map(|i| {
            registry.register(&format!("part-{i}"), r#"{"type":"string"}"#).unwrap();
            Reference { name: format!("part-{i}.json"), subject: format!("part-{i}"), version: 1 }
        })
        .collect();
    registry
        .register_with_references("whole-value", "JSON", r#"{"type":"object"}"#, &references)
        .unwrap();
    let err = format!("{:#}", registry.get_with_references("whole-value", None).unwrap_err());
    assert!(err.contains("more than 256 referenced schemas"), "{err}");
    // A handful is fine.
    registry
        .register_with_references("small-value", "JSON", r#"{"type":"object"}"#, &references[..5])
        .unwrap();
    assert_eq!(registry.get_with_references("small-value", None).unwrap().1.len(), 5);
}
