//! A topic as a source and topics as sinks: the I/O side of `weir run` and `weir repair`.
//!
//! Offsets stay here: each polled batch's positions wait in a queue until its outputs come
//! back (in the same order), and are stored for commit once the broker has acknowledged
//! every record the batch produced.

use super::changelog;
use super::flow::{self, Flow, Origin, Outgoing, Positions, Unreadable};
use super::group::{Rebalanced, StateTopic};
use super::replay::Replay;
use rdkafka::config::ClientConfig;
use rdkafka::producer::Producer as _;
use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use weir_core::config::Config;
use weir_core::driver::repair::RepairRoute;
use weir_core::driver::{Poll, Sink, Source};
use weir_core::headers;
use weir_core::ops::{Metrics, Ops};
use weir_core::pipeline::{Outcome, Output, Rejection, Role};
use weir_core::state::{PartitionSnapshot, StateChange};

pub struct KafkaIo<'a> {
    config: &'a Config,
    /// Raised by SIGTERM: waits for the broker end then.
    stop: &'a AtomicBool,
    flow: Option<Flow>,
    /// Batches polled and not yet sent, oldest first: their positions, and the records
    /// settled here rather than by the plugins.
    polled: VecDeque<(Positions, Vec<Unreadable>)>,
    /// Where partition states are checkpointed, when they are.
    state_topic: Option<String>,
    /// Rebalances not yet handed to the plugins.
    rebalanced: VecDeque<Rebalanced>,
    /// Records replayed into the aggregator's state but not produced (they were, before).
    replay: Replay,
    /// Where a bounded read ends (`weir replay`); `None`: the input never ends.
    range: Option<super::range::RangeEnd>,
    ops: Option<Ops>,
}

impl<'a> KafkaIo<'a> {
    /// Joins `group` on `topic`; with `state_topic`, keeps aggregator states per partition.
    pub fn new(
        config: &'a Config,
        client: &ClientConfig,
        group: &str,
        topic: &str,
        state_topic: Option<String>,
        stop: &'a AtomicBool,
        ops: Option<&Ops>,
    ) -> anyhow::Result<KafkaIo<'a>> {
        let state = state_topic.clone().map(|topic| StateTopic { client: client.clone(), topic });
        let flow = Flow::new(client, group, topic, state, ops)?
            .park_refused_to(&config.kafka.parked_topic);
        Ok(KafkaIo {
            config,
            stop,
            flow: Some(flow),
            polled: VecDeque::new(),
            state_topic,
            rebalanced: VecDeque::new(),
            replay: Replay::default(),
            range: None,
            ops: ops.cloned(),
        })
    }

    /// Reads up to `range`'s ends only; the input ends there.
    pub fn bounded(mut self, range: super::range::RangeEnd) -> Self {
        self.range = Some(range);
        self
    }

    /// The next rebalance for the plugins, if any; a changelog that cannot be read stops.
    fn next_state_change(&mut self) -> anyhow::Result<Option<weir_core::state::StateChange>> {
        let events = self.flow()?.take_rebalanced();
        self.rebalanced.extend(events);
        let Some(event) = self.rebalanced.pop_front() else { return Ok(None) };
        match &event {
            Rebalanced::Failed(reason) => anyhow::bail!("{reason}"),
            Rebalanced::Assigned { replay_until, .. } => {
                self.replay.assigned(replay_until.iter().cloned())
            }
            Rebalanced::Revoked(keys) => self.replay.revoked(keys),
        }
        Ok(event.state_change())
    }

    /// Nothing came back from the plugins: settle acknowledgements, stay in the group.
    fn idle_flow(&mut self) -> anyhow::Result<()> {
        let queued = self.ops.as_ref().map(|ops| ops.metrics.producer_queue.clone());
        let flow = self.flow()?;
        flow.store_finished_offsets()?;
        if let Some(queued) = queued {
            queued.set(flow.producer().in_flight_count() as i64);
        }
        flow.keep_alive()
    }

    fn flow(&mut self) -> anyhow::Result<&mut Flow> {
        self.flow.as_mut().ok_or_else(|| anyhow::anyhow!("the Kafka flow has finished"))
    }

    /// Drains what is in flight and commits; once.
    fn finish_flow(&mut self, drain: Duration) -> anyhow::Result<()> {
        self.flow.take().map_or(Ok(()), |flow| flow.finish(drain))
    }

    /// The outputs of the oldest polled batch, plus a record per unreadable one of it
    /// (`settle`: to which topic, with which headers).
    fn send_batch(
        &mut self,
        mut outgoing: Vec<Outgoing>,
        settle: impl Fn(&Config, Unreadable) -> Outgoing,
    ) -> anyhow::Result<()> {
        let (mut positions, unreadable) =
            self.polled.pop_front().expect("outputs come back for a polled batch");
        outgoing.extend(unreadable.into_iter().map(|u| settle(self.config, u)));
        self.replay.filter(&mut outgoing, &mut positions);
        let stop = self.stop;
        self.flow()?.send(positions, outgoing, stop)
    }
}

