//! A Confluent-compatible schema registry: register weir's JSON Schemas, fetch them back,
//! and resolve `registry://SUBJECT[@VERSION]` schema references in stage configs.
//!
//! Speaks the documented REST API (`/subjects/{subject}/versions`), plain HTTP.

use serde::Deserialize;
use std::time::Duration;

pub const SCHEME: &str = "registry://";
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub struct Registry {
    url: String,
    agent: ureq::Agent,
}

/// One version of a subject, as the registry returns it.
#[derive(Debug, Deserialize)]
pub struct SchemaVersion {
    pub subject: String,
    pub version: i64,
    pub id: i64,
    #[serde(default, rename = "schemaType")]
    pub schema_type: Option<String>,
    /// The schema document, as text.
    pub schema: String,
}

impl Registry {
    pub fn new(url: &str) -> Registry {
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
        Registry { url: url.trim_end_matches('/').to_string(), agent }
    }

    /// Registers `schema` (JSON text) under `subject`; returns the registry's schema id.
    pub fn register(&self, subject: &str, schema: &str) -> anyhow::Result<i64> {
        #[derive(Deserialize)]
        struct Registered {
            id: i64,
        }
        let body = serde_json::json!({ "schemaType": "JSON", "schema": schema });
        let url = format!("{}/subjects/{subject}/versions", self.url);
        let response = self
            .agent
            .post(&url)
            .set("Content-Type", CONTENT_TYPE)
            .send_json(body)
            .map_err(|e| self.error(subject, e))?;
        Ok(response.into_json::<Registered>()?.id)
    }

    /// The latest version of `subject`, or `version`.
    pub fn get(&self, subject: &str, version: Option<u32>) -> anyhow::Result<SchemaVersion> {
        let version = version.map(|v| v.to_string()).unwrap_or_else(|| "latest".into());
        let url = format!("{}/subjects/{subject}/versions/{version}", self.url);
        let response = self.agent.get(&url).call().map_err(|e| self.error(subject, e))?;
        Ok(response.into_json()?)
    }

    fn error(&self, subject: &str, error: ureq::Error) -> anyhow::Error {
        match error {
            ureq::Error::Status(404, response) => anyhow::anyhow!(
                "schema registry {} has no subject `{subject}` (or no such version): {}. \
                 Register it with `weir schema register --registry {}`",
                self.url,
                response.into_string().unwrap_or_default(),
                self.url
            ),
            ureq::Error::Status(code, response) => anyhow::anyhow!(
                "schema registry {} refused subject `{subject}` (HTTP {code}): {}",
                self.url,
                response.into_string().unwrap_or_default()
            ),
            ureq::Error::Transport(t) => anyhow::anyhow!(
                "cannot reach schema registry {} for subject `{subject}`: {t}. \
                 Is it running? Set the address with --registry or `registry.url` in weir.toml",
                self.url
            ),
        }
    }
}

/// `registry://user-login-value@3` → (`user-login-value`, Some(3)).
pub fn parse_reference(reference: &str) -> Option<Result<(String, Option<u32>), String>> {
    let rest = reference.strip_prefix(SCHEME)?;
    Some(match rest.split_once('@') {
        None if !rest.is_empty() => Ok((rest.to_string(), None)),
        Some((subject, version)) if !subject.is_empty() => version
            .parse()
            .map(|v| (subject.to_string(), Some(v)))
            .map_err(|_| format!("`{reference}`: the version after @ must be a number")),
        _ => Err(format!("`{reference}` names no subject; write registry://SUBJECT or registry://SUBJECT@VERSION")),
    })
}

/// The subject weir registers a schema file under: Confluent's TopicNameStrategy.
pub fn subjects(config: &crate::config::Config) -> Vec<(String, &'static str)> {
    vec![
        (format!("{}-value", config.kafka.input_topic), "schemas/user-login.json"),
        (format!("{}-value", config.kafka.output_topic), "schemas/user-login-processed.json"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_and_without_version() {
        assert_eq!(parse_reference("registry://user-login-value"), Some(Ok(("user-login-value".into(), None))));
        assert_eq!(parse_reference("registry://s@3"), Some(Ok(("s".into(), Some(3)))));
        assert!(parse_reference("registry://s@x").unwrap().is_err());
        assert!(parse_reference("registry://").unwrap().is_err());
        assert_eq!(parse_reference("schemas/user-login.json"), None);
    }
}
