//! weir's Kafka adapter: client settings, topics as the driver's source and sinks (`io`),
//! at-least-once produce and commit (`flow`), partition states across rebalances (`group`,
//! `changelog`), librdkafka's statistics into metrics, and the commands that talk to a
//! broker (`generate`, `tail`, `topics`; `embedded`: librdkafka's mock cluster).

mod after_acks;
pub mod changelog;
mod consumed;
mod delivery;
pub mod dlq;
pub mod flow;
mod group;
mod in_flight;
mod intake;
mod io;
mod park;
mod produce;
pub mod range;
pub mod redrive;
mod replay;
pub mod run;
pub mod run_repair;
pub mod security;
mod sent_marks;
pub mod settings;
pub mod start;
mod statistics;
pub mod table_feed;
pub mod tail;
pub mod topics;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::time::Duration;

/// How long to wait for a broker at start before saying it cannot be reached.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings every weir client shares, plus the config's `[kafka.properties]`.
pub fn client_config(
    brokers: &str,
    properties: &std::collections::BTreeMap<String, String>,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "weir")
        // Reconnect quickly after a broker comes back; back off up to 2 s.
        .set("reconnect.backoff.ms", "50")
        .set("reconnect.backoff.max.ms", "2000")
        .set("log_level", "3");
    for (key, value) in properties {
        config.set(key, value);
    }
    config
}

/// Fails within seconds, with the fix, when no broker answers — naming the cause when
/// the connection failed on TLS or SASL.
pub fn ensure_reachable(config: &ClientConfig, brokers: &str) -> anyhow::Result<()> {
    unreachable_reason(config, brokers)
        .map_err(|reason| anyhow::Error::new(BrokerUnreachable(reason)))
}

/// Why no broker answered (`Err`), with the fix.
fn unreachable_reason(config: &ClientConfig, brokers: &str) -> Result<(), String> {
    let Err(e) = connect(config) else { return Ok(()) };
    let (error, seen) = e;
    if let Some((line, fix)) =
        seen.iter().find_map(|line| security::explain(line).map(|fix| (line, fix)))
    {
        // OpenSSL says only "certificate verify failed" for a certificate of another host:
        // tell the two apart with bare TLS handshakes, never a Kafka connection — that
        // would log in, and hand the SASL password to whoever holds that certificate.
        if line.contains("certificate verify failed") && security::host_name_mismatch(config) {
            return Err(format!(
                "cannot connect to Kafka at {brokers}: the broker's certificate is not for the address weir connects \
                 to (host name mismatch): use a host name the certificate names in --brokers and in the broker's \
                 advertised listener"
            ));
        }
        return Err(format!("cannot connect to Kafka at {brokers}: {fix} (librdkafka: {line})"));
    }
    if let Some(fix) = security::diagnose(config) {
        return Err(format!("cannot connect to Kafka at {brokers}: {fix}"));
    }
    // Connections that came up and were dropped before any answer: the broker accepted
    // TCP (and TLS) but not what came next.
    let unreachable =
        seen.iter().any(|line| line.contains("Connect to ") || line.contains("resolve"));
    if !unreachable
        && seen.iter().any(|line| line.contains("AllBrokersDown") && line.contains(": 0/"))
    {
        let tls = config.get("security.protocol").is_some_and(|p| p.ends_with("SSL"));
        let fix = match (tls, config.get("ssl.certificate.location").is_some()) {
            (true, false) => "it likely requires a client certificate (kafka.security.cert and key) signed by a CA it trusts",
            (true, true) => "check that it trusts the CA of kafka.security.cert, and kafka.security.protocol",
            (false, _) => "it may expect TLS or SASL: set kafka.security.protocol to what its listener speaks",
        };
        return Err(format!("cannot connect to Kafka at {brokers}: the broker closes each connection before answering: {fix}"));
    }
    Err(format!(
        "cannot reach Kafka at {brokers} within {} s ({error}). Start a broker, or point weir at one \
         with --brokers HOST:PORT or WEIR_BROKERS (`weir demo` runs one in-process)",
        CONNECT_TIMEOUT.as_secs()
    ))
}

/// Asks a broker for metadata; on failure, what librdkafka reported meanwhile.
fn connect(config: &ClientConfig) -> Result<(), (rdkafka::error::KafkaError, Vec<String>)> {
    // Disconnects are logged at info level: capture them too (they are not printed).
    let mut probe = config.clone();
    probe.set("log_level", "6");
    let producer: BaseProducer<ConnectionErrors> =
        probe.create_with_context(ConnectionErrors::default()).map_err(|e| (e, Vec::new()))?;
    let Err(e) = producer.client().fetch_metadata(None, CONNECT_TIMEOUT) else { return Ok(()) };
    // librdkafka hands its errors and logs over when polled, one per poll: take them all.
    let until = std::time::Instant::now() + Duration::from_millis(300);
    while std::time::Instant::now() < until {
        producer.poll(Duration::from_millis(10));
    }
    let seen = producer.context().0.lock().unwrap().clone();
    tracing::debug!(?seen, "connection errors");
    Err((e, seen))
}

/// The errors librdkafka reports while connecting, for `ensure_reachable` to explain.
#[derive(Default)]
struct ConnectionErrors(std::sync::Mutex<Vec<String>>);

impl rdkafka::ClientContext for ConnectionErrors {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        self.0.lock().unwrap().push(format!("{error}: {reason}"));
    }

    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        self.0.lock().unwrap().push(format!("{facility}: {message}"));
    }
}

impl rdkafka::producer::ProducerContext for ConnectionErrors {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

/// No broker answered: what `weir` exits with code 3 for.
#[derive(Debug)]
pub struct BrokerUnreachable(pub String);

impl std::fmt::Display for BrokerUnreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrokerUnreachable {}
