//! The loop's invariants with an in-memory source and sink and a native stand-in for the
//! plugins: no broker, no wasm, milliseconds. Events and kept states are plain numbers:
//! the loop does not know what they mean.

use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

#[derive(Debug, Clone)]
enum Step {
    Batch(usize),
    State,
    Idle,
}

/// What either side saw, in order. Records are their offsets; a state change and its
/// snapshot carry the change's number.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Batch(Vec<i64>),
    State(i32),
    Checkpoint,
    Finished,
}

/// A scripted source and a recording sink.
struct Memory<'a> {
    script: VecDeque<Step>,
    next_offset: i64,
    states: i32,
    polled: Vec<Seen>,
    settled: Vec<Seen>,
    /// Raised after this many polls that returned something (a SIGTERM mid-stream).
    stop_after: Option<(usize, &'a AtomicBool)>,
}

impl<'a> Memory<'a> {
    fn new(script: Vec<Step>) -> Memory<'a> {
        Memory {
            script: script.into(),
            next_offset: 0,
            states: 0,
            polled: Vec::new(),
            settled: Vec::new(),
            stop_after: None,
        }
    }
}

impl Source<i32> for Memory<'_> {
    fn poll(&mut self, max: usize, _wait: Duration) -> anyhow::Result<Poll<i32>> {
        if let Some((after, stop)) = self.stop_after {
            if self.polled.len() >= after {
                stop.store(true, Ordering::Relaxed);
            }
        }
        let poll = match self.script.pop_front() {
            None => return Ok(Poll::Ended),
            Some(Step::Idle) => {
                std::thread::sleep(Duration::from_micros(300));
                return Ok(Poll::Idle);
            }
            Some(Step::Batch(n)) => {
                let offsets: Vec<i64> =
                    (self.next_offset..self.next_offset + n.min(max) as i64).collect();
                self.next_offset += offsets.len() as i64;
                self.polled.push(Seen::Batch(offsets.clone()));
                Poll::Batch(offsets.into_iter().map(message).collect())
            }
            Some(Step::State) => {
                self.states += 1;
                self.polled.push(Seen::State(self.states));
                Poll::Event(self.states)
            }
        };
        Ok(poll)
    }
}

impl Sink<i64, i32> for Memory<'_> {
    fn send(&mut self, outputs: Vec<i64>) -> anyhow::Result<()> {
        self.settled.push(Seen::Batch(outputs));
        Ok(())
    }

    fn checkpoint(&mut self, states: Vec<i32>) -> anyhow::Result<()> {
        for state in states {
            self.settled.push(if state == 0 { Seen::Checkpoint } else { Seen::State(state) });
        }
        Ok(())
    }

    fn finish(&mut self, _drain: Duration) -> anyhow::Result<()> {
        self.settled.push(Seen::Finished);
        Ok(())
    }
}

fn message(offset: i64) -> Record {
    Record {
        key: None,
        value: Vec::new(),
        headers: Vec::new(),
        topic: "in".into(),
        partition: 0,
        offset,
        timestamp: None,
    }
}

/// The plugins' side: each output is its input's offset, after a delay from `delays`
/// (microseconds, in turn); an event answers with a state to keep naming it, a checkpoint
/// with 0. Records what it was handed, in order.
fn native_plugins<'a>(
    seen: &'a mut Vec<Seen>,
    delays: &'a [u64],
) -> impl FnMut(Task<i32>) -> anyhow::Result<Done<i64, i32>> + Send + 'a {
    let mut delay = delays.iter().cycle();
    move |task| {
        std::thread::sleep(Duration::from_micros(delay.next().copied().unwrap_or(0)));
        Ok(match task {
            Task::Batch(batch) => {
                let offsets: Vec<i64> = batch.iter().map(|m| m.offset).collect();
                seen.push(Seen::Batch(offsets.clone()));
                Done::outputs(offsets)
            }
            Task::Event(n) => {
                seen.push(Seen::State(n));
                Done::states(vec![n])
            }
            Task::Checkpoint => {
                seen.push(Seen::Checkpoint);
                Done::states(vec![0])
            }
            Task::Ended => Done::states(Vec::new()),
        })
    }
}

