//! Where one input record ends up, and why a record was refused.

use crate::plugin::{Fault, FaultKind};
use crate::record::{Record, Violation};
use crate::stage::{Kind, Stage};
use serde::Serialize;
use std::path::Path;

/// Where one input record ends up.
#[derive(Debug)]
pub enum Outcome {
    /// What the stages made of it: one record, unless a transformer (contract 0.2)
    /// filtered it out (none) or fanned it out (several).
    Processed(Vec<Output>),
    /// The original record, unchanged, with why it was rejected.
    DeadLetter(Record, Rejection),
}

/// A record to deliver, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub message: Record,
    /// The topic of the named output a transformer chose; `None`: the output topic (for
    /// a late record: the dead-letter topic).
    pub topic: Option<String>,
    pub role: Role,
}

/// What an output is, which decides its headers.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// A record the stages made: the user's headers only.
    Record,
    /// A window's result, made by the host: its `weir.window.*` headers are kept.
    Window,
    /// A copy of a record that came too late for its window (or had no event time): a
    /// dead letter of kind `late`, with provenance. The record itself was delivered.
    Late(Rejection),
}

impl Output {
    /// A record the stages made, to `topic` (`None`: the output topic).
    pub fn record(message: Record, topic: Option<String>) -> Output {
        Output { message, topic, role: Role::Record }
    }
}

impl Outcome {
    /// The input went through unchanged in number: one record to the output topic.
    pub fn processed(message: Record) -> Outcome {
        Outcome::Processed(vec![Output::record(message, None)])
    }

    /// Why the record was refused; `None` when the plugins handled it.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Outcome::Processed(_) => None,
            Outcome::DeadLetter(_, rejection) => Some(rejection),
        }
    }
}

/// Provenance of a dead letter: which stage and plugin said no, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejection {
    pub stage: String,
    pub plugin: String,
    pub violations: Vec<Violation>,
    /// Set when the plugin failed (trap, limit, broken contract) rather than judging
    /// the record.
    #[serde(skip)]
    pub fault: Option<FaultKind>,
    /// Who said no when no plugin faulted: the plugin, or the host by itself.
    #[serde(skip)]
    pub cause: Cause,
}

/// Who refused a record when no plugin faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cause {
    /// The plugin judged it (a violation).
    #[default]
    Plugin,
    /// It came after its window closed (a windowed aggregator's verdict).
    Late,
    /// Its bytes are not in its topic's format (broken framing, unknown schema id, Avro
    /// that does not match), or what became of it does not fit the output's schema.
    Format,
}

/// Violations a rejection (and so a dead letter's header) carries at most, each reason
/// and path cut to at most `MAX_REASON_CHARS`: a plugin's reasons never make a record too
/// large to produce, nor cost the host more than this to carry.
pub(crate) const MAX_VIOLATIONS: usize = 20;
const MAX_REASON_CHARS: usize = 300;

/// At most `MAX_VIOLATIONS`, each path and reason cut to `MAX_REASON_CHARS`.
pub(crate) fn bounded(violations: &[Violation]) -> Vec<Violation> {
    let cut = |text: &str| crate::text::cut(text, MAX_REASON_CHARS);
    let mut kept: Vec<Violation> = violations
        .iter()
        .take(MAX_VIOLATIONS)
        .map(|v| Violation { path: cut(&v.path), reason: cut(&v.reason) })
        .collect();
    if violations.len() > MAX_VIOLATIONS {
        let more = violations.len() - MAX_VIOLATIONS;
        kept.push(Violation {
            path: String::new(),
            reason: format!("… and {more} more violations"),
        });
    }
    kept
}

impl Rejection {
    /// The violations are cut as they come (a plugin's reason can be as long as its
    /// record): nothing after this pays for more than `headers::bounded` keeps.
    pub(crate) fn new<K: Kind>(stage: &Stage<K>, violations: Vec<Violation>) -> Rejection {
        Rejection {
            stage: stage.name().to_string(),
            plugin: plugin_name(stage.plugin_path()),
            violations: bounded(&violations),
            fault: None,
            cause: Cause::Plugin,
        }
    }

    /// The host refused a record by itself, before or after the plugins: `stage` says
    /// where (`format`, `consume`), the plugin is `weir`.
    pub fn host(stage: &str, cause: Cause, reason: String) -> Rejection {
        Rejection {
            stage: stage.into(),
            plugin: "weir".into(),
            violations: bounded(&[root_violation(reason)]),
            fault: None,
            cause,
        }
    }

    pub(crate) fn fault<K: Kind>(stage: &Stage<K>, fault: Fault) -> Rejection {
        Rejection {
            fault: Some(fault.kind),
            ..Rejection::new(stage, vec![root_violation(format!("plugin {}", fault.reason))])
        }
    }

    pub fn is_fault(&self) -> bool {
        self.fault.is_some()
    }

    /// A fault of the plugin's (not an input the host refused by itself).
    pub fn blames_plugin(&self) -> bool {
        self.fault.is_some_and(FaultKind::blames_plugin)
    }

    /// `violation` when the plugin judged the record, else the fault's kind; `late` for a
    /// record that missed its window; `format` for one not in its topic's format.
    pub fn kind(&self) -> &'static str {
        match (self.fault, self.cause) {
            (Some(fault), _) => fault.as_str(),
            (None, Cause::Late) => "late",
            (None, Cause::Format) => "format",
            (None, Cause::Plugin) => "violation",
        }
    }

    /// The reasons as one line, for logs.
    pub fn summary(&self) -> String {
        summary(&self.violations)
    }
}

/// Violations as one line: `/timestamp: "x" is not of type "integer"; ...`.
pub fn summary(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(
            |v| {
                if v.path.is_empty() {
                    v.reason.clone()
                } else {
                    format!("{}: {}", v.path, v.reason)
                }
            },
        )
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn root_violation(reason: String) -> Violation {
    Violation { path: String::new(), reason }
}

/// `target/plugins/readable-timestamp.wasm` → `readable-timestamp`.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}
