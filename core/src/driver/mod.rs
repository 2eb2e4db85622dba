//! The one loop every flow runs: records from a `Source`, through the plugins, to a
//! `Sink` — files or Kafka, processing or repair.
//!
//! Two threads: the caller's does the I/O (polling, writing, acknowledgements), a plugin
//! thread runs the stages. Batches go through in order, at most `IN_PROCESSING` at a time,
//! so the plugins and the I/O are busy together while memory stays bounded. Where a batch
//! came from (offsets to commit, line numbers) stays with the I/O side: the plugin thread
//! sees records and returns one output per record, in order.

pub mod pipeline;
pub mod repair;

use crate::ops::{Health, Ops};
use crate::record::Record;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Tasks handed to the plugin thread and not yet back.
const IN_PROCESSING: usize = 2;

/// What a source has. `E`: events the plugins' side must see in order with the batches
/// (Kafka's rebalances, which move partition states); files have none.
pub enum Poll<E = ()> {
    /// Records to process. May be empty when everything polled was settled by the source
    /// itself (a record the contract cannot carry); its outputs are still awaited.
    Batch(Vec<Record>),
    /// An event for the plugins' side, in order with the batches around it.
    Event(E),
    /// Nothing yet.
    Idle,
    /// The input has ended (a file's last line).
    Ended,
}

/// Where records come from.
pub trait Source<E = ()> {
    /// Up to `max` records, waiting up to `wait` for the first.
    fn poll(&mut self, max: usize, wait: Duration) -> anyhow::Result<Poll<E>>;
}

/// Where the outputs of each batch go, in the order the batches were polled. `S`: state
/// the plugins' side hands back to keep (Kafka's partition snapshots, for its changelog).
pub trait Sink<T, S = ()> {
    /// The outputs of the oldest batch not yet sent, one per record.
    fn send(&mut self, outputs: Vec<T>) -> anyhow::Result<()>;

    /// Nothing came back this time: a chance to settle acknowledgements.
    fn idle(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// State to keep (Kafka: aggregator partition snapshots, to its changelog topic).
    fn checkpoint(&mut self, _states: Vec<S>) -> anyhow::Result<()> {
        Ok(())
    }

    /// A report to publish while running (Kafka's analytics topic).
    fn publish(&mut self, _report: &serde_json::Value) -> anyhow::Result<()> {
        Ok(())
    }

    /// At the end: wait up to `drain` for what is in flight, then commit or flush.
    fn finish(&mut self, drain: Duration) -> anyhow::Result<()>;
}

/// What the plugin thread is handed, in order.
pub enum Task<E = ()> {
    Batch(Vec<Record>),
    Event(E),
    /// State to keep now: due by time, and once more at the end (a graceful stop).
    Checkpoint,
    /// The input has ended (a file's last line, never Kafka): what waits for more input
    /// is settled now — windows close. Its outputs, if any, come as one batch's.
    Ended,
}

/// What the plugin thread makes of one task.
pub struct Done<T, S = ()> {
    /// One per record of a `Task::Batch`.
    pub outputs: Option<Vec<T>>,
    /// A report to publish, when one is due.
    pub report: Option<serde_json::Value>,
    /// State to keep (`Sink::checkpoint`).
    pub states: Vec<S>,
}

impl<T, S> Done<T, S> {
    pub fn outputs(outputs: Vec<T>) -> Done<T, S> {
        Done { outputs: Some(outputs), report: None, states: Vec::new() }
    }

    /// State to keep, and nothing else.
    pub fn states(states: Vec<S>) -> Done<T, S> {
        Done { outputs: None, report: None, states }
    }
}

/// What the caller controls of the loop: batch size, when it stops (`stop`, then the
/// drain), how often the plugins' state is checkpointed, where it reports.
pub struct Controls<'a> {
    pub batch_size: usize,
    pub stop: &'a AtomicBool,
    pub drain: Duration,
    /// How often the plugins' state is checkpointed (`None`: never).
    pub checkpoint_every: Option<Duration>,
    /// Where the loop reports its health and in-flight batches, when it is watched.
    pub ops: Option<&'a Ops>,
}

/// Runs `work` over every batch of `io` until the source ends or `stop` is raised, then
/// drains and finishes `io` — even after an error, so what is safe is committed.
pub fn drive<T: Send, E: Send, S: Send, IO: Source<E> + Sink<T, S>>(
    io: &mut IO,
    controls: &Controls,
    work: impl FnMut(Task<E>) -> anyhow::Result<Done<T, S>> + Send,
) -> anyhow::Result<()> {
    let result = drive_batches(io, controls, work);
    let finished = io.finish(controls.drain);
    result.and(finished)
}

