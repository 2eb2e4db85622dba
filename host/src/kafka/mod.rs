//! Kafka: client settings, topics as a driver's source and sinks (`io`), at-least-once
//! produce and commit (`flow`), and the commands that talk to a broker.

pub mod changelog;
pub mod consumed;
pub mod embedded;
pub mod flow;
pub mod generate;
pub mod group;
pub use crate::headers;
pub mod io;
pub mod park;
pub mod produce;
pub mod run;
pub mod stream_repair;
pub mod tail;
pub mod topics;

use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use std::time::Duration;

/// How long to wait for a broker at start before saying it cannot be reached.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings every weir client shares, plus the config's `[kafka.properties]`.
pub fn client_config(brokers: &str, properties: &std::collections::BTreeMap<String, String>) -> ClientConfig {
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

/// Fails within seconds, with the fix, when no broker answers.
pub fn ensure_reachable(config: &ClientConfig, brokers: &str) -> anyhow::Result<()> {
    let producer: BaseProducer = config.create()?;
    producer.client().fetch_metadata(None, CONNECT_TIMEOUT).map_err(|e| {
        anyhow::anyhow!(
            "cannot reach Kafka at {brokers} within {} s ({e}). Start a broker, or point weir at one \
             with --brokers HOST:PORT or WEIR_BROKERS (`weir demo` runs one in-process)",
            CONNECT_TIMEOUT.as_secs()
        )
    })?;
    Ok(())
}

/// A stop flag set by SIGINT or SIGTERM; a second signal exits at once.
pub fn stop_on_signals() -> anyhow::Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())?;
        signal_hook::flag::register(signal, stop.clone())?;
    }
    Ok(stop)
}
