//! Topics in Confluent's wire format: records written by Confluent's own serializers
//! (Python confluent-kafka, pinned) go through the plugins as JSON, and what weir writes
//! is read back by Confluent's deserializers. Broken framing, unknown schema ids, Avro that
//! does not match and output that does not fit its schema are dead letters of kind
//! `format`, with the record's bytes as they came.

use crate::common;
use common::kafka::{
    header, key, produce_to, read_topic, run_ok, spawn, terminate, wait_for_topic, weir, Tansu,
};
use common::registry::registry;
use common::{plugin, repo};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use weir_core::format::{avro::AvroSchema, confluent_wire};

/// `weir` with the registry the config names (not one from the environment).
fn weir_here(brokers: &str, args: &[&str]) -> std::process::Command {
    let mut command = weir(brokers, args);
    command.env_remove("WEIR_REGISTRY");
    command
}

/// A valid login; `i` makes it unique.
fn login(i: usize) -> Value {
    let device_type = ["android", "iOS", "web"][i % 3];
    json!({
        "user_id": format!("user-{i}"), "app_version": "2.3.0", "device_type": device_type,
        "ip": format!("10.0.0.{i}"), "locale": "RU", "device_id": format!("device-{i}"), "timestamp": 1_730_244_200 + i as i64,
    })
}

