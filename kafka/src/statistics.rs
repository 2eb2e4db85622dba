//! librdkafka's statistics (every `statistics.interval.ms`) into metrics and health:
//! consumer lag per assigned partition, whether any broker connection is up.

use rdkafka::statistics::Statistics;
use weir_core::ops::metrics::PartitionLabels;
use weir_core::ops::Ops;

/// How often librdkafka reports, unless `[kafka.properties]` says otherwise.
pub const INTERVAL_MS: &str = "5000";

pub fn consumer(ops: &Ops, statistics: &Statistics) {
    let lag = &ops.metrics.consumer_lag;
    // Revoked partitions leave the statistics; their series go with them.
    lag.clear();
    for (topic, stats) in &statistics.topics {
        for (partition, p) in &stats.partitions {
            // -1 is librdkafka's internal "unassigned" partition; a lag of -1 is unknown.
            if *partition >= 0 && p.consumer_lag >= 0 && p.fetch_state != "none" {
                lag.get_or_create(&PartitionLabels { topic: topic.clone(), partition: *partition })
                    .set(p.consumer_lag);
            }
        }
    }
    ops.health.broker_up(any_broker_up(statistics));
}

/// Brokers by their real addresses (not the bootstrap placeholders) with a live connection.
fn any_broker_up(statistics: &Statistics) -> bool {
    statistics.brokers.values().any(|broker| broker.nodeid >= 0 && broker.state == "UP")
}