impl Source<StateChange> for KafkaIo<'_> {
    fn poll(&mut self, max: usize, wait: Duration) -> anyhow::Result<Poll<StateChange>> {
        if let Some(change) = self.next_state_change()? {
            return Ok(Poll::Event(change));
        }
        if self.range.as_ref().is_some_and(|r| r.ended()) {
            return Ok(Poll::Ended);
        }
        let mut polled = self.flow()?.poll_batch(max, wait)?;
        if let Some(range) = &mut self.range {
            polled.messages.retain(|m| range.keeps(m));
            polled.unreadable.retain(|u| range.keeps(&u.message));
            polled
                .messages
                .iter()
                .chain(polled.unreadable.iter().map(|u| &u.message))
                .for_each(|m| range.read(m));
        }
        if polled.is_empty() {
            return Ok(match self.next_state_change()? {
                Some(change) => Poll::Event(change),
                None => Poll::Idle,
            });
        }
        if let Some(ops) = &self.ops {
            count_consumed(&ops.metrics, &polled);
        }
        self.polled.push_back((polled.positions(), polled.unreadable));
        Ok(Poll::Batch(polled.messages))
    }
}

impl Sink<Outcome, PartitionSnapshot> for KafkaIo<'_> {
    /// A processed record to the output topic; a dead letter, unchanged and with
    /// provenance, to the dead-letter topic. Keys are kept.
    fn send(&mut self, outcomes: Vec<Outcome>) -> anyhow::Result<()> {
        let kafka = &self.config.kafka;
        let mut outgoing = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            match outcome {
                Outcome::Processed(outputs) => outgoing.extend(outputs.into_iter().map(
                    |Output { message: m, topic, role }| {
                        let origin = Origin::of(&m);
                        let (default_topic, headers) = match &role {
                            Role::Record => {
                                (&kafka.output_topic, headers::user_headers(&m.headers))
                            }
                            Role::Window => (&kafka.output_topic, m.headers),
                            Role::Late(rejection) => {
                                (&kafka.dead_letter_topic, headers::dead_letter(&m, rejection))
                            }
                        };
                        Outgoing::new(
                            topic.as_deref().unwrap_or(default_topic),
                            m.key,
                            m.value,
                            headers,
                        )
                        .from(origin)
                    },
                )),
                Outcome::DeadLetter(m, rejection) => {
                    let (origin, headers) = (Origin::of(&m), headers::dead_letter(&m, &rejection));
                    outgoing.push(
                        Outgoing::new(&kafka.dead_letter_topic, m.key, m.value, headers)
                            .from(origin),
                    );
                }
            }
        }
        self.send_batch(outgoing, |config, unreadable| {
            let rejection =
                Rejection::host("consume", Default::default(), unreadable.reason.clone());
            let headers = headers::dead_letter(&unreadable.message, &rejection);
            as_it_came(&config.kafka.dead_letter_topic, unreadable, headers)
        })
    }

    /// Each snapshot to the changelog. One the broker refuses (too large, say) is said
    /// and counted there; the partition's previous snapshot stays, so the analytics stay
    /// exact at the cost of a longer replay.
    fn checkpoint(&mut self, snapshots: Vec<PartitionSnapshot>) -> anyhow::Result<()> {
        let Some(state_topic) = self.state_topic.clone() else { return Ok(()) };
        for snapshot in &snapshots {
            tracing::debug!(
                topic = snapshot.topic,
                partition = snapshot.partition,
                offset = snapshot.offset,
                bytes = snapshot.state.len(),
                "checkpoint"
            );
            let record = changelog::record(&state_topic, snapshot);
            self.flow()?.checkpoint(record);
            if let Some(ops) = &self.ops {
                ops.metrics.events().checkpointed(&snapshot.topic, snapshot.partition);
            }
        }
        Ok(())
    }

    /// The report as JSON to the analytics topic, if one is configured.
    fn publish(&mut self, report: &serde_json::Value) -> anyhow::Result<()> {
        let Some(topic) = &self.config.kafka.analytics_topic else {
            return Ok(());
        };
        let key = Some(self.config.kafka.group_id.as_bytes().to_vec());
        let record = Outgoing::new(topic, key, report.to_string().into_bytes(), vec![]);
        flow::produce(self.flow()?.producer(), &record, flow::detached_ticket(1))
    }

    fn idle(&mut self) -> anyhow::Result<()> {
        self.idle_flow()
    }

    fn finish(&mut self, drain: Duration) -> anyhow::Result<()> {
        self.finish_flow(drain)
    }
}

