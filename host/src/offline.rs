//! Files as a source and a sink: `weir process` and `weir repair --input` over JSON lines.

use crate::dead_letter::DeadLetterLine;
use crate::report::Format;
use anyhow::Context;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use weir_core::config::Config;
use weir_core::driver::pipeline::{drive_pipeline, FinalReport, OnTrip, PipelineOptions};
use weir_core::driver::repair::{RepairRoute, RepairStats};
use weir_core::driver::{Controls, Poll, Sink, Source};
use weir_core::headers;
use weir_core::pipeline::repair::RepairPipeline;
use weir_core::pipeline::{Outcome, Pipeline, Rejection, Role};
use weir_core::record::{Header, Record};

/// Where lines come from and go to; `None` means stdin, stdout or stderr.
pub struct Files {
    pub input: Option<PathBuf>,
    pub output: Option<PathBuf>,
    /// Rejected records (dead letters, or unrepairable records).
    pub rejects: Option<PathBuf>,
    /// Window results of a windowed aggregator; `None`: with the output.
    pub windows: Option<PathBuf>,
}

impl Files {
    /// Creating an output truncates it: one that is the input would be read empty.
    fn refuse_overwriting_the_input(&self) -> anyhow::Result<()> {
        let Some(input) = self.input.as_deref().and_then(|p| p.canonicalize().ok()) else {
            return Ok(());
        };
        for (flag, path) in [
            ("--output", &self.output),
            ("the rejects file", &self.rejects),
            ("--windows", &self.windows),
        ] {
            let Some(path) = path else { continue };
            if absolute(path).is_some_and(|p| p == input) {
                anyhow::bail!("{flag} {} is the input file; write somewhere else", path.display());
            }
        }
        Ok(())
    }
}

/// Where `path` is or would be created, through symbolic links; `None` if its directory
/// does not exist (then it cannot be the input either).
fn absolute(path: &Path) -> Option<PathBuf> {
    path.canonicalize().ok().or_else(|| {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some(dir.canonicalize().ok()?.join(path.file_name()?))
    })
}

/// `weir process`: every line ends up in the output or the dead-letter stream.
pub fn process(
    pipeline: &mut Pipeline,
    config: &Config,
    files: &Files,
    report: Format,
) -> anyhow::Result<FinalReport> {
    let mut io = FileIo::open(files)?;
    let options = PipelineOptions {
        on_trip: OnTrip::Stop,
        max_consecutive_faults: config.pipeline.max_consecutive_faults,
        report_every: None,
        show: &|r| crate::report::render(r, report),
        say: &|text| crate::say!("{text}"),
        on_batch: None,
    };
    drive_pipeline(&mut io, pipeline, &to_the_end(config), &options, None)
}

/// `weir repair --input`: repaired values out, unrepairable records with reasons.
/// Input lines may be dead letters written by `weir process` or plain JSON values.
pub fn repair(
    repairer: &mut RepairPipeline,
    config: &Config,
    files: &Files,
) -> anyhow::Result<RepairStats> {
    let mut io = FileIo { dead_letters: true, ..FileIo::open(files)? };
    weir_core::driver::repair::drive_repair::<(), (), _>(&mut io, repairer, &to_the_end(config))
}

/// Files end by themselves: no stop signal, nothing to drain.
fn to_the_end(config: &Config) -> Controls<'static> {
    static NEVER: AtomicBool = AtomicBool::new(false);
    Controls {
        batch_size: config.pipeline.batch_size,
        stop: &NEVER,
        drain: Duration::ZERO,
        checkpoint_every: None,
        ops: None,
    }
}

struct FileIo {
    /// `input.jsonl` or `stdin`: the records' `topic`; their `offset` is the line number.
    source: String,
    reader: Box<dyn BufRead + Send>,
    line_no: u64,
    /// Lines are dead letters as `weir process` writes them (for repair).
    dead_letters: bool,
    output: Box<dyn Write>,
    rejects: Box<dyn Write>,
    /// Window results, when they have a file of their own.
    windows: Option<Box<dyn Write>>,
}