/// A config reading `input` and writing `output` in `format`, validating with the JSON
/// Schema and adding the readable timestamp; `[schemas]` say what `schema register` registers.
fn config(
    dir: &Path,
    registry: &str,
    format: &str,
    input_schema: &Path,
    output_schema: &Path,
) -> std::path::PathBuf {
    let text = format!(
        r#"
[kafka]
input_topic = "logins"
output_topic = "logins-processed"
dead_letter_topic = "logins-dead-letter"
parked_topic = "logins-parked"
partitions = 1

[pipeline]
batch_size = 10

[validate]
plugin = "{validator}"
config = {{ schema = "{schema}" }}

[transform]
plugin = "{transform}"

[topics."logins"]
format = "{format}"

[topics."logins-processed"]
format = "{format}"

[schemas]
input = "{input_schema}"
output = "{output_schema}"

[registry]
url = "{registry}"
"#,
        validator = plugin("json-schema-validator").display(),
        schema = repo().join("schemas/user-login.json").display(),
        transform = plugin("readable-timestamp").display(),
        input_schema = input_schema.display(),
        output_schema = output_schema.display(),
    );
    let path = dir.join("weir.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Produces `records` (key → value) with Confluent's serializer of `kind`, the schema
/// looked up in the registry as a producer in a shop with a registry does.
fn produce_with_confluent(
    kind: &str,
    brokers: &str,
    registry: &str,
    topic: &str,
    schema: &Path,
    records: &[(String, Value)],
) {
    let mut child = common::tools::confluent_serde()
        .args(["produce", kind, brokers, registry, topic])
        .arg(schema)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for (key, value) in records {
        writeln!(stdin, "{}", json!({ "key": key, "value": value })).unwrap();
    }
    drop(stdin);
    let child = common::kafka::Guarded::new(child);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "confluent-kafka's {kind} producer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `count` records of `topic` as Confluent's deserializer of `kind` reads them: key →
/// the value (or the deserializer's error) and the schema id they were framed with.
fn consume_with_confluent(
    kind: &str,
    brokers: &str,
    registry: &str,
    topic: &str,
    count: usize,
    schema: Option<&Path>,
) -> BTreeMap<String, Value> {
    let mut command = common::tools::confluent_serde();
    command.args(["consume", kind, brokers, registry, topic, &count.to_string()]);
    if let Some(schema) = schema {
        command.arg(schema);
    }
    let child = common::kafka::Guarded::new(
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(),
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "confluent-kafka's {kind} consumer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line).unwrap();
            (record["key"].as_str().unwrap().to_string(), record)
        })
        .collect()
}

/// The latest id of `subject` in the tests' registry.
fn id_of(store: &std::sync::Mutex<common::registry::Store>, subject: &str) -> u32 {
    store.lock().unwrap().subjects[subject].last().unwrap().0 as u32
}

#[test]
fn avro_from_confluents_serializer_goes_through_the_plugins_and_back_to_confluents_deserializer() {
    let tansu = Tansu::start();
    let (url, store) = registry();
    let dir = tempfile::tempdir().unwrap();
    // The output schema allows three device types: a fourth is a record that does not fit.
    let processed: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/user-login-processed.avsc")).unwrap(),
    )
    .unwrap();
    let mut strict = processed.clone();
    strict["fields"][2]["type"] =
        json!({ "type": "enum", "name": "DeviceType", "symbols": ["android", "iOS", "web"] });
    let output_schema = dir.path().join("processed-strict.avsc");
    std::fs::write(&output_schema, strict.to_string()).unwrap();
    let input_schema = repo().join("schemas/user-login.avsc");
    let config = config(dir.path(), &url, "avro", &input_schema, &output_schema);
    let brokers = &tansu.brokers;
    let registered =
        run_ok(weir_here(brokers, &["schema", "register", "--config", config.to_str().unwrap()]));
    assert!(
        String::from_utf8_lossy(&registered.stdout).contains("as logins-value (id 1, AVRO)"),
        "{registered:?}"
    );
    run_ok(weir(brokers, &["topics", "create", "--config", config.to_str().unwrap()]));

    // 20 good records, one the JSON Schema refuses (an empty locale) and one whose device
    // type the output schema has no symbol for: all written by AvroSerializer.
    let mut records: Vec<(String, Value)> =
        (0..20).map(|i| (format!("good-{i}"), login(i))).collect();
    let mut empty_locale = login(20);
    empty_locale["locale"] = json!("");
    records.push(("empty-locale".into(), empty_locale));
    let mut fridge = login(21);
    fridge["device_type"] = json!("smart-fridge");
    records.push(("fridge".into(), fridge));
    produce_with_confluent("avro", brokers, &url, "logins", &input_schema, &records);

    // And four records no Avro deserializer could read.
    let input_id = id_of(&store, "logins-value");
    let datum = AvroSchema::parse(&std::fs::read_to_string(&input_schema).unwrap())
        .unwrap()
        .encode(login(30).to_string().as_bytes())
        .unwrap();
    let broken: Vec<(String, Vec<u8>)> = vec![
        ("plain-json".into(), login(31).to_string().into_bytes()),
        ("unknown-id".into(), confluent_wire::prefix(9999, &datum)),
        ("truncated-framing".into(), vec![0, 0, 0]),
        (
            "not-the-writers-avro".into(),
            confluent_wire::prefix(input_id, &datum[..datum.len() - 3]),
        ),
    ];
    produce_to(brokers, "logins", broken.clone().into_iter());

    let run = spawn(weir_here(brokers, &["run", "--config", config.to_str().unwrap()]));
    let dead =
        wait_for_topic(brokers, "logins-dead-letter", Duration::from_secs(120), |r| r.len() >= 6);
    let output_id = id_of(&store, "logins-processed-value");
    let out = consume_with_confluent("avro", brokers, &url, "logins-processed", 20, None);
    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));

    // The display consumer decodes the topics too: the output by its `[topics]` entry, the
    // dead letters (the input's bytes) with --format.
    let tail = |args: &[&str]| {
        let mut all = vec![
            "tail",
            "--config",
            config.to_str().unwrap(),
            "--from-beginning",
            "--idle-exit",
            "3s",
        ];
        all.extend(args);
        String::from_utf8(run_ok(weir_here(brokers, &all)).stdout).unwrap()
    };
    let shown = tail(&["--topic", "logins-processed", "--count", "20"]);
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("{\"user_id\":\"user-")).count(),
        20,
        "{shown}"
    );
    let shown = tail(&["--topic", "logins-dead-letter", "--count", "6", "--format", "avro"]);
    assert!(
        shown.contains("\"device_type\":\"smart-fridge\"") && shown.contains("\"locale\":\"\""),
        "{shown}"
    );
    assert_eq!(shown.matches("UNREADABLE").count(), 4, "{shown}");

    // Every good record, read by AvroDeserializer, with the readable timestamp.
    let expected: Vec<String> = (0..20).map(|i| format!("good-{i}")).collect();
    assert_eq!(
        out.keys().cloned().collect::<std::collections::BTreeSet<_>>(),
        expected.iter().cloned().collect()
    );
    for (i, key) in expected.iter().enumerate() {
        let record = &out[key];
        assert!(record.get("error").is_none(), "{key}: {record}");
        assert_eq!(record["schema_id"], output_id, "framed with the output subject's id");
        let mut want = login(i);
        want["timestamp"] = json!(weir_timestamp(1_730_244_200 + i as i64));
        assert_eq!(record["value"], want, "{key}");
    }
    assert_eq!(
        read_topic(brokers, "logins-processed", Duration::from_secs(1)).len(),
        20,
        "nothing else on the output"
    );

    // The six dead letters: their bytes as they came, and why.
    let produced: BTreeMap<String, Vec<u8>> = broken.into_iter().collect();
    let dead: BTreeMap<String, _> = dead.iter().map(|m| (key(m), m)).collect();
    assert_eq!(dead.len(), 6, "{:?}", dead.keys());
    let why = |k: &str| {
        (
            header(dead[k], "weir.error.kind").unwrap(),
            header(dead[k], "weir.error.reasons").unwrap(),
        )
    };
    for (k, reason) in [
        ("plain-json", "not Confluent-framed"),
        ("unknown-id", "schema id 9999 is not in the registry"),
        ("truncated-framing", "truncated Confluent framing"),
        ("not-the-writers-avro", "does not match its writer's schema"),
    ] {
        let (kind, reasons) = why(k);
        assert_eq!(kind, "format", "{k}: {reasons}");
        assert!(reasons.contains(reason), "{k}: {reasons}");
        assert_eq!(dead[k].value, produced[k], "{k}: the bytes as they came");
        assert_eq!(header(dead[k], "weir.error.stage").as_deref(), Some("format"));
    }
    let (kind, reasons) = why("fridge");
    assert_eq!(kind, "format");
    assert!(reasons.contains("/device_type: expected one of android, iOS, web"), "{reasons}");
    let (kind, reasons) = why("empty-locale");
    assert_eq!(kind, "violation", "{reasons}");
    // A refused Avro record is kept as Avro, framed with the id it was written with.
    for k in ["fridge", "empty-locale"] {
        let (id, _) = confluent_wire::split(&dead[k].value).unwrap();
        assert_eq!(id, input_id, "{k}");
    }
}

