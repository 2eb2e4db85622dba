//! A Confluent-compatible schema registry: register weir's JSON Schemas, fetch them back,
//! and resolve `registry://SUBJECT[@VERSION]` schema references in stage configs.
//!
//! Speaks the documented REST API (`/subjects/{subject}/versions`), over HTTP or HTTPS
//! (a custom CA with `registry.ca`), with basic auth when `registry.username` is set.

use serde::Deserialize;
use std::time::Duration;

pub const SCHEME: &str = "registry://";
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

pub struct Registry {
    url: String,
    agent: ureq::Agent,
    /// The `Authorization` header, for basic auth; never printed.
    authorization: Option<String>,
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
    /// Other subjects the schema refers to, each by the name its `$ref`s use.
    #[serde(default)]
    pub references: Vec<Reference>,
}

/// A Confluent schema reference: `$ref: "<name>"` means `subject` at `version`.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// References followed at most this deep (a cycle of references ends here too).
const MAX_REFERENCE_DEPTH: usize = 16;

/// Documents one schema may pull in through its references, and their bytes together:
/// a registry (or whoever answers as one) cannot make weir fetch without end.
const MAX_REFERENCES: usize = 256;
const MAX_REFERENCED_BYTES: usize = 8 << 20;

/// `user:password@` in a URL ends up in every error that echoes it: refused, with the fix.
fn refuse_credentials_in(url: &str) -> anyhow::Result<()> {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    if authority.contains('@') {
        anyhow::bail!(
            "the registry URL carries credentials (user:password@): remove them and set registry.username \
             and registry.password_env (or password_file) instead"
        );
    }
    Ok(())
}

impl Registry {
    pub fn new(url: &str) -> Registry {
        let agent = agent(None).expect("the system's TLS settings load");
        Registry { url: url.trim_end_matches('/').to_string(), agent, authorization: None }
    }