impl FileIo {
    fn open(files: &Files) -> anyhow::Result<FileIo> {
        files.refuse_overwriting_the_input()?;
        let (source, reader): (String, Box<dyn BufRead + Send>) = match &files.input {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .with_context(|| format!("cannot open input {}", path.display()))?;
                (display_name(path), Box::new(std::io::BufReader::new(file)))
            }
            None => ("stdin".to_string(), Box::new(std::io::BufReader::new(std::io::stdin()))),
        };
        Ok(FileIo {
            source,
            reader,
            line_no: 0,
            dead_letters: false,
            output: open_or(files.output.as_deref(), || Box::new(std::io::stdout().lock()))?,
            rejects: open_or(files.rejects.as_deref(), || Box::new(std::io::stderr()))?,
            windows: match &files.windows {
                Some(path) => Some(open_or(Some(path), || unreachable!())?),
                None => None,
            },
        })
    }

    /// The next non-blank line, its newline cut. Lines need not be UTF-8: whatever bytes
    /// they hold become the record's value.
    fn next_line(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        loop {
            let mut line = Vec::new();
            if self.reader.read_until(b'\n', &mut line).context("cannot read input")? == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if !line.is_empty() {
                return Ok(Some(line));
            }
        }
    }

    /// A dead letter as a line of the rejects file.
    fn reject(&mut self, m: &Record, rejection: Rejection) -> anyhow::Result<()> {
        let (value, value_base64) = DeadLetterLine::encode_value(&m.value);
        let kind = (rejection.cause != weir_core::pipeline::Cause::Plugin)
            .then(|| rejection.kind().to_string());
        let line = DeadLetterLine {
            source: format!("{}:{}", m.topic, m.offset),
            stage: rejection.stage,
            plugin: rejection.plugin,
            violations: rejection.violations,
            kind,
            value,
            value_base64,
        };
        Ok(write_line(&mut self.rejects, &serde_json::to_vec(&line)?)?)
    }

    fn record(&self, line: Vec<u8>) -> Record {
        let message = Record::read_from(&self.source, 0, self.line_no as i64, line);
        if self.dead_letters {
            from_dead_letter_line(message)
        } else {
            message
        }
    }
}

/// A `--dead-letter` line as the dead letter it was: original value, where it came from,
/// and its violations as the `weir.error.reasons` header (as on the dead-letter topic).
/// Any other line is a value whose violations are not known yet.
fn from_dead_letter_line(message: Record) -> Record {
    let Ok(letter) = serde_json::from_slice::<DeadLetterLine>(&message.value) else {
        return message;
    };
    let Some(value) = letter.value_bytes() else {
        return message;
    };
    let (topic, offset) = match letter.source.rsplit_once(':') {
        Some((topic, offset)) if offset.parse::<i64>().is_ok() => {
            (topic.to_string(), offset.parse().unwrap_or_default())
        }
        _ => (letter.source.clone(), 0),
    };
    let mut headers = Vec::new();
    if !letter.violations.is_empty() {
        let reasons = serde_json::to_vec(&letter.violations).expect("violations serialise");
        headers.push(Header { key: headers::REASONS.to_string(), value: reasons });
    }
    Record { value, headers, topic, offset, ..message }
}

/// Files have no events: whatever the driver's event type, none comes.
impl<E> Source<E> for FileIo {
    fn poll(&mut self, max: usize, _wait: Duration) -> anyhow::Result<Poll<E>> {
        let mut batch = Vec::with_capacity(max);
        while batch.len() < max {
            match self.next_line()? {
                Some(line) => batch.push(self.record(line)),
                None if batch.is_empty() => return Ok(Poll::Ended),
                None => break,
            }
        }
        Ok(Poll::Batch(batch))
    }
}

/// Files keep no state: what the plugins' side hands back to keep is theirs alone.
impl<S> Sink<Outcome, S> for FileIo {
    fn send(&mut self, outcomes: Vec<Outcome>) -> anyhow::Result<()> {
        for outcome in outcomes {
            match outcome {
                // A file has one output: records a transformer routed to a named output
                // are written there too, in order; window results too, unless they have
                // a file of their own; late records are dead letters of kind `late`.
                Outcome::Processed(outputs) => {
                    for output in outputs {
                        match output.role {
                            Role::Record => write_line(&mut self.output, &output.message.value)?,
                            Role::Window => write_line(
                                self.windows.as_mut().unwrap_or(&mut self.output),
                                &output.message.value,
                            )?,
                            Role::Late(rejection) => self.reject(&output.message, rejection)?,
                        }
                    }
                }
                Outcome::DeadLetter(m, rejection) => self.reject(&m, rejection)?,
            }
        }
        Ok(())
    }

    fn finish(&mut self, _drain: Duration) -> anyhow::Result<()> {
        self.output.flush()?;
        self.rejects.flush()?;
        if let Some(windows) = &mut self.windows {
            windows.flush()?;
        }
        Ok(())
    }
}

impl<S> Sink<RepairRoute, S> for FileIo {
    fn send(&mut self, routes: Vec<RepairRoute>) -> anyhow::Result<()> {
        for route in routes {
            match route {
                RepairRoute::Fixed { value, .. } => write_line(&mut self.output, &value)?,
                RepairRoute::Parked { letter, reason } => {
                    let (value, value_base64) = DeadLetterLine::encode_value(&letter.value);
                    let source = format!("{}:{}", letter.topic, letter.offset);
                    let line = UnrepairableLine { source, reason, value, value_base64 };
                    write_line(&mut self.rejects, &serde_json::to_vec(&line)?)?;
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, drain: Duration) -> anyhow::Result<()> {
        <Self as Sink<Outcome, S>>::finish(self, drain)
    }
}

fn write_line(out: &mut dyn Write, line: &[u8]) -> std::io::Result<()> {
    out.write_all(line)?;
    out.write_all(b"\n")
}

fn open_or(
    path: Option<&Path>,
    default: impl FnOnce() -> Box<dyn Write>,
) -> anyhow::Result<Box<dyn Write>> {
    Ok(match path {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => default(),
    })
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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
