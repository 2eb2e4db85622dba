//! A topic as a source and topics as sinks: the I/O side of `weir run` and `weir repair`.
//!
//! Offsets stay here: each polled batch's positions wait in a queue until its outputs come
//! back (in the same order), and are stored for commit once the broker has acknowledged
//! every record the batch produced.

use super::flow::{self, Flow, Outgoing, Positions};
use crate::headers;
use crate::bindings::types::Message;
use crate::config::Config;
use crate::driver::repair::RepairRoute;
use crate::driver::{Sink, Source};
use crate::pipeline::Outcome;
use rdkafka::config::ClientConfig;
use std::collections::VecDeque;
use std::time::Duration;

pub struct KafkaIo<'a> {
    config: &'a Config,
    flow: Option<Flow>,
    /// Positions of the batches polled and not yet sent, oldest first.
    polled: VecDeque<Positions>,
}

impl<'a> KafkaIo<'a> {
    /// Joins `group` on `topic`.
    pub fn new(config: &'a Config, client: &ClientConfig, group: &str, topic: &str) -> anyhow::Result<KafkaIo<'a>> {
        Ok(KafkaIo { config, flow: Some(Flow::new(client, group, topic)?), polled: VecDeque::new() })
    }

    fn flow(&mut self) -> anyhow::Result<&mut Flow> {
        self.flow.as_mut().ok_or_else(|| anyhow::anyhow!("the Kafka flow has finished"))
    }

    /// Drains what is in flight and commits; once.
    fn finish_flow(&mut self, drain: Duration) -> anyhow::Result<()> {
        self.flow.take().map_or(Ok(()), |flow| flow.finish(drain))
    }

    fn send_batch(&mut self, outgoing: Vec<Outgoing>) -> anyhow::Result<()> {
        let positions = self.polled.pop_front().expect("outputs come back for a polled batch");
        self.flow()?.send(positions, outgoing)
    }
}

impl Source for KafkaIo<'_> {
    fn poll(&mut self, max: usize, wait: Duration) -> anyhow::Result<Option<Vec<Message>>> {
        let batch = self.flow()?.poll_batch(max, wait)?;
        if !batch.is_empty() {
            self.polled.push_back(flow::positions(&batch));
        }
        Ok(Some(batch))
    }
}

impl Sink<Outcome> for KafkaIo<'_> {
    /// A processed record to the output topic; a dead letter, unchanged and with
    /// provenance, to the dead-letter topic. Keys are kept.
    fn send(&mut self, outcomes: Vec<Outcome>) -> anyhow::Result<()> {
        let kafka = &self.config.kafka;
        let outgoing = outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Processed(m) => Outgoing {
                    topic: kafka.output_topic.clone(),
                    headers: headers::user_headers(&m.headers),
                    key: m.key,
                    value: m.value,
                },
                Outcome::DeadLetter(m, rejection) => Outgoing {
                    topic: kafka.dead_letter_topic.clone(),
                    headers: headers::dead_letter(&m, &rejection),
                    key: m.key,
                    value: m.value,
                },
            })
            .collect();
        self.send_batch(outgoing)
    }

    /// The report as JSON to the analytics topic, if one is configured.
    fn publish(&mut self, report: &serde_json::Value) -> anyhow::Result<()> {
        let Some(topic) = &self.config.kafka.analytics_topic else {
            return Ok(());
        };
        let key = Some(self.config.kafka.group_id.as_bytes().to_vec());
        let record = Outgoing { topic: topic.clone(), key, value: report.to_string().into_bytes(), headers: vec![] };
        flow::produce(self.flow()?.producer(), &record, flow::detached_ticket(1))
    }

    fn idle(&mut self) -> anyhow::Result<()> {
        self.flow()?.settle()
    }

    fn finish(&mut self, drain: Duration) -> anyhow::Result<()> {
        self.finish_flow(drain)
    }
}

impl Sink<RepairRoute> for KafkaIo<'_> {
    /// Repaired records back to the input topic, the rest to the parked topic.
    fn send(&mut self, routes: Vec<RepairRoute>) -> anyhow::Result<()> {
        let kafka = &self.config.kafka;
        let outgoing = routes
            .into_iter()
            .map(|route| match route {
                RepairRoute::Fixed { letter, value, attempts } => Outgoing {
                    topic: kafka.input_topic.clone(),
                    headers: headers::repaired(&letter, attempts),
                    key: letter.key,
                    value,
                },
                RepairRoute::Parked { letter, reason } => Outgoing {
                    topic: kafka.parked_topic.clone(),
                    headers: headers::parked(&letter, &reason),
                    key: letter.key,
                    value: letter.value,
                },
            })
            .collect();
        self.send_batch(outgoing)
    }

    fn idle(&mut self) -> anyhow::Result<()> {
        self.flow()?.settle()
    }

    fn finish(&mut self, drain: Duration) -> anyhow::Result<()> {
        self.finish_flow(drain)
    }
}
