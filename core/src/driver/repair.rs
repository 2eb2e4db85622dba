//! The repair driver: dead letters through the repair plugin (and validation of what it
//! makes), each either fixed — back to the input — or parked with the reason. A record
//! comes back through repair at most `max_attempts` times: never an endless loop.

use super::{Controls, Done, Sink, Source, Task};
use crate::headers;
use crate::pipeline::repair::{RepairPipeline, Repaired};
use crate::record::Record;
use serde::Serialize;

/// Where one dead letter goes; each carries the dead letter as it came in.
#[derive(Debug)]
pub enum RepairRoute {
    /// Back to the input with its new value; `attempts` counts this repair.
    Fixed { letter: Record, value: Vec<u8>, attempts: u32 },
    /// Given up on, with why.
    Parked { letter: Record, reason: String },
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct RepairStats {
    pub dead_letters_in: u64,
    pub repaired: u64,
    pub parked: u64,
}

pub fn drive_repair<E: Send, S: Send, IO: Source<E> + Sink<RepairRoute, S>>(
    io: &mut IO,
    repairer: &mut RepairPipeline,
    controls: &Controls,
) -> anyhow::Result<RepairStats> {
    let mut stats = RepairStats::default();
    super::drive(io, controls, |task| {
        // Repair keeps no state: only batches matter.
        let Task::Batch(batch) = task else { return Ok(Done::states(Vec::new())) };
        let outputs = route(repairer, batch);
        stats.dead_letters_in += outputs.len() as u64;
        for route in &outputs {
            match route {
                RepairRoute::Fixed { .. } => stats.repaired += 1,
                RepairRoute::Parked { .. } => stats.parked += 1,
            }
        }
        Ok(Done::outputs(outputs))
    })?;
    Ok(stats)
}

/// One route per dead letter, in order. The violations a letter carries (its
/// `weir.error.reasons` header) are used; a letter without them is validated first.
pub fn route(repairer: &mut RepairPipeline, batch: Vec<Record>) -> Vec<RepairRoute> {
    let mut routes: Vec<Option<RepairRoute>> = (0..batch.len()).map(|_| None).collect();
    let (mut slots, mut to_repair, mut letters) = (Vec::new(), Vec::new(), Vec::new());
    for (i, letter) in batch.into_iter().enumerate() {
        let attempts = headers::repair_attempts(&letter.headers);
        if attempts >= repairer.max_attempts {
            let last = headers::reasons(&letter.headers)
                .map(|v| crate::pipeline::summary(&v))
                .unwrap_or_default();
            let reason =
                format!("gave up after {attempts} repair attempts; last rejection: {last}");
            routes[i] = Some(RepairRoute::Parked { letter, reason });
        } else {
            slots.push(i);
            to_repair.push((letter.clone(), headers::reasons(&letter.headers)));
            letters.push((letter, attempts));
        }
    }
    for ((i, (letter, attempts)), result) in
        slots.into_iter().zip(letters).zip(repairer.repair(to_repair))
    {
        routes[i] = Some(match result {
            Repaired::Fixed(value) => RepairRoute::Fixed { letter, value, attempts: attempts + 1 },
            Repaired::Unrepairable(reason) => RepairRoute::Parked { letter, reason },
        });
    }
    routes.into_iter().map(|r| r.expect("every dead letter is routed")).collect()
}
