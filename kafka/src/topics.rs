//! `weir topics create`: the topics the pipeline needs, idempotently.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;
use weir_core::config::Config;

/// Input, output, the transformers' named outputs, dead-letter, parked and (if set)
/// analytics, window, late and state topics.
pub fn names(config: &Config) -> Vec<String> {
    let k = &config.kafka;
    let mut topics = vec![k.input_topic.clone(), k.output_topic.clone()];
    for routed in config.transform.iter().flat_map(|t| t.outputs.values()) {
        if !topics.contains(routed) {
            topics.push(routed.clone());
        }
    }
    topics.extend([k.dead_letter_topic.clone(), k.parked_topic.clone()]);
    topics.extend(k.analytics_topic.clone());
    topics.extend(config.window_topic());
    let late = config
        .aggregate
        .as_ref()
        .and_then(|a| a.window.as_ref())
        .and_then(|w| w.late_topic.clone());
    topics.extend(late.filter(|late| !topics.contains(late)));
    topics.extend(config.state_topic());
    topics
}

/// Creates each topic; one that exists already is fine. Returns a line per topic.
pub fn create(config: &Config, client: &ClientConfig) -> anyhow::Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let k = &config.kafka;
    let names = names(config);
    let state_topic = config.state_topic();
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|name| match Some(name) == state_topic.as_ref() {
            // Compacted: the latest snapshot per input partition is all that is kept.
            true => NewTopic::new(name, 1, TopicReplication::Fixed(k.replication))
                .set("cleanup.policy", "compact"),
            false => NewTopic::new(name, k.partitions, TopicReplication::Fixed(k.replication)),
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = run_blocking(admin.create_topics(&topics, &options))?;
    let mut lines = Vec::new();
    for result in results {
        match result {
            Ok(name) if Some(&name) == state_topic.as_ref() => lines.push(format!(
                "created {name} (compacted, 1 partition, replication {})",
                k.replication
            )),
            Ok(name) => lines.push(format!(
                "created {name} ({} partitions, replication {})",
                k.partitions, k.replication
            )),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                lines.push(format!("exists  {name}"))
            }
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(lines)
}

/// Creates the state topic if it is missing (compacted, as `create` does), so turning
/// the state on needs no extra step.
pub fn ensure_state_topic(config: &Config, client: &ClientConfig) -> anyhow::Result<()> {
    let Some(name) = config.state_topic() else { return Ok(()) };
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let metadata = admin.inner().fetch_metadata(Some(&name), super::CONNECT_TIMEOUT)?;
    if metadata
        .topics()
        .iter()
        .any(|t| t.name() == name && t.error().is_none() && !t.partitions().is_empty())
    {
        return Ok(());
    }
    let topic = NewTopic::new(&name, 1, TopicReplication::Fixed(config.kafka.replication))
        .set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    match run_blocking(admin.create_topics([&topic], &options))?.pop() {
        Some(Ok(_)) => tracing::info!("created the state topic {name} (compacted)"),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => {}
        Some(Err((_, code))) => anyhow::bail!("cannot create the state topic {name}: {code} (create it compacted, or set [state] enabled = false)"),
    }
    Ok(())
}

/// Runs one of rdkafka's admin futures to completion on this thread.
fn run_blocking<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
