//! `weir process` and `weir repair --input`: the pipeline over JSON-lines files.

use crate::bindings::types::Message;
use crate::config::Config;
use crate::dead_letter::DeadLetterLine;
use crate::pipeline::{Outcome, Pipeline};
use crate::repair::{Repaired, Repairer};
use crate::report::Format;
use anyhow::Context;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where lines come from and go to; `None` means stdin, stdout or stderr.
pub struct Files {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    /// Rejected records (dead letters, or unrepairable records).
    pub rejects: Option<PathBuf>,
}

impl Files {
    fn reader(&self) -> anyhow::Result<(String, Box<dyn BufRead>)> {
        Ok(match &self.input {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open input {}", path.display()))?;
                (display_name(path), Box::new(std::io::BufReader::new(file)))
            }
            None => ("stdin".to_string(), Box::new(std::io::stdin().lock())),
        })
    }

    fn output(&self) -> anyhow::Result<Box<dyn Write>> {
        open_or(self.output.as_deref(), || Box::new(std::io::stdout().lock()))
    }

    fn rejects(&self) -> anyhow::Result<Box<dyn Write>> {
        open_or(self.rejects.as_deref(), || Box::new(std::io::stderr()))
    }
}

fn open_or(path: Option<&Path>, default: impl FnOnce() -> Box<dyn Write>) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => default(),
    })
}

fn display_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

/// Reads JSON lines in batches; blank lines are not records and are skipped.
/// Lines need not be UTF-8: whatever bytes they hold become the record's value.
fn for_each_batch(
    mut reader: Box<dyn BufRead>,
    batch_size: usize,
    mut handle: impl FnMut(Vec<(u64, Vec<u8>)>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(batch_size);
    let mut line_no = 0u64;
    loop {
        let mut line = Vec::new();
        let read = reader.read_until(b'\n', &mut line).context("cannot read input")?;
        if read == 0 {
            break;
        }
        line_no += 1;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        batch.push((line_no, line));
        if batch.len() == batch_size {
            handle(std::mem::replace(&mut batch, Vec::with_capacity(batch_size)))?;
        }
    }
    if !batch.is_empty() {
        handle(batch)?;
    }
    Ok(())
}

fn message(source: &str, line_no: u64, value: Vec<u8>) -> Message {
    Message {
        key: None,
        value,
        headers: Vec::new(),
        topic: source.to_string(),
        partition: 0,
        offset: line_no as i64,
        timestamp: None,
    }
}

/// `weir process`: every line ends up in the output or the dead-letter stream.
pub fn process(pipeline: &mut Pipeline, config: &Config, files: &Files, report: Format) -> anyhow::Result<()> {
    let (source, reader) = files.reader()?;
    let mut output = files.output()?;
    let mut dead = files.rejects()?;
    let mut breaker = crate::breaker::Breaker::new(config.pipeline.max_consecutive_faults);
    for_each_batch(reader, config.pipeline.batch_size, |batch| {
        let messages = batch.into_iter().map(|(n, line)| message(&source, n, line)).collect();
        let outcomes = pipeline.process(messages);
        breaker.check(&outcomes).map_err(|tripped| anyhow::anyhow!("{tripped}; stopping"))?;
        for outcome in outcomes {
            match outcome {
                Outcome::Processed(m) => {
                    output.write_all(&m.value)?;
                    output.write_all(b"\n")?;
                }
                Outcome::DeadLetter(m, rejection) => {
                    let (value, value_base64) = DeadLetterLine::encode_value(&m.value);
                    let line = DeadLetterLine {
                        source: format!("{}:{}", m.topic, m.offset),
                        stage: rejection.stage,
                        plugin: rejection.plugin,
                        violations: rejection.violations,
                        value,
                        value_base64,
                    };
                    serde_json::to_writer(&mut dead, &line)?;
                    dead.write_all(b"\n")?;
                }
            }
        }
        Ok(())
    })?;
    output.flush()?;
    dead.flush()?;
    print_report(pipeline, report)
}

pub fn print_report(pipeline: &mut Pipeline, format: Format) -> anyhow::Result<()> {
    crate::say!("{}", pipeline.report(Vec::new())?.render(format));
    Ok(())
}

/// `weir repair --input`: repaired values out, unrepairable records with reasons.
/// Input lines may be dead letters written by `weir process` or plain JSON values.
pub fn repair(repairer: &mut Repairer, config: &Config, files: &Files) -> anyhow::Result<(u64, u64)> {
    let (source, reader) = files.reader()?;
    let mut output = files.output()?;
    let mut rejects = files.rejects()?;
    let (mut fixed, mut unrepairable) = (0u64, 0u64);
    for_each_batch(reader, config.pipeline.batch_size, |batch| {
        let mut origins = Vec::with_capacity(batch.len());
        let items = batch
            .into_iter()
            .map(|(n, line)| {
                let letter = serde_json::from_slice::<DeadLetterLine>(&line).ok();
                let origin = letter.as_ref().map(|l| l.source.clone()).unwrap_or_else(|| format!("{source}:{n}"));
                let (value, violations) = match letter.as_ref().and_then(|l| Some((l.value_bytes()?, l))) {
                    Some((value, l)) if !l.violations.is_empty() => (value, Some(l.violations.clone())),
                    Some((value, _)) => (value, None),
                    None => (line, None),
                };
                origins.push(origin);
                (message(&source, n, value), violations)
            })
            .collect::<Vec<_>>();
        let values: Vec<Vec<u8>> = items.iter().map(|(m, _)| m.value.clone()).collect();
        for ((result, origin), original) in repairer.repair(items).into_iter().zip(origins).zip(values) {
            match result {
                Repaired::Fixed(value) => {
                    fixed += 1;
                    output.write_all(&value)?;
                    output.write_all(b"\n")?;
                }
                Repaired::Unrepairable(reason) => {
                    unrepairable += 1;
                    let (value, value_base64) = DeadLetterLine::encode_value(&original);
                    let line = UnrepairableLine { source: origin, reason, value, value_base64 };
                    serde_json::to_writer(&mut rejects, &line)?;
                    rejects.write_all(b"\n")?;
                }
            }
        }
        Ok(())
    })?;
    output.flush()?;
    rejects.flush()?;
    Ok((fixed, unrepairable))
}

/// One line of an `--unrepairable` file.
#[derive(serde::Serialize)]
struct UnrepairableLine {
    source: String,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
}