pub(crate) fn drive_batches<T: Send, E: Send, S: Send, IO: Source<E> + Sink<T, S>>(
    io: &mut IO,
    controls: &Controls,
    mut work: impl FnMut(Task<E>) -> anyhow::Result<Done<T, S>> + Send,
) -> anyhow::Result<()> {
    let (to_plugins, tasks) = mpsc::sync_channel::<Task<E>>(IN_PROCESSING);
    let (to_io, done) = mpsc::channel::<anyhow::Result<Done<T, S>>>();
    std::thread::scope(|scope| {
        let health = controls.ops.map(|ops| ops.health.clone());
        // Named, so `top -H` and a profiler tell it from the I/O thread.
        let plugins = std::thread::Builder::new().name("weir-plugins".into()).spawn_scoped(
            scope,
            move || {
                // Marks the thread dead for `/healthz` if it ends in an error or a panic.
                let mut watch = PluginThreadWatch { health, died: Some("it panicked".to_string()) };
                for task in tasks {
                    let result = work(task);
                    if let Err(e) = &result {
                        watch.died = Some(format!("{e:#}"));
                    }
                    let failed = result.is_err();
                    if to_io.send(result).is_err() || failed {
                        return;
                    }
                }
                watch.died = None;
            },
        )?;
        let io_result = (|| -> anyhow::Result<()> {
            let (mut in_processing, mut ended) = (0usize, false);
            let mut last_checkpoint = Instant::now();
            loop {
                if let Some(ops) = controls.ops {
                    ops.health.io_turned();
                    ops.metrics.inflight_batches.set(in_processing as i64);
                }
                let stopping = ended || controls.stop.load(Ordering::Relaxed);
                if !stopping && in_processing < IN_PROCESSING {
                    // Checkpoints are due by time, busy or idle.
                    let checkpoint = controls
                        .checkpoint_every
                        .is_some_and(|every| last_checkpoint.elapsed() >= every);
                    let task = if checkpoint {
                        last_checkpoint = Instant::now();
                        Some(Task::Checkpoint)
                    } else {
                        // With a batch in the plugins, come back within a millisecond to
                        // send its outputs: latency, not a 20 ms nap on an idle input.
                        let wait = Duration::from_millis(if in_processing > 0 { 1 } else { 20 });
                        match io.poll(controls.batch_size, wait)? {
                            Poll::Ended => {
                                ended = true;
                                None
                            }
                            Poll::Idle => None,
                            Poll::Batch(batch) => Some(Task::Batch(batch)),
                            Poll::Event(event) => Some(Task::Event(event)),
                        }
                    };
                    if let Some(task) = task {
                        if to_plugins.send(task).is_err() {
                            // The plugin thread stopped (a breaker that stops, say): what it
                            // finished still goes out, in order, then its own error.
                            for finished in done.iter() {
                                hand_to_sink(io, finished?)?;
                            }
                            anyhow::bail!("plugin thread ended");
                        }
                        in_processing += 1;
                    }
                }
                if (ended || controls.stop.load(Ordering::Relaxed)) && in_processing == 0 {
                    // At the end of the input, windows close; then the last checkpoint of
                    // the plugins' state, before the flow finishes.
                    let last: &[fn() -> Task<E>] = if ended {
                        &[|| Task::Ended, || Task::Checkpoint]
                    } else {
                        &[|| Task::Checkpoint]
                    };
                    for task in last {
                        if to_plugins.send(task()).is_err() {
                            break;
                        }
                        match done.recv() {
                            Ok(finished) => hand_to_sink(io, finished?)?,
                            Err(_) => anyhow::bail!("plugin thread ended unexpectedly"),
                        }
                    }
                    return Ok(());
                }
                let busy = in_processing == IN_PROCESSING
                    || ended
                    || controls.stop.load(Ordering::Relaxed);
                match done.recv_timeout(if busy {
                    Duration::from_millis(20)
                } else {
                    Duration::ZERO
                }) {
                    Ok(finished) => {
                        in_processing -= 1;
                        hand_to_sink(io, finished?)?;
                    }
                    Err(RecvTimeoutError::Timeout) => io.idle()?,
                    Err(RecvTimeoutError::Disconnected) => {
                        anyhow::bail!("plugin thread ended unexpectedly")
                    }
                }
            }
        })();
        drop(to_plugins);
        plugins.join().expect("the plugin thread does not panic");
        io_result
    })
}

/// What a finished task hands the I/O side: outputs, checkpoints, a report.
fn hand_to_sink<T, S, IO: Sink<T, S>>(io: &mut IO, done: Done<T, S>) -> anyhow::Result<()> {
    if let Some(outputs) = done.outputs {
        io.send(outputs)?;
    }
    if !done.states.is_empty() {
        io.checkpoint(done.states)?;
    }
    if let Some(report) = done.report {
        io.publish(&report)?;
    }
    Ok(())
}

/// Tells `Health` when the plugin thread dies: set `died` to why, cleared on a clean end.
struct PluginThreadWatch {
    health: Option<Arc<Health>>,
    died: Option<String>,
}

impl Drop for PluginThreadWatch {
    fn drop(&mut self) {
        if let (Some(health), Some(died)) = (&self.health, self.died.take()) {
            health.plugin_thread_died(died);
        }
    }
}

#[cfg(test)]
mod tests;
