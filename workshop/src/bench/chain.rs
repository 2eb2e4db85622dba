//! The plugin chain in wasm against the same logic compiled natively, on the same records:
//! in total, per stage, and as records and batches grow.

use crate::generate::Generator;
use json_schema_validator::logic::SchemaCheck;
use login_analytics::logic::LoginAnalytics;
use readable_timestamp::logic::Readable;
use serde::Serialize;
use std::time::{Duration, Instant};
use weir_core::config::Config;
use weir_core::pipeline::{Outcome, Pipeline};
use weir_core::plugin::Runtime;
use weir_core::record::Record;
use weir_plugin::{Aggregator, Headers, Record as GuestRecord, Transformer, Validator};

/// Records per second through the whole chain, wasm and native, on the same batches.
#[derive(Debug, Serialize, Default, Clone, Copy)]
pub struct Throughput {
    pub wasm_per_s: f64,
    pub native_per_s: f64,
}

impl Throughput {
    pub fn ratio(&self) -> f64 {
        self.wasm_per_s / self.native_per_s
    }
}

/// One stage alone: µs per record, wasm and native.
#[derive(Debug, Serialize, serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct StageCost {
    pub stage: String,
    pub wasm_us: f64,
    pub native_us: f64,
    /// The same plugin as built for contract 0.1 (0: not measured).
    pub wasm_v1_us: f64,
}

/// The chain at one value size: µs per record and MB of values per second.
#[derive(Debug, Serialize, serde::Deserialize, Default, Clone)]
pub struct SizeCost {
    pub value_bytes: usize,
    pub records: usize,
    pub wasm_us: f64,
    pub native_us: f64,
    pub wasm_mb_per_s: f64,
    pub native_mb_per_s: f64,
}

/// The chain at one batch size: µs per record.
#[derive(Debug, Serialize, serde::Deserialize, Default, Clone)]
pub struct BatchCost {
    pub batch_size: usize,
    pub wasm_us: f64,
    pub native_us: f64,
}

/// The value sizes `weir bench` measures (bytes, about).
pub const VALUE_SIZES: [usize; 3] = [250, 2_000, 20_000];
/// The batch sizes `weir bench` measures.
pub const BATCH_SIZES: [usize; 4] = [1, 10, 100, 1_000];

/// The default pipeline's three plugins, their own code compiled natively into the host
/// and called through the SDK's traits: the same logic, no wasm in between.
pub struct NativeChain {
    validate: SchemaCheck,
    transform: Readable,
    aggregate: LoginAnalytics,
    /// The transform's answer, reused record to record.
    answer: Vec<u8>,
}

impl NativeChain {
    pub fn new(config: &Config) -> anyhow::Result<NativeChain> {
        let validate = config
            .validate
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("bench needs a [validate] stage"))?;
        let transform = config
            .transform
            .first()
            .ok_or_else(|| anyhow::anyhow!("bench needs a [transform] stage"))?;
        let aggregate = config
            .aggregate
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("bench needs an [aggregate] stage"))?;
        let aggregate_config = weir_plugin::parse_config(&crate::host().resolver.stage_json(
            config,
            "aggregate",
            aggregate,
        )?)?;
        Ok(NativeChain {
            validate: Validator::from_config(
                &crate::host().resolver.stage_json(config, "validate", validate)?,
            )?,
            transform: Transformer::from_config(&crate::host().resolver.stage_json(
                config,
                "transform",
                transform,
            )?)?,
            aggregate: Aggregator::new(&aggregate_config),
            answer: Vec::new(),
        })
    }

    /// Validate, transform, aggregate a batch, stage by stage as the pipeline does;
    /// returns how many passed.
    fn run(&mut self, batch: Vec<Record>) -> usize {
        let valid: Vec<Record> =
            batch.into_iter().filter(|m| self.validate.validate(&view(m)).is_ok()).collect();
        let transformed = self.transformed(valid);
        self.aggregate_batch(&transformed);
        transformed.len()
    }

    fn validate_batch(&mut self, batch: &[Record]) -> usize {
        batch.iter().filter(|m| self.validate.validate(&view(m)).is_ok()).count()
    }

    /// What the transform emits for each record; one emitted record takes the input's
    /// place (its value moved in), as the pipeline does.
    fn transformed(&mut self, batch: Vec<Record>) -> Vec<Record> {
        let mut out = Vec::with_capacity(batch.len());
        for mut m in batch {
            let Some(mut values) = self.transform_values(&m) else { continue };
            if values.len() == 1 {
                m.value = values.pop().expect("one value");
                out.push(m);
            } else {
                out.extend(values.into_iter().map(|value| Record { value, ..m.clone() }));
            }
        }
        out
    }

    /// The values the transform emits for `m`, read from its answer as the host reads a
    /// plugin's (the SDK writes the same frame natively), or `None` if it refused `m`.
    fn transform_values(&mut self, m: &Record) -> Option<Vec<Vec<u8>>> {
        use weir_plugin::frame::{Reader, ACCEPTED};
        self.answer.clear();
        weir_plugin::transformer::answer_one(&mut self.transform, &view(m), &mut self.answer);
        let mut r = Reader::new(&self.answer);
        if r.u8().ok()? != ACCEPTED {
            return None;
        }
        let count = r.u32().ok()?;
        let mut values = Vec::with_capacity(count as usize);
        for _ in 0..count {
            values.push(r.bytes().ok()?.to_vec());
            r.maybe_bytes().ok()?;
            Headers::read(&mut r).ok()?;
            r.maybe_text().ok()?;
        }
        Some(values)
    }

    fn aggregate_batch(&mut self, batch: &[Record]) {
        for m in batch {
            self.aggregate.update(&view(m));
        }
    }
}

