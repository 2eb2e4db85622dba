//! A schema registry for the tests: a small HTTP server that follows the Confluent Schema
//! Registry REST API as documented (no Confluent-compatible registry runs on these
//! machines: see the README) — what weir and Confluent's own Python client call.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One registered version: its global id, schema text, schemaType and references.
pub type Version = (i64, String, String, serde_json::Value);

/// Subject → versions; ids are global, from 1, and one schema keeps one id everywhere.
#[derive(Default)]
pub struct Store {
    pub subjects: std::collections::BTreeMap<String, Vec<Version>>,
    next_id: i64,
}

impl Store {
    /// The id an equal schema (same type, same JSON document) already has, if any.
    fn existing_id(&self, schema: &str, schema_type: &str) -> Option<i64> {
        let wanted = parsed(schema);
        self.subjects
            .values()
            .flatten()
            .find(|(_, s, t, _)| t == schema_type && parsed(s) == wanted)
            .map(|(id, ..)| *id)
    }

    fn by_id(&self, id: i64) -> Option<&Version> {
        self.subjects.values().flatten().find(|(i, ..)| *i == id)
    }
}

fn parsed(schema: &str) -> serde_json::Value {
    serde_json::from_str(schema).unwrap_or_else(|_| serde_json::Value::String(schema.to_string()))
}

/// Serves the registry API on a loopback port until the test process ends.
pub fn registry() -> (String, Arc<Mutex<Store>>) {
    registry_requiring(None)
}

/// The same, answering 401 unless a request carries `authorization` (basic auth).
pub fn registry_requiring(authorization: Option<String>) -> (String, Arc<Mutex<Store>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = Arc::new(Mutex::new(Store::default()));
    let shared = store.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let (mut length, mut authorized) = (0, authorization.is_none());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if let Some((name, value)) = line.split_once(':') {
                    authorized |= name.eq_ignore_ascii_case("authorization")
                        && Some(value.trim()) == authorization.as_deref();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap(), parts.next().unwrap().to_string());
            let path = target.split('?').next().unwrap();
            let decoded: Vec<String> = path
                .trim_matches('/')
                .split('/')
                .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
                .collect();
            let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
            let mut store = shared.lock().unwrap();
            let not_found = |code: i64, message: &str| {
                (404, serde_json::json!({ "error_code": code, "message": message }))
            };
            let (status, reply) = match (method, segments.as_slice()) {
                _ if !authorized => {
                    (401, serde_json::json!({ "error_code": 401, "message": "Unauthorized" }))
                }
                ("POST", ["subjects", subject, "versions"]) => {
                    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let schema_type = request["schemaType"].as_str().unwrap_or("AVRO").to_string();
                    let schema = request["schema"].as_str().unwrap().to_string();
                    let references =
                        request.get("references").cloned().unwrap_or(serde_json::json!([]));
                    let known = store.subjects.get(*subject).and_then(|v| {
                        v.iter()
                            .find(|(_, s, t, _)| *t == schema_type && parsed(s) == parsed(&schema))
                    });
                    let id = match known {
                        Some((id, ..)) => *id,
                        None => {
                            let id =
                                store.existing_id(&schema, &schema_type).unwrap_or_else(|| {
                                    store.next_id += 1;
                                    store.next_id
                                });
                            store.subjects.entry(subject.to_string()).or_default().push((
                                id,
                                schema,
                                schema_type,
                                references,
                            ));
                            id
                        }
                    };
                    (200, serde_json::json!({ "id": id }))
                }
                // Lookup: is this schema registered under the subject?
                ("POST", ["subjects", subject]) => {
                    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let schema_type = request["schemaType"].as_str().unwrap_or("AVRO");
                    let wanted = parsed(request["schema"].as_str().unwrap());
                    let versions = store.subjects.get(*subject);
                    let found = versions.and_then(|v| {
                        v.iter()
                            .enumerate()
                            .find(|(_, (_, s, t, _))| t == schema_type && parsed(s) == wanted)
                    });
                    match found {
                        Some((i, (id, schema, t, references))) => (
                            200,
                            serde_json::json!({
                                "subject": subject, "version": i + 1, "id": id, "schemaType": t, "schema": schema, "references": references,
                            }),
                        ),
                        None if versions.is_none() => not_found(40401, "Subject not found."),
                        None => not_found(40403, "Schema not found"),
                    }
                }
                ("GET", ["subjects", subject, "versions", version]) => {
                    let versions = store.subjects.get(*subject);
                    let index = match *version {
                        "latest" => versions.map(|v| v.len()),
                        n => n.parse::<usize>().ok(),
                    };
                    match versions
                        .zip(index)
                        .and_then(|(v, i)| v.get(i.wrapping_sub(1)).map(|x| (i, x)))
                    {
                        Some((i, (id, schema, schema_type, references))) => (
                            200,
                            serde_json::json!({
                                "subject": subject, "version": i, "id": id, "schemaType": schema_type, "schema": schema,
                                "references": references,
                            }),
                        ),
                        None => not_found(40401, "Subject not found."),
                    }
                }
                ("GET", ["schemas", "ids", id, "versions"]) => {
                    let id: i64 = id.parse().unwrap_or(-1);
                    let versions: Vec<serde_json::Value> = store
                        .subjects
                        .iter()
                        .flat_map(|(subject, versions)| {
                            versions.iter().enumerate().filter(|(_, v)| v.0 == id).map(move |(i, _)| serde_json::json!({ "subject": subject, "version": i + 1 }))
                        })
                        .collect();
                    match versions.is_empty() {
                        true => not_found(40403, "Schema not found"),
                        false => (200, serde_json::Value::Array(versions)),
                    }
                }
                ("GET", ["schemas", "ids", id]) => {
                    match id.parse().ok().and_then(|id| store.by_id(id)) {
                        Some((_, schema, schema_type, references)) => {
                            let mut reply =
                                serde_json::json!({ "schema": schema, "references": references });
                            // As Confluent's registry: no type for Avro, the default.
                            if schema_type != "AVRO" {
                                reply["schemaType"] = schema_type.clone().into();
                            }
                            (200, reply)
                        }
                        None => not_found(40403, "Schema not found"),
                    }
                }
                _ => {
                    eprintln!("test registry: no route for {method} {target}");
                    not_found(404, "HTTP 404 Not Found")
                }
            };
            let body = reply.to_string();
            let reason = match status {
                200 => "OK",
                401 => "Unauthorized",
                _ => "Not Found",
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, store)
}