    /// The registry at `url` with the config's `[registry]` CA and credentials.
    pub fn for_config(config: &weir_core::config::Config, url: &str) -> anyhow::Result<Registry> {
        let r = &config.registry;
        refuse_credentials_in(url)?;
        if r.username.is_some()
            && url.to_ascii_lowercase().starts_with("http://")
            && !r.allow_insecure
        {
            anyhow::bail!(
                "refusing to send the registry's credentials over plain HTTP to {url}: use https:// (with registry.ca \
                 for a private CA), or set registry.allow_insecure = true for a registry on a trusted network"
            );
        }
        let ca = match &r.ca {
            Some(path) => {
                let path = config.resolve(path);
                let pem = std::fs::read(&path)
                    .map_err(|e| anyhow::anyhow!("registry.ca {}: {e}", path.display()))?;
                Some(native_tls::Certificate::from_pem(&pem).map_err(|e| {
                    anyhow::anyhow!("registry.ca {} is not a PEM certificate: {e}", path.display())
                })?)
            }
            None => None,
        };
        let authorization = match &r.username {
            Some(username) => {
                use base64::Engine;
                let password = weir_core::secret::read(
                    "registry",
                    r.password_env.as_deref(),
                    r.password_file.as_deref().map(|p| config.resolve(p)).as_deref(),
                )?;
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"))
                ))
            }
            None => None,
        };
        Ok(Registry {
            url: url.trim_end_matches('/').to_string(),
            agent: agent(ca)?,
            authorization,
        })
    }

    fn authorized(&self, request: ureq::Request) -> ureq::Request {
        match &self.authorization {
            Some(value) => request.set("Authorization", value),
            None => request,
        }
    }

    /// Registers a JSON Schema (its text) under `subject`; returns the registry's schema id.
    pub fn register(&self, subject: &str, schema: &str) -> anyhow::Result<i64> {
        self.register_with_references(subject, "JSON", schema, &[])
    }

    /// Registers a schema of `schema_type` (`JSON`, `AVRO`) that may refer to other subjects.
    pub fn register_with_references(
        &self,
        subject: &str,
        schema_type: &str,
        schema: &str,
        references: &[Reference],
    ) -> anyhow::Result<i64> {
        #[derive(Deserialize)]
        struct Registered {
            id: i64,
        }
        let mut body = serde_json::json!({ "schemaType": schema_type, "schema": schema });
        if !references.is_empty() {
            body["references"] = serde_json::to_value(references)?;
        }
        let url = format!("{}/subjects/{}/versions", self.url, encoded(subject));
        let response = self
            .authorized(self.agent.post(&url))
            .set("Content-Type", CONTENT_TYPE)
            .send_json(body)
            .map_err(|e| self.error(subject, e))?;
        Ok(read_json::<Registered>(response, subject)?.id)
    }

    /// The latest version of `subject`, or `version`.
    pub fn get(&self, subject: &str, version: Option<u32>) -> anyhow::Result<SchemaVersion> {
        let version = version.map(|v| v.to_string()).unwrap_or_else(|| "latest".into());
        let url = format!("{}/subjects/{}/versions/{version}", self.url, encoded(subject));
        let response =
            self.authorized(self.agent.get(&url)).call().map_err(|e| self.error(subject, e))?;
        read_json(response, subject)
    }

    /// The schema registered under `id` (`GET /schemas/ids/{id}`): its type and text;
    /// `None` when the registry has no such id.
    pub fn by_id(&self, id: u32) -> anyhow::Result<Option<(String, String)>> {
        #[derive(Deserialize)]
        struct ById {
            #[serde(default, rename = "schemaType")]
            schema_type: Option<String>,
            schema: String,
        }
        let what = format!("schema id {id}");
        let url = format!("{}/schemas/ids/{id}", self.url);
        match self.authorized(self.agent.get(&url)).call() {
            Ok(response) => {
                let found: ById = read_json(response, &what)?;
                // The registry leaves the type out for Avro, its first and default type.
                Ok(Some((found.schema_type.unwrap_or_else(|| "AVRO".into()), found.schema)))
            }
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(self.error(&what, e)),
        }
    }

    /// The subjects `id` is registered under (`GET /schemas/ids/{id}/versions`).
    pub fn subjects_of(&self, id: u32) -> anyhow::Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Version {
            subject: String,
        }
        let what = format!("the subjects of schema id {id}");
        let url = format!("{}/schemas/ids/{id}/versions", self.url);
        match self.authorized(self.agent.get(&url)).call() {
            Ok(response) => Ok(read_json::<Vec<Version>>(response, &what)?
                .into_iter()
                .map(|v| v.subject)
                .collect()),
            Err(ureq::Error::Status(404, _)) => Ok(Vec::new()),
            Err(e) => Err(self.error(&what, e)),
        }
    }

    /// A subject's schema document and, by name, every document it references (following
    /// references of references).
    pub fn get_with_references(
        &self,
        subject: &str,
        version: Option<u32>,
    ) -> anyhow::Result<(serde_json::Value, serde_json::Map<String, serde_json::Value>)> {
        let found = self.get(subject, version)?;
        let document = self.document(&found)?;
        let mut documents = serde_json::Map::new();
        let mut pending: Vec<(Reference, usize)> =
            found.references.into_iter().map(|r| (r, 1)).collect();
        let mut fetched_bytes = 0usize;
        while let Some((reference, depth)) = pending.pop() {
            if documents.contains_key(&reference.name) {
                continue;
            }
            anyhow::ensure!(
                depth <= MAX_REFERENCE_DEPTH,
                "schema `{subject}` has references more than {MAX_REFERENCE_DEPTH} deep in registry {}",
                self.url
            );
            anyhow::ensure!(
                documents.len() < MAX_REFERENCES && fetched_bytes <= MAX_REFERENCED_BYTES,
                "schema `{subject}` pulls in more than {MAX_REFERENCES} referenced schemas or {} MiB of them from registry {}",
                MAX_REFERENCED_BYTES >> 20,
                self.url
            );
            let version = u32::try_from(reference.version).ok();
            let referenced = self.get(&reference.subject, version)?;
            fetched_bytes += referenced.schema.len();
            documents.insert(reference.name.clone(), self.document(&referenced)?);
            pending.extend(referenced.references.into_iter().map(|r| (r, depth + 1)));
        }
        Ok((document, documents))
    }

    fn document(&self, found: &SchemaVersion) -> anyhow::Result<serde_json::Value> {
        serde_json::from_str(&found.schema).map_err(|e| {
            anyhow::anyhow!(
                "schema `{}` version {} in registry {} is not JSON: {e}",
                found.subject,
                found.version,
                self.url
            )
        })
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
            ureq::Error::Status(code @ (401 | 403), _) => anyhow::anyhow!(
                "schema registry {} refused the credentials (HTTP {code}) for subject `{subject}`: check \
                 registry.username and the password in registry.password_env or registry.password_file",
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

/// An HTTP(S) agent trusting the system's CAs, plus `ca` if given.
fn agent(ca: Option<native_tls::Certificate>) -> anyhow::Result<ureq::Agent> {
    let mut tls = native_tls::TlsConnector::builder();
    if let Some(ca) = ca {
        tls.add_root_certificate(ca);
    }
    let tls = tls.build().map_err(|e| anyhow::anyhow!("TLS for the schema registry: {e}"))?;
    Ok(ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .tls_connector(std::sync::Arc::new(tls))
        .build())
}

/// Largest registry response weir reads: a schema is kilobytes; anything this big is not one.
const MAX_RESPONSE_BYTES: u64 = 8 << 20;

/// A subject as one path segment (`a/b` is `a%2Fb`, never another path): everything but
/// RFC 3986's unreserved characters is encoded, and so are the dot segments `.` and `..`.
fn encoded(subject: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const SEGMENT: &AsciiSet =
        &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    match subject {
        "." | ".." => subject.replace('.', "%2E"),
        _ => utf8_percent_encode(subject, SEGMENT).to_string(),
    }
}

/// The body as JSON, read up to `MAX_RESPONSE_BYTES`.
fn read_json<T: serde::de::DeserializeOwned>(
    response: ureq::Response,
    subject: &str,
) -> anyhow::Result<T> {
    use std::io::Read;
    let mut body = Vec::new();
    response.into_reader().take(MAX_RESPONSE_BYTES + 1).read_to_end(&mut body)?;
    anyhow::ensure!(
        body.len() as u64 <= MAX_RESPONSE_BYTES,
        "the schema registry's answer for subject `{subject}` is over {} MiB; is the URL a schema registry?",
        MAX_RESPONSE_BYTES >> 20
    );
    serde_json::from_slice(&body).map_err(|e| {
        anyhow::anyhow!(
            "the schema registry's answer for subject `{subject}` is not what its API returns: {e}"
        )
    })
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

/// The registry as `[topics]` formats read it: writers' schemas by id, output subjects'
/// latest versions.
impl weir_core::format::SchemaSource for Registry {
    fn by_id(&self, id: u32) -> Result<Option<weir_core::format::Registered>, String> {
        let found = Registry::by_id(self, id).map_err(|e| format!("{e:#}"))?;
        Ok(found.map(|(schema_type, schema)| weir_core::format::Registered {
            id,
            schema_type,
            schema,
        }))
    }

    fn subjects(&self, id: u32) -> Result<Vec<String>, String> {
        Registry::subjects_of(self, id).map_err(|e| format!("{e:#}"))
    }

    fn latest(&self, subject: &str) -> Result<weir_core::format::Registered, String> {
        let found = self.get(subject, None).map_err(|e| format!("{e:#}"))?;
        let id = u32::try_from(found.id).map_err(|_| {
            format!("subject `{subject}` has schema id {}, not a 32-bit id", found.id)
        })?;
        Ok(weir_core::format::Registered {
            id,
            schema_type: found.schema_type.unwrap_or_else(|| "AVRO".into()),
            schema: found.schema,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_and_without_version() {
        assert_eq!(
            parse_reference("registry://user-login-value"),
            Some(Ok(("user-login-value".into(), None)))
        );
        assert_eq!(parse_reference("registry://s@3"), Some(Ok(("s".into(), Some(3)))));
        assert!(parse_reference("registry://s@x").unwrap().is_err());
        assert!(parse_reference("registry://").unwrap().is_err());
        assert_eq!(parse_reference("schemas/user-login.json"), None);
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        assert!(refuse_credentials_in("https://user:secret@registry.example.com/").is_err());
        assert!(refuse_credentials_in("http://key@localhost:8081").is_err());
        assert!(!format!("{:#}", refuse_credentials_in("https://u:hunter2@r").unwrap_err())
            .contains("hunter2"));
        assert!(
            refuse_credentials_in("https://registry.example.com/path@v1").is_ok(),
            "an @ in the path is no credential"
        );
        assert!(refuse_credentials_in("http://localhost:8081").is_ok());
    }

    #[test]
    fn subjects_are_one_path_segment() {
        assert_eq!(encoded("user-login-value"), "user-login-value");
        assert_eq!(encoded("com.example.User-value"), "com.example.User-value");
        assert_eq!(encoded("a/../b c?#"), "a%2F..%2Fb%20c%3F%23");
        assert_eq!(encoded(".."), "%2E%2E");
    }
}
