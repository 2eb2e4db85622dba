//! `weir repair` on Kafka: dead letters → repaired back to the input topic, or parked.
//!
//! A record comes back through repair at most `max_attempts` times; after that, or
//! when the plugin says it is unrepairable, it is parked with the reason. Never an
//! endless loop, never dropped.

use super::flow::{self, Flow, Outgoing};
use super::headers;
use crate::bindings::types::Message;
use crate::config::Config;
use crate::repair::{Repaired, Repairer};
use rdkafka::config::ClientConfig;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, Default, Clone, Serialize)]
pub struct RepairStats {
    pub dead_letters_in: u64,
    pub repaired: u64,
    pub parked: u64,
}

pub fn run(
    config: &Config,
    client: &ClientConfig,
    repairer: &mut Repairer,
    stop: &AtomicBool,
    drain_timeout: Duration,
) -> anyhow::Result<RepairStats> {
    let kafka = &config.kafka;
    let group = format!("{}-repair", kafka.group_id);
    let mut flow = Flow::new(client, &group, &kafka.dead_letter_topic)?;
    tracing::info!(dead_letters = kafka.dead_letter_topic, back_to = kafka.input_topic, parked = kafka.parked_topic, "repairing");
    let mut stats = RepairStats::default();
    let result = (|| -> anyhow::Result<()> {
        while !stop.load(Ordering::Relaxed) {
            let batch = flow.poll_batch(config.pipeline.batch_size, Duration::from_millis(100))?;
            if batch.is_empty() {
                flow.settle()?;
                continue;
            }
            stats.dead_letters_in += batch.len() as u64;
            let positions = flow::positions(&batch);
            let outgoing = repair_batch(config, repairer, batch, &mut stats);
            flow.send(positions, outgoing)?;
        }
        Ok(())
    })();
    let finished = flow.finish(drain_timeout);
    result?;
    finished?;
    Ok(stats)
}

fn repair_batch(config: &Config, repairer: &mut Repairer, batch: Vec<Message>, stats: &mut RepairStats) -> Vec<Outgoing> {
    let kafka = &config.kafka;
    let park = |m: &Message, reason: String| Outgoing {
        topic: kafka.parked_topic.clone(),
        key: m.key.clone(),
        value: m.value.clone(),
        headers: headers::parked(m, &reason),
    };
    let mut outgoing: Vec<Option<Outgoing>> = vec![None; batch.len()];
    let mut to_repair = Vec::new();
    let mut slots = Vec::new();
    for (i, m) in batch.iter().enumerate() {
        let attempts = headers::repair_attempts(&m.headers);
        if attempts >= repairer.max_attempts {
            let last = headers::reasons(&m.headers).map(|v| crate::pipeline::summary(&v)).unwrap_or_default();
            outgoing[i] = Some(park(m, format!("gave up after {attempts} repair attempts; last rejection: {last}")));
        } else {
            slots.push(i);
            to_repair.push((m.clone(), headers::reasons(&m.headers)));
        }
    }
    for (i, result) in slots.into_iter().zip(repairer.repair(to_repair)) {
        let m = &batch[i];
        outgoing[i] = Some(match result {
            Repaired::Fixed(value) => Outgoing {
                topic: kafka.input_topic.clone(),
                key: m.key.clone(),
                value,
                headers: headers::repaired(m, headers::repair_attempts(&m.headers) + 1),
            },
            Repaired::Unrepairable(reason) => park(m, reason),
        });
    }
    let outgoing: Vec<Outgoing> = outgoing.into_iter().map(|o| o.expect("every dead letter is routed")).collect();
    for o in &outgoing {
        if o.topic == kafka.parked_topic {
            stats.parked += 1;
        } else {
            stats.repaired += 1;
        }
    }
    outgoing
}