/// readable-timestamp's format: `YYYY-MM-DD HH:MM:SS`, UTC.
fn weir_timestamp(epoch: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{epoch}"), "+%Y-%m-%d %H:%M:%S"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn confluent_json_from_confluents_serializer_is_read_back_by_confluents_deserializer() {
    let tansu = Tansu::start();
    let (url, store) = registry();
    let dir = tempfile::tempdir().unwrap();
    let input_schema = repo().join("schemas/user-login.json");
    let output_schema = repo().join("schemas/user-login-processed.json");
    let config = config(dir.path(), &url, "confluent-json", &input_schema, &output_schema);
    let brokers = &tansu.brokers;
    run_ok(weir_here(brokers, &["schema", "register", "--config", config.to_str().unwrap()]));
    run_ok(weir(brokers, &["topics", "create", "--config", config.to_str().unwrap()]));
    let records: Vec<(String, Value)> = (0..10).map(|i| (format!("good-{i}"), login(i))).collect();
    produce_with_confluent("json", brokers, &url, "logins", &input_schema, &records);
    // Plain JSON on a framed topic, and an Avro schema's id on a JSON topic (registered
    // under the topic's subject: an id of another subject is refused for that first).
    let json_id = id_of(&store, "logins-value");
    let avro = weir::registry::Registry::new(&url)
        .register_with_references(
            "logins-value",
            "AVRO",
            &std::fs::read_to_string(repo().join("schemas/user-login.avsc")).unwrap(),
            &[],
        )
        .unwrap() as u32;
    assert_ne!(avro, json_id);
    produce_to(
        brokers,
        "logins",
        vec![
            ("plain-json".to_string(), login(11).to_string().into_bytes()),
            ("avro-id".to_string(), confluent_wire::prefix(avro, login(12).to_string().as_bytes())),
        ]
        .into_iter(),
    );

    let run = spawn(weir_here(brokers, &["run", "--config", config.to_str().unwrap()]));
    let dead =
        wait_for_topic(brokers, "logins-dead-letter", Duration::from_secs(120), |r| r.len() >= 2);
    // JSONDeserializer with the output JSON Schema: it validates every record it reads.
    let out =
        consume_with_confluent("json", brokers, &url, "logins-processed", 10, Some(&output_schema));
    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));

    let output_id = id_of(&store, "logins-processed-value");
    assert_eq!(out.len(), 10);
    for (i, (key, record)) in records.iter().map(|(k, _)| (k, &out[k])).enumerate() {
        assert!(record.get("error").is_none(), "{key}: {record}");
        assert_eq!(record["schema_id"], output_id);
        assert_eq!(record["value"]["user_id"], format!("user-{i}"));
        assert_eq!(record["value"]["timestamp"], weir_timestamp(1_730_244_200 + i as i64));
    }
    let reasons: BTreeMap<String, (String, String)> = dead
        .iter()
        .map(|m| {
            (
                key(m),
                (header(m, "weir.error.kind").unwrap(), header(m, "weir.error.reasons").unwrap()),
            )
        })
        .collect();
    assert_eq!(reasons["plain-json"].0, "format");
    assert!(reasons["plain-json"].1.contains("plain JSON"), "{:?}", reasons);
    assert_eq!(reasons["avro-id"].0, "format");
    assert!(reasons["avro-id"].1.contains("written with a AVRO schema"), "{:?}", reasons);
}