impl Sink<RepairRoute, PartitionSnapshot> for KafkaIo<'_> {
    /// Repaired records back to the input topic, the rest to the parked topic.
    fn send(&mut self, routes: Vec<RepairRoute>) -> anyhow::Result<()> {
        let kafka = &self.config.kafka;
        let outgoing = routes
            .into_iter()
            .map(|route| match route {
                RepairRoute::Fixed { letter, value, attempts } => {
                    let (origin, headers) =
                        (Origin::of(&letter), headers::repaired(&letter, attempts));
                    Outgoing::new(&kafka.input_topic, letter.key, value, headers).from(origin)
                }
                RepairRoute::Parked { letter, reason } => {
                    let (origin, headers) =
                        (Origin::of(&letter), headers::parked(&letter, &reason));
                    Outgoing::new(&kafka.parked_topic, letter.key, letter.value, headers)
                        .from(origin)
                }
            })
            .collect();
        self.send_batch(outgoing, |config, unreadable| {
            let headers = headers::parked(&unreadable.message, &unreadable.reason);
            as_it_came(&config.kafka.parked_topic, unreadable, headers)
        })
    }

    fn idle(&mut self) -> anyhow::Result<()> {
        self.idle_flow()
    }

    fn finish(&mut self, drain: Duration) -> anyhow::Result<()> {
        self.finish_flow(drain)
    }
}

/// An unreadable record to `topic` with its key, value and headers exactly as consumed,
/// then weir's `headers`.
fn as_it_came(
    topic: &str,
    unreadable: Unreadable,
    headers: Vec<weir_core::record::Header>,
) -> Outgoing {
    let Unreadable { message, raw_headers, .. } = unreadable;
    let origin = Origin::of(&message);
    Outgoing {
        raw_headers: Some(raw_headers),
        ..Outgoing::new(topic, message.key, message.value, headers).from(origin)
    }
}

/// Records read, per topic (a batch is nearly always of one topic).
fn count_consumed(metrics: &Metrics, polled: &flow::Polled) {
    let topics = polled
        .messages
        .iter()
        .map(|m| m.topic.as_str())
        .chain(polled.unreadable.iter().map(|u| u.message.topic.as_str()));
    let mut run: Option<(&str, usize)> = None;
    for topic in topics {
        match run {
            Some((current, n)) if current == topic => run = Some((current, n + 1)),
            _ => {
                if let Some((current, n)) = run {
                    metrics.consumed(current, n);
                }
                run = Some((topic, 1));
            }
        }
    }
    if let Some((current, n)) = run {
        metrics.consumed(current, n);
    }
}