/// A host record as the SDK's borrowed view (the bench's records carry no headers).
fn view(m: &Record) -> GuestRecord<'_> {
    GuestRecord {
        value: &m.value,
        key: m.key.as_deref(),
        headers: Headers::NONE,
        topic: &m.topic,
        partition: m.partition,
        offset: m.offset,
        timestamp: m.timestamp,
    }
}

/// Where a checkout keeps the shipped plugins as built for contract 0.1.
const CONTRACT_0_1_PLUGINS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../host/tests/fixtures/contract-0.1.0/shipped");

/// `config` with its chain's plugins (validate, first transform, aggregate) as built for
/// contract 0.1, when this weir was built from a checkout that keeps them.
pub fn contract_0_1(config: &Config) -> Option<Config> {
    let kept = std::path::Path::new(CONTRACT_0_1_PLUGINS);
    let mut old = config.clone();
    let stages = [old.validate.as_mut()?, old.transform.first_mut()?, old.aggregate.as_mut()?];
    for stage in stages {
        let path = kept.join(stage.plugin.file_name()?);
        if !path.exists() {
            return None;
        }
        stage.plugin = path;
    }
    Some(old)
}

/// Both chains over `records` in batches of `batch_size`: first one untimed pass each (the
/// steady state of a running process: the guest's memory grown, the host's heap warm),
/// then `rounds` timed passes taking turns, so that a busy spell on a noisy machine falls
/// on both sides alike. Every record must pass both: a benchmark of rejections would
/// measure something else. Each pass gives the records offsets past the last pass's: the
/// aggregate folds a record once per offset (a replayed offset is skipped, as after a
/// restart), so repeated offsets would time every pass after the first without it.
pub fn measure(
    pipeline: &mut Pipeline,
    native: &mut NativeChain,
    records: &[Record],
    batch_size: usize,
    rounds: usize,
) -> anyhow::Result<Throughput> {
    let batches: Vec<Vec<Record>> = records.chunks(batch_size).map(<[Record]>::to_vec).collect();
    let span = records.iter().map(|m| m.offset + 1).max().unwrap_or(0);
    let wasm_pass = |pipeline: &mut Pipeline, pass: i64| {
        let started = Instant::now();
        let rejected: usize = batches
            .iter()
            .map(|batch| {
                let mut batch = batch.clone();
                batch.iter_mut().for_each(|m| m.offset += pass * span);
                let outcomes = pipeline.process(batch);
                outcomes.iter().filter(|o| matches!(o, Outcome::DeadLetter(..))).count()
            })
            .sum();
        (rejected, started.elapsed())
    };
    let native_pass = |native: &mut NativeChain| {
        let started = Instant::now();
        let passed: usize = batches.iter().map(|batch| native.run(batch.clone())).sum();
        (records.len() - passed, started.elapsed())
    };
    let (mut wasm_time, mut native_time) = (Duration::ZERO, Duration::ZERO);
    for round in 0..=rounds {
        let ((wasm_rejected, wasm), (native_rejected, native)) =
            (wasm_pass(pipeline, round as i64), native_pass(native));
        anyhow::ensure!(
            wasm_rejected == 0,
            "the wasm chain rejected {wasm_rejected} of {} generated records",
            records.len()
        );
        anyhow::ensure!(
            native_rejected == 0,
            "the native chain rejected {native_rejected} of {} generated records",
            records.len()
        );
        if round > 0 {
            (wasm_time, native_time) = (wasm_time + wasm, native_time + native);
        }
    }
    let folded = counter(pipeline, "total_logins")?;
    anyhow::ensure!(
        folded >= ((rounds + 1) * records.len()) as u64,
        "the wasm aggregator counted {folded} records of {} passes of {}: a pass was not timed in full",
        rounds + 1,
        records.len()
    );
    let n = records.len() * rounds.max(1);
    Ok(Throughput { wasm_per_s: per_s(n, wasm_time), native_per_s: per_s(n, native_time) })
}

