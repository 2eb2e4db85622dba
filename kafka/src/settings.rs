//! The client settings weir.toml's `[kafka]` gives: `[kafka.properties]`, checked against
//! the settings weir's delivery guarantees rest on, and `[kafka.security]` (TLS and SASL),
//! read and checked. weir-core carries both as data; only this crate knows what they mean.

use serde::Deserialize;
use std::path::PathBuf;
use weir_core::config::{Config, ConfigError};

/// Checks the config's client settings: every command that talks to Kafka loads its
/// config through this, so a bad setting is a config error (exit 2) before any connection.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    let security = security(config)?;
    check_properties(config, &security)
}

/// `[kafka.security]`, read.
pub fn security(config: &Config) -> Result<SecurityConfig, ConfigError> {
    SecurityConfig::deserialize(toml::Value::Table(config.kafka.security.clone()))
        .map_err(|e| config.key_error("kafka.security", e.message()))
}

/// How weir connects to a secured cluster: TLS (with a client certificate for mutual
/// TLS) and SASL. Secrets come from the environment or a file, never from weir.toml.
#[derive(Debug, Deserialize, Clone, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    pub protocol: Option<Protocol>,
    /// CA certificates (PEM) the brokers' certificates must chain to; default: the system's.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM), for brokers that require mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub sasl: Option<SaslConfig>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    #[serde(rename = "SSL")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Plaintext => "PLAINTEXT",
            Protocol::Ssl => "SSL",
            Protocol::SaslPlaintext => "SASL_PLAINTEXT",
            Protocol::SaslSsl => "SASL_SSL",
        }
    }

    pub fn sasl(self) -> bool {
        matches!(self, Protocol::SaslPlaintext | Protocol::SaslSsl)
    }

    pub fn tls(self) -> bool {
        matches!(self, Protocol::Ssl | Protocol::SaslSsl)
    }
}

/// `[kafka.security.sasl]`: the mechanism, the user, and where the password is.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub mechanism: String,
    pub username: Option<String>,
    /// The environment variable that holds the password.
    pub password_env: Option<String>,
    /// Or a file that holds it (a Kubernetes or Docker secret), trailing newline ignored.
    pub password_file: Option<PathBuf>,
}

/// Never prints where the password is read from beyond its source's name.
impl std::fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslConfig")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password_env", &self.password_env)
            .field("password_file", &self.password_file)
            .finish_non_exhaustive()
    }
}

/// librdkafka settings weir's delivery guarantees rest on: set by weir, refused in
/// `[kafka.properties]` with the reason.
pub const GUARANTEES: &[(&str, &str)] = &[
    ("bootstrap.servers", "set `kafka.brokers` (or --brokers) instead"),
    ("group.id", "set `kafka.group_id` instead"),
    (
        "enable.auto.offset.store",
        "weir stores an offset only once every output of its batch is acknowledged",
    ),
    (
        "enable.auto.commit",
        "weir commits the offsets it stored; turning commits off re-reads everything",
    ),
    ("enable.idempotence", "the producer must be idempotent so retries never duplicate or reorder"),
    ("message.timeout.ms", "weir never gives up on a record (0: retry until delivered or stopped)"),
    ("enable.partition.eof", "weir reads partitions as endless streams"),
];

/// `[kafka.properties]` tune librdkafka, and the user's value wins over weir's
/// defaults; but a few settings carry weir's delivery guarantees and are refused.
fn check_properties(config: &Config, security: &SecurityConfig) -> Result<(), ConfigError> {
    for (key, value) in &config.kafka.properties {
        if let Some((_, why)) = GUARANTEES.iter().find(|(k, _)| k == key) {
            return Err(config.key_error(
                &format!("kafka.properties.\"{key}\""),
                &format!("`{value}` refused: {why}"),
            ));
        }
        // A secret in weir.toml ends up in backups, repositories and `ps`-visible
        // config maps: it comes from the environment or a file instead.
        let secret = matches!(
            key.as_str(),
            "sasl.password"
                | "ssl.key.password"
                | "ssl.keystore.password"
                | "sasl.oauthbearer.client.secret"
        );
        if secret {
            return Err(config.key_error(
                &format!("kafka.properties.\"{key}\""),
                "a secret in plain text is refused: set [kafka.security.sasl] password_env = \"VAR\" or password_file = \"PATH\" (and the protocol, mechanism and username there)",
            ));
        }
        let tls_or_sasl =
            ["security.", "sasl.", "ssl."].iter().any(|prefix| key.starts_with(prefix));
        if tls_or_sasl && *security != SecurityConfig::default() {
            return Err(config.key_error(
                &format!("kafka.properties.\"{key}\""),
                "set either [kafka.security] or TLS/SASL properties, not both",
            ));
        }
    }
    check_security(config, security)
}

