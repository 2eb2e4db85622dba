//! `weir repair` on Kafka: dead letters → repaired back to the input topic, or parked.

use super::io::KafkaIo;
use rdkafka::config::ClientConfig;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use weir_core::config::Config;
use weir_core::driver::repair::RepairStats;
use weir_core::driver::Controls;
use weir_core::ops::Ops;
use weir_core::pipeline::repair::RepairPipeline;

pub fn repair_topic(
    config: &Config,
    client: &ClientConfig,
    repairer: &mut RepairPipeline,
    stop: &AtomicBool,
    drain_timeout: Duration,
    ops: Option<&Ops>,
) -> anyhow::Result<RepairStats> {
    let kafka = &config.kafka;
    let mut io = KafkaIo::new(
        config,
        client,
        &format!("{}-repair", kafka.group_id),
        &kafka.dead_letter_topic,
        None,
        stop,
        ops,
    )?;
    tracing::info!(
        dead_letters = kafka.dead_letter_topic,
        back_to = kafka.input_topic,
        parked = kafka.parked_topic,
        "repairing"
    );
    let controls = Controls {
        batch_size: config.pipeline.batch_size,
        stop,
        drain: drain_timeout,
        checkpoint_every: None,
        ops,
    };
    weir_core::driver::repair::drive_repair(&mut io, repairer, &controls)
}