/// The aggregator's counter `name` over everything folded so far.
fn counter(pipeline: &mut Pipeline, name: &str) -> anyhow::Result<u64> {
    let report = pipeline.report(Vec::new())?;
    let analytics = report.analytics.as_ref().map(|(_, analytics)| analytics);
    let found = analytics.and_then(|a| a.counters.iter().find(|c| c.name == name));
    found.map(|c| c.value).ok_or_else(|| anyhow::anyhow!("the aggregator reports no `{name}`"))
}

/// Each stage alone, wasm against native, on the same batches: where the time goes.
pub fn per_stage(
    runtime: &Runtime,
    config: &Config,
    records: &[Record],
    native: &mut NativeChain,
) -> anyhow::Result<Vec<StageCost>> {
    use weir_core::pipeline::load_stage;
    use weir_core::stage::{aggregator::Aggregate, transformer::Transform, validator::Validate};
    let batches: Vec<Vec<Record>> =
        records.chunks(config.pipeline.batch_size).map(<[Record]>::to_vec).collect();
    let n = records.len();
    let micros = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let transformed: Vec<Vec<Record>> =
        batches.iter().map(|b| native.transformed(b.clone())).collect();
    let cost = |stage: &str, wasm: Duration, native: Duration| StageCost {
        stage: stage.into(),
        wasm_us: micros(wasm),
        native_us: micros(native),
        wasm_v1_us: 0.0,
    };
    let mut stages = Vec::new();
    if let Some(v) = &config.validate {
        let mut stage =
            load_stage::<Validate>(runtime, config, "validate", v, crate::host().resolver)?;
        let wasm = steady(|| batches.iter().for_each(|b| drop(stage.run(b))));
        let native = steady(|| {
            batches.iter().for_each(|b| {
                native.validate_batch(b);
            })
        });
        stages.push(cost("validate", wasm, native));
    }
    if let Some(tr) = config.transform.first() {
        let mut stage =
            load_stage::<Transform>(runtime, config, "transform", tr, crate::host().resolver)?;
        let wasm = steady(|| batches.iter().for_each(|b| drop(stage.run(b))));
        let native =
            steady(|| batches.iter().flatten().for_each(|m| drop(native.transform_values(m))));
        stages.push(cost("transform", wasm, native));
    }
    if let Some(a) = &config.aggregate {
        let mut stage =
            load_stage::<Aggregate>(runtime, config, "aggregate", a, crate::host().resolver)?;
        let wasm = steady(|| transformed.iter().for_each(|b| drop(stage.run(b))));
        let native = steady(|| transformed.iter().for_each(|b| native.aggregate_batch(b)));
        stages.push(cost("aggregate", wasm, native));
    }
    Ok(stages)
}

/// The aggregate stage alone in a pipeline over the transformed records, µs per record:
/// as configured (a running state per partition), then on tumbling 1-minute windows of
/// the events' time (a state per window, results when they close).
pub fn windowed_aggregate(
    runtime: &Runtime,
    config: &Config,
    records: &[Record],
    native: &mut NativeChain,
) -> anyhow::Result<(f64, f64)> {
    use weir_core::config::{EventTimeConfig, TimeUnit, WindowConfig};
    let batches: Vec<Vec<Record>> = records
        .chunks(config.pipeline.batch_size)
        .map(|b| native.transformed(b.to_vec()))
        .collect();
    let mut running = config.clone();
    (running.validate, running.transform) = (None, Vec::new());
    let mut windowed = running.clone();
    let time = EventTimeConfig::Field { field: "timestamp".into(), unit: TimeUnit::Text };
    if let Some(aggregate) = windowed.aggregate.as_mut() {
        aggregate.window =
            Some(WindowConfig { size: "1m".into(), time, ..WindowConfig::default() });
    }
    let per_record = |config: &Config| -> anyhow::Result<f64> {
        let mut pipeline = Pipeline::from_config(runtime, config, crate::host().resolver)?;
        let elapsed = timed(|| batches.iter().for_each(|b| drop(pipeline.process(b.clone()))));
        Ok(elapsed.as_secs_f64() * 1e6 / records.len() as f64)
    };
    Ok((per_record(&running)?, per_record(&windowed)?))
}