/// `schema = "registry://by-id"`: each Confluent-framed JSON record is validated against
/// the schema its producer wrote it with. The subject has two versions (the second
/// requires `country`): records of both pass, each by its own version — a validator with
/// the latest alone would refuse the first version's — a record framed with the second
/// version but lacking `country` is a violation, and one framed with an id whose schema
/// cannot validate is a `format` dead letter naming the id. A record framed with a
/// permissive schema of another subject (`{}`: would pass anything) is a `format` dead
/// letter too: ids are accepted only under the topic's subject. Without a framed input, the
/// config is refused before any record; `weir plugin test` says it needs a named schema.
#[test]
fn confluent_json_is_validated_against_each_records_writers_schema() {
    let tansu = Tansu::start();
    let (url, store) = registry();
    let dir = tempfile::tempdir().unwrap();
    let v1 = repo().join("schemas/user-login.json");
    let output_schema = repo().join("schemas/user-login-processed.json");
    let config = config(dir.path(), &url, "confluent-json", &v1, &output_schema);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&format!("schema = \"{}\"", v1.display()), "schema = \"registry://by-id\"");
    std::fs::write(&config, &text).unwrap();
    let brokers = &tansu.brokers;
    run_ok(weir_here(brokers, &["schema", "register", "--config", config.to_str().unwrap()]));
    run_ok(weir(brokers, &["topics", "create", "--config", config.to_str().unwrap()]));
    let v1_id = id_of(&store, "logins-value");
    let mut with_country: Value =
        serde_json::from_str(&std::fs::read_to_string(&v1).unwrap()).unwrap();
    with_country["$id"] = json!("https://github.com/weir/schemas/user-login-v2.json");
    with_country["required"].as_array_mut().unwrap().push(json!("country"));
    with_country["properties"]["country"] = json!({ "type": "string", "minLength": 2 });
    let v2 = dir.path().join("user-login-v2.json");
    std::fs::write(&v2, with_country.to_string()).unwrap();
    let registry = weir::registry::Registry::new(&url);
    let v2_id = registry
        .register_with_references("logins-value", "JSON", &with_country.to_string(), &[])
        .unwrap() as u32;
    let unusable = registry
        .register_with_references("logins-value", "JSON", r#"{"type": 12}"#, &[])
        .unwrap() as u32;
    let foreign =
        registry.register_with_references("anything-value", "JSON", "{}", &[]).unwrap() as u32;
    assert!(v1_id != v2_id && v2_id != unusable && unusable != foreign);

    let first: Vec<(String, Value)> = (0..3).map(|i| (format!("v1-{i}"), login(i))).collect();
    let second: Vec<(String, Value)> = (3..6)
        .map(|i| {
            let mut value = login(i);
            value["country"] = json!("DE");
            (format!("v2-{i}"), value)
        })
        .collect();
    produce_with_confluent("json", brokers, &url, "logins", &v1, &first);
    produce_with_confluent("json", brokers, &url, "logins", &v2, &second);
    let framed = |id: u32, value: &Value| confluent_wire::prefix(id, value.to_string().as_bytes());
    let records = [
        ("v2-no-country", framed(v2_id, &login(6))),
        ("unusable", framed(unusable, &login(7))),
        ("foreign", framed(foreign, &json!({"no": "login"}))),
    ];
    produce_to(brokers, "logins", records.into_iter().map(|(k, v)| (k.to_string(), v)));

    let run = spawn(weir_here(brokers, &["run", "--config", config.to_str().unwrap()]));
    let dead =
        wait_for_topic(brokers, "logins-dead-letter", Duration::from_secs(120), |r| r.len() >= 3);
    let out =
        wait_for_topic(brokers, "logins-processed", Duration::from_secs(60), |r| r.len() >= 6);
    let stopped = terminate(run);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));

    let processed: std::collections::BTreeSet<String> = out.iter().map(key).collect();
    let expected: std::collections::BTreeSet<String> =
        first.iter().chain(&second).map(|(k, _)| k.clone()).collect();
    assert_eq!(processed, expected, "each version's records pass by their own schema");
    let reasons: BTreeMap<String, (String, String)> = dead
        .iter()
        .map(|m| {
            (
                key(m),
                (header(m, "weir.error.kind").unwrap(), header(m, "weir.error.reasons").unwrap()),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons["foreign"].0, "format");
    assert!(
        reasons["foreign"].1.contains("not under the topic's subject `logins-value`"),
        "{reasons:?}"
    );
    assert_eq!(reasons["v2-no-country"].0, "violation");
    assert!(reasons["v2-no-country"].1.contains("country"), "{reasons:?}");
    assert_eq!(reasons["unusable"].0, "format");
    assert!(
        reasons["unusable"].1.contains(&format!("schema (id {unusable}) cannot validate")),
        "{reasons:?}"
    );

    // Without Confluent-framed input there is no writer's schema: refused at start.
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, text.replace("format = \"confluent-json\"", "format = \"json\""))
        .unwrap();
    let out = weir_here(brokers, &["check", "--config", plain.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("validate.config.schema") && err.contains("confluent-json"), "{err}");
    let stage = dir.path().join("stage.toml");
    std::fs::write(&stage, "schema = \"registry://by-id\"\n").unwrap();
    let sample = repo().join("samples/user-login.jsonl");
    let validator = plugin("json-schema-validator");
    let out = weir_here(
        brokers,
        &[
            "plugin",
            "test",
            validator.to_str().unwrap(),
            "--input",
            sample.to_str().unwrap(),
            "--config",
            stage.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("registry://SUBJECT"), "{err}");
}

/// An output subject that is not registered stops weir before any record, naming it;
/// files (`weir process`) are JSON and need no registry.
#[test]
fn a_missing_output_subject_is_an_error_before_any_record() {
    let (url, _store) = registry();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &url,
        "avro",
        &repo().join("schemas/user-login.avsc"),
        &repo().join("schemas/user-login-processed.avsc"),
    );
    let out = weir_here("127.0.0.1:1", &["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("subject `logins-processed-value`") && err.contains("weir schema register"),
        "{err}"
    );
    // Files are JSON lines whatever the topics' formats: `weir process` needs no registry.
    let sample = repo().join("samples/user-login.jsonl");
    let out = weir_here(
        "127.0.0.1:1",
        &[
            "process",
            "--config",
            config.to_str().unwrap(),
            "--input",
            sample.to_str().unwrap(),
            "--dead-letter",
            "/dev/null",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).lines().all(|l| l.starts_with('{')), "JSON out");
}

/// With an Avro input, `weir repair` reads dead letters as Avro, repairs the JSON and writes
/// the repaired record back as Avro (framed with the input subject's id); a dead letter that
/// is not Avro at all is parked, saying so.
#[test]
fn an_avro_dead_letter_is_repaired_back_into_avro_and_through_the_pipeline() {
    let tansu = Tansu::start();
    let (url, _store) = registry();
    let dir = tempfile::tempdir().unwrap();
    // Producers that sometimes send the timestamp as text: the JSON Schema wants an
    // integer (a dead letter), the repairer turns numeric text into a number.
    let mut loose: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas/user-login.avsc")).unwrap(),
    )
    .unwrap();
    loose["fields"][6]["type"] = json!(["long", "string"]);
    let input_schema = dir.path().join("user-login-loose.avsc");
    std::fs::write(&input_schema, loose.to_string()).unwrap();
    let config = config(
        dir.path(),
        &url,
        "avro",
        &input_schema,
        &repo().join("schemas/user-login-processed.avsc"),
    );
    let repair = format!(
        "\n[repair]\nplugin = \"{}\"\nconfig = {{ schema = \"{}\", defaults = {{ device_type = \"unknown\" }} }}\n",
        plugin("dead-letter-repair").display(),
        repo().join("schemas/user-login.json").display()
    );
    std::fs::write(&config, std::fs::read_to_string(&config).unwrap() + &repair).unwrap();
    let brokers = &tansu.brokers;
    let path = config.to_str().unwrap();
    run_ok(weir_here(brokers, &["schema", "register", "--config", path]));
    run_ok(weir_here(brokers, &["topics", "create", "--config", path]));

    let mut records: Vec<(String, Value)> =
        (0..5).map(|i| (format!("good-{i}"), login(i))).collect();
    let mut text_time = login(5);
    text_time["timestamp"] = json!("1730244299");
    records.push(("text-time".into(), text_time));
    produce_with_confluent("avro", brokers, &url, "logins", &input_schema, &records);
    produce_to(
        brokers,
        "logins",
        std::iter::once(("plain-json".to_string(), login(6).to_string())),
    );

    let run = spawn(weir_here(brokers, &["run", "--config", path]));
    let repairer = spawn(weir_here(brokers, &["repair", "--config", path]));
    let parked =
        wait_for_topic(brokers, "logins-parked", Duration::from_secs(120), |r| !r.is_empty());
    let out = consume_with_confluent("avro", brokers, &url, "logins-processed", 6, None);
    for child in [run, repairer] {
        let stopped = terminate(child);
        assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    }

    assert_eq!(out.len(), 6, "{out:?}");
    let repaired = &out["text-time"];
    assert!(repaired.get("error").is_none(), "{repaired}");
    assert_eq!(
        repaired["value"]["timestamp"],
        weir_timestamp(1_730_244_299),
        "repaired, back through the pipeline"
    );
    assert_eq!(parked.len(), 1);
    assert_eq!(key(&parked[0]), "plain-json");
    let reason = header(&parked[0], "weir.park.reason").unwrap_or_default();
    assert!(
        reason.contains("not in the input's format") && reason.contains("not Confluent-framed"),
        "{reason}"
    );
}

/// `registry://by-id` starts a validator per writer's schema, and the producer names the
/// ids: ids rotating past what is kept must not start a validator per record and batch.
/// Kept: as many as 256 MiB of memory limits hold (here 128 MiB each: 2), least recently
/// used first; started: 16 at once, then one a second. Records beyond are `format` dead
/// letters saying so; none is lost, and the ids that stay within the bound keep passing.
#[test]
fn writers_schemas_rotating_past_the_kept_validators_are_bounded() {
    let (url, _store) = registry();
    let dir = tempfile::tempdir().unwrap();
    let v1 = repo().join("schemas/user-login.json");
    let path = config(
        dir.path(),
        &url,
        "confluent-json",
        &v1,
        &repo().join("schemas/user-login-processed.json"),
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&format!("schema = \"{}\"", v1.display()), "schema = \"registry://by-id\"");
    let text = text.replace("[transform]", "[validate.limits]\nmemory_mib = 128\n\n[transform]");
    let registry = weir::registry::Registry::new(&url);
    // 40 versions of the input's schema, each its own id.
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(&v1).unwrap()).unwrap();
    let ids: Vec<u32> = (0..40)
        .map(|i| {
            let mut version = schema.clone();
            version["title"] = json!(format!("version {i}"));
            registry
                .register_with_references("logins-value", "JSON", &version.to_string(), &[])
                .unwrap() as u32
        })
        .collect();
    registry
        .register_with_references(
            "logins-processed-value",
            "JSON",
            &std::fs::read_to_string(repo().join("schemas/user-login-processed.json")).unwrap(),
            &[],
        )
        .unwrap();
    let config = weir_core::config::Config::parse(&text, &path).unwrap();
    let mut pipeline = weir_core::pipeline::Pipeline::from_config(
        &common::runtime(),
        &config,
        &weir::resolve::Resolver,
    )
    .unwrap();
    let batch = |ids: &[u32]| -> Vec<weir_core::record::Record> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| {
                let mut m = common::message("");
                m.topic = "logins".into();
                m.value = confluent_wire::prefix(*id, login(i).to_string().as_bytes());
                m
            })
            .collect()
    };
    let refused = |outcomes: &[weir_core::pipeline::Outcome]| -> Vec<String> {
        outcomes
            .iter()
            .filter_map(|o| match o {
                weir_core::pipeline::Outcome::DeadLetter(_, rejection) => Some(rejection.summary()),
                _ => None,
            })
            .collect()
    };
    // 40 ids in 4 batches: 16 start, the rest are refused (the bucket refills one a second).
    let mut said = Vec::new();
    let started = std::time::Instant::now();
    for chunk in ids.chunks(10) {
        let outcomes = pipeline.process(batch(chunk));
        assert_eq!(outcomes.len(), chunk.len(), "one outcome per record");
        said.extend(refused(&outcomes));
    }
    let rotating =
        said.iter().filter(|s| s.contains("rotate faster than weir starts validators")).count();
    assert!(said.iter().all(|s| s.contains("rotate faster")), "only the bound refuses: {said:?}");
    // However slow the machine: at most 16 starts, and one more per second it took.
    let refills = started.elapsed().as_secs() as usize + 1;
    assert!(
        rotating <= 40 - 16 && rotating + refills >= 40 - 16,
        "16 started at once, then one a second: {rotating} of 40 refused in {:?}",
        started.elapsed()
    );
    // Two ids in turn stay within the two kept: once started (a start a second), they
    // pass batch after batch with no start at all.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !refused(&pipeline.process(batch(&[ids[0], ids[1]]))).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no validators started again within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..20 {
        let outcomes = pipeline.process(batch(&[ids[1], ids[0], ids[0], ids[1]]));
        assert_eq!(refused(&outcomes), Vec::<String>::new(), "the two in use are kept");
    }
}