fn controls(stop: &AtomicBool) -> Controls<'_> {
    Controls { batch_size: 4, stop, drain: Duration::ZERO, checkpoint_every: None, ops: None }
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![6 => (0usize..7).prop_map(Step::Batch), 1 => Just(Step::State), 2 => Just(Step::Idle)];
    prop::collection::vec(step, 0..40)
}

/// What the sink must have seen: everything polled, in order — each batch's outputs
/// after the batches and state changes polled before it — then the last checkpoint, then
/// the finish.
fn expected(polled: &[Seen]) -> Vec<Seen> {
    polled.iter().cloned().chain([Seen::Checkpoint, Seen::Finished]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_record_and_state_change_is_settled_once_in_poll_order(script in steps(), delays in prop::collection::vec(0u64..400, 1..8)) {
        let stop = AtomicBool::new(false);
        let mut io = Memory::new(script);
        let mut handed = Vec::new();
        drive(&mut io, &controls(&stop), native_plugins(&mut handed, &delays)).unwrap();
        // The plugins were handed the tasks in poll order, then the last checkpoint.
        prop_assert_eq!(&handed, &io.polled.iter().cloned().chain([Seen::Checkpoint]).collect::<Vec<_>>());
        prop_assert_eq!(&io.settled, &expected(&io.polled));
    }

    #[test]
    fn a_stop_mid_stream_drains_what_was_polled_and_polls_no_more(script in steps(), after in 0usize..10, delays in prop::collection::vec(0u64..400, 1..8)) {
        let stop = AtomicBool::new(false);
        let mut io = Memory::new(script);
        io.stop_after = Some((after, &stop));
        let mut handed = Vec::new();
        drive(&mut io, &controls(&stop), native_plugins(&mut handed, &delays)).unwrap();
        // The poll that raised the stop still returns what it read: that is drained too.
        prop_assert!(io.polled.len() <= after + 1, "{} polled after the stop at {}", io.polled.len(), after);
        prop_assert_eq!(&io.settled, &expected(&io.polled));
    }
}

/// A plugin thread that fails: what finished before it is still sent, in order, the
/// error comes back, and the sink is finished (so what is safe is committed).
#[test]
fn a_failing_task_ends_the_flow_after_what_finished_before_it() {
    let stop = AtomicBool::new(false);
    let mut io = Memory::new((0..6).map(|_| Step::Batch(2)).collect());
    let mut tasks = 0;
    let result = drive(&mut io, &controls(&stop), |task| {
        tasks += 1;
        match task {
            Task::Batch(batch) if batch[0].offset == 6 => {
                anyhow::bail!("plugin thread failed on batch 4")
            }
            Task::Batch(batch) => Ok(Done::outputs(batch.iter().map(|m| m.offset).collect())),
            _ => Ok(Done::states(Vec::new())),
        }
    });
    assert_eq!(result.unwrap_err().to_string(), "plugin thread failed on batch 4");
    let sent: Vec<Seen> =
        io.settled.iter().filter(|s| matches!(s, Seen::Batch(_))).cloned().collect();
    assert_eq!(sent, [Seen::Batch(vec![0, 1]), Seen::Batch(vec![2, 3]), Seen::Batch(vec![4, 5])]);
    assert_eq!(io.settled.last(), Some(&Seen::Finished));
    assert_eq!(tasks, 4, "nothing is handed to the plugins after the failure");
}

/// Checkpoints are due by time even on an idle input, in order with the batches.
#[test]
fn checkpoints_come_by_time_between_batches() {
    let stop = AtomicBool::new(false);
    let mut script = vec![Step::Batch(3)];
    script.extend((0..20).map(|_| Step::Idle));
    script.push(Step::Batch(3));
    let mut io = Memory::new(script);
    let mut handed = Vec::new();
    let controls = Controls { checkpoint_every: Some(Duration::from_millis(1)), ..controls(&stop) };
    drive(&mut io, &controls, native_plugins(&mut handed, &[0])).unwrap();
    let checkpoints = io.settled.iter().filter(|s| **s == Seen::Checkpoint).count();
    assert!(checkpoints > 2, "{:?}", io.settled);
    let batches: Vec<&Seen> = io.settled.iter().filter(|s| matches!(s, Seen::Batch(_))).collect();
    assert_eq!(batches, [&Seen::Batch(vec![0, 1, 2]), &Seen::Batch(vec![3, 4, 5])]);
    assert_eq!(io.settled.last(), Some(&Seen::Finished));
}