/// The chain with values of each of `VALUE_SIZES`, at the config's batch size. Fewer
/// records for bigger values: about the same bytes each time.
pub fn record_sizes(
    runtime: &Runtime,
    config: &Config,
    chain_events: usize,
) -> anyhow::Result<Vec<SizeCost>> {
    let mut costs = Vec::new();
    for value_bytes in VALUE_SIZES {
        let n = (40_000_000 / value_bytes).clamp(
            config.pipeline.batch_size * 4,
            chain_events.max(config.pipeline.batch_size * 4),
        );
        let records = sized_events(n, value_bytes);
        let (mut pipeline, mut native) = (
            Pipeline::from_config(runtime, config, crate::host().resolver)?,
            NativeChain::new(config)?,
        );
        let throughput =
            measure(&mut pipeline, &mut native, &records, config.pipeline.batch_size, 1)?;
        let bytes = records.iter().map(|m| m.value.len()).sum::<usize>() as f64 / n as f64;
        costs.push(SizeCost {
            value_bytes,
            records: n,
            wasm_us: 1e6 / throughput.wasm_per_s,
            native_us: 1e6 / throughput.native_per_s,
            wasm_mb_per_s: throughput.wasm_per_s * bytes / 1e6,
            native_mb_per_s: throughput.native_per_s * bytes / 1e6,
        });
    }
    Ok(costs)
}

/// The chain at each of `BATCH_SIZES`: where the per-call cost stops mattering.
pub fn batch_sizes(
    runtime: &Runtime,
    config: &Config,
    records: &[Record],
) -> anyhow::Result<Vec<BatchCost>> {
    let mut costs = Vec::new();
    for batch_size in BATCH_SIZES {
        // Per-call costs dominate small batches: fewer records keep the run short.
        let n = records.len().min(batch_size * 2_000).max(batch_size * 2);
        let (mut pipeline, mut native) = (
            Pipeline::from_config(runtime, config, crate::host().resolver)?,
            NativeChain::new(config)?,
        );
        let throughput =
            measure(&mut pipeline, &mut native, &records[..n.min(records.len())], batch_size, 1)?;
        costs.push(BatchCost {
            batch_size,
            wasm_us: 1e6 / throughput.wasm_per_s,
            native_us: 1e6 / throughput.native_per_s,
        });
    }
    Ok(costs)
}

/// `n` valid login events from a seeded generator, keyed.
pub fn events(n: usize) -> Vec<Record> {
    let mut generator = Generator::new(Some(1), 0.0, 1000.0);
    (0..n)
        .map(|i| {
            let event = generator.next_event();
            Record {
                key: Some(event.key.into_bytes()),
                ..Record::read_from("bench", 0, i as i64, event.value)
            }
        })
        .collect()
}

/// Login events grown to about `value_bytes` with an `attributes` object of short
/// fields, as wide events carry: more to parse, validate and copy, the same logic.
pub fn sized_events(n: usize, value_bytes: usize) -> Vec<Record> {
    events(n)
        .into_iter()
        .map(|mut message| {
            let mut value: serde_json::Value =
                serde_json::from_slice(&message.value).expect("generated JSON");
            let mut attributes = serde_json::Map::new();
            let mut size = message.value.len() + r#","attributes":{}"#.len();
            while size < value_bytes {
                let (name, text) = (format!("attribute_{:04}", attributes.len()), "x".repeat(24));
                size += name.len() + text.len() + 6;
                attributes.insert(name, serde_json::Value::String(text));
            }
            value["attributes"] = serde_json::Value::Object(attributes);
            message.value = serde_json::to_vec(&value).expect("JSON");
            message
        })
        .collect()
}

fn timed(work: impl FnOnce()) -> Duration {
    let started = Instant::now();
    work();
    started.elapsed()
}

/// The second of two runs of `work`: the steady state, as `measure` times the chain.
fn steady(mut work: impl FnMut()) -> Duration {
    work();
    timed(work)
}

pub fn per_s(n: usize, elapsed: Duration) -> f64 {
    n as f64 / elapsed.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sized_events_are_about_the_size_asked_and_still_logins() {
        for size in VALUE_SIZES {
            for message in sized_events(20, size) {
                let len = message.value.len();
                assert!(len >= size && len < size + 60, "{size}: {len}");
                let value: serde_json::Value = serde_json::from_slice(&message.value).unwrap();
                assert!(value["timestamp"].is_i64() && value["device_type"].is_string(), "{value}");
            }
        }
    }
}
