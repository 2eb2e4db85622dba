//! `weir topics create`: the topics the pipeline needs, idempotently.

use crate::config::Config;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;

/// Input, output, dead-letter, parked and (if set) analytics topics.
pub fn names(config: &Config) -> Vec<String> {
    let k = &config.kafka;
    let mut topics = vec![k.input_topic.clone(), k.output_topic.clone(), k.dead_letter_topic.clone(), k.parked_topic.clone()];
    topics.extend(k.analytics_topic.clone());
    topics
}

/// Creates each topic; one that exists already is fine. Returns a line per topic.
pub fn create(config: &Config, client: &ClientConfig) -> anyhow::Result<Vec<String>> {
    let admin: AdminClient<DefaultClientContext> = client.create()?;
    let k = &config.kafka;
    let names = names(config);
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|name| NewTopic::new(name, k.partitions, TopicReplication::Fixed(k.replication)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = run_blocking(admin.create_topics(&topics, &options))?;
    let mut lines = Vec::new();
    for result in results {
        match result {
            Ok(name) => lines.push(format!("created {name} ({} partitions, replication {})", k.partitions, k.replication)),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => lines.push(format!("exists  {name}")),
            Err((name, code)) => anyhow::bail!("cannot create topic {name}: {code}"),
        }
    }
    Ok(lines)
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