fn check_security(config: &Config, security: &SecurityConfig) -> Result<(), ConfigError> {
    let protocol = security.protocol.unwrap_or(Protocol::Plaintext);
    let tls_only = [
        ("ca", security.ca.is_some()),
        ("cert", security.cert.is_some()),
        ("key", security.key.is_some()),
    ];
    if let Some((key, _)) = tls_only.iter().find(|(_, set)| *set).filter(|_| !protocol.tls()) {
        return Err(config.key_error(
            &format!("kafka.security.{key}"),
            "needs `protocol = \"SSL\"` or `\"SASL_SSL\"`",
        ));
    }
    if security.cert.is_some() != security.key.is_some() {
        return Err(
            config.key_error("kafka.security.cert", "mutual TLS needs both `cert` and `key`")
        );
    }
    match (&security.sasl, protocol.sasl()) {
        (Some(_), false) => Err(config.key_error(
            "kafka.security.sasl",
            "needs `protocol = \"SASL_SSL\"` (or `\"SASL_PLAINTEXT\"`)",
        )),
        (None, true) => Err(config
            .key_error("kafka.security.protocol", "SASL needs a [kafka.security.sasl] section")),
        (Some(sasl), true) => check_sasl(config, sasl),
        (None, false) => Ok(()),
    }
}

fn check_sasl(config: &Config, sasl: &SaslConfig) -> Result<(), ConfigError> {
    const MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];
    if sasl.mechanism == "OAUTHBEARER" {
        return Err(config.key_error(
            "kafka.security.sasl.mechanism",
            "OAUTHBEARER (OIDC) is not in this build: librdkafka needs libcurl for it. Use PLAIN or SCRAM with an API key",
        ));
    }
    if !MECHANISMS.contains(&sasl.mechanism.as_str()) {
        return Err(config.key_error(
            "kafka.security.sasl.mechanism",
            &format!("`{}` is not one of {}", sasl.mechanism, MECHANISMS.join(", ")),
        ));
    }
    if sasl.password_env.is_some() == sasl.password_file.is_some() {
        return Err(config.key_error(
            "kafka.security.sasl",
            "give the password's source: `password_env` (an environment variable) or `password_file`, one of them",
        ));
    }
    if sasl.username.is_none() {
        return Err(config.key_error(
            "kafka.security.sasl.username",
            "is required (the user, or a Confluent Cloud API key)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(text, Path::new("/etc/weir/weir.toml"))?;
        check(&config)?;
        Ok(config)
    }

    #[test]
    fn security_settings_that_cannot_work_are_named() {
        let err = |text: &str| parse(text).unwrap_err().to_string();
        assert!(err("[kafka.security]\nca = \"ca.pem\"\n").contains("`kafka.security.ca`"));
        assert!(
            err("[kafka.security]\nprotocol = \"SASL_SSL\"\n").contains("[kafka.security.sasl]")
        );
        let no_password = "[kafka.security]\nprotocol = \"SASL_SSL\"\n[kafka.security.sasl]\nmechanism = \"PLAIN\"\nusername = \"u\"\n";
        assert!(err(no_password).contains("password_env"));
        let oauth = no_password.replace("PLAIN", "OAUTHBEARER");
        assert!(err(&oauth).contains("libcurl"));
        let twice =
            "[kafka.properties]\n\"sasl.username\" = \"x\"\n[kafka.security]\nprotocol = \"SSL\"\n";
        assert!(err(twice).contains("not both"));
        let ok = format!("{no_password}password_env = \"KAFKA_SECRET\"\n");
        parse(&ok).unwrap();
        assert!(parse("[kafka.security]\nprotocol = \"SSL\"\ncert = \"c.pem\"\n")
            .unwrap_err()
            .to_string()
            .contains("both `cert` and `key`"));
    }

    #[test]
    fn a_password_in_the_properties_is_refused_with_the_fix() {
        let err =
            parse("[kafka.properties]\n\"sasl.password\" = \"hunter2\"\n").unwrap_err().to_string();
        assert!(
            err.contains("kafka.properties.\"sasl.password\"") && err.contains("password_env"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "the error never echoes the secret: {err}");
    }

    #[test]
    fn properties_tune_but_cannot_break_the_guarantees() {
        assert!(parse(
            "[kafka.properties]\n\"linger.ms\" = \"50\"\n\"auto.offset.reset\" = \"latest\"\n"
        )
        .is_ok());
        let err = parse("[kafka.properties]\n\"enable.auto.offset.store\" = \"true\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("enable.auto.offset.store") && err.contains("refused"), "{err}");
        let err = parse("[kafka.properties]\n\"group.id\" = \"g\"\n").unwrap_err().to_string();
        assert!(err.contains("kafka.group_id"), "{err}");
    }

    #[test]
    fn unknown_security_keys_are_named() {
        let err = parse("[kafka.security]\nprotocl = \"SSL\"\n").unwrap_err().to_string();
        assert!(err.contains("`kafka.security`") && err.contains("protocl"), "{err}");
    }
}