/// A table's topic in Avro (`[topics."profiles"] format = "avro"`), written by Confluent's
/// serializer: the table holds each profile as the JSON plugins see, later records winning;
/// a record that is not Avro is left out (its key keeps its value). Without a registry, a
/// formatted table topic is a config error naming the key, before anything is read.
#[test]
fn an_avro_table_topic_is_kept_as_the_json_plugins_read() {
    let tansu = Tansu::start();
    let (url, _store) = registry();
    let brokers = &tansu.brokers;
    let dir = tempfile::tempdir().unwrap();
    let schema = json!({"type": "record", "name": "Profile", "fields": [
        {"name": "country", "type": "string"}, {"name": "plan", "type": "string"}]});
    let schema_file = dir.path().join("profile.avsc");
    std::fs::write(&schema_file, schema.to_string()).unwrap();
    ureq::post(&format!("{url}/subjects/profiles-value/versions"))
        .send_json(json!({"schema": schema.to_string(), "schemaType": "AVRO"}))
        .unwrap();
    let profile = |country: &str, plan: &str| json!({"country": country, "plan": plan});
    let records = [
        ("u1".to_string(), profile("NL", "free")),
        ("u2".to_string(), profile("FR", "pro")),
        ("u1".to_string(), profile("BR", "enterprise")),
    ];
    produce_with_confluent("avro", brokers, &url, "profiles", &schema_file, &records);
    produce_to(brokers, "profiles", [("u2".to_string(), r#"{"plan":"not avro"}"#)].into_iter());
    let text = format!(
        "[tables.user-profiles]\ntopic = \"profiles\"\n\n[topics.\"profiles\"]\nformat = \"avro\"\n\n[registry]\nurl = \"{url}\"\n"
    );
    let config = dir.path().join("weir.toml");
    std::fs::write(&config, &text).unwrap();
    let parsed = weir_core::config::Config::load(&config).unwrap();
    let tables = parsed.declared_tables();
    let client = weir_kafka::client_config(brokers, &Default::default());
    let resolve = &weir::resolve::Resolver;
    let feeds = weir_kafka::table_feed::start(&client, &parsed, &tables, resolve, None).unwrap();
    let table = tables.get("user-profiles").unwrap();
    let held = |key: &str| -> Value {
        serde_json::from_slice(&table.get(key.as_bytes()).unwrap().expect(key)).unwrap()
    };
    assert_eq!((held("u1"), held("u2")), (profile("BR", "enterprise"), profile("FR", "pro")));
    assert_eq!(table.len(), 2);
    drop(feeds);

    let without = dir.path().join("without.toml");
    std::fs::write(&without, text.replace(&format!("[registry]\nurl = \"{url}\"\n"), "")).unwrap();
    let parsed = weir_core::config::Config::load(&without).unwrap();
    let refused = weir_kafka::table_feed::start(&client, &parsed, &tables, resolve, None)
        .err()
        .expect("no registry to read the schemas from");
    assert!(format!("{refused:#}").contains("registry.url"), "{refused:#}");
}
