//! `weir shadow`: a candidate plugin beside the current one, over the same records. Every
//! record goes through the whole chain twice (as configured, and with the candidate in its
//! stage, under the same limits), and what comes out is compared record by record.
//! Nothing is written anywhere but the report.

use serde::Serialize;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use weir_core::config::{Config, StageConfig};
use weir_core::pipeline::{Outcome, Output, Pipeline, Rejection, Role};
use weir_core::record::Record;

/// The plugin to try, and the stage it would replace.
pub struct Candidate {
    /// `validate`, `transform`, `transform[N]`, or a stage's `name`.
    pub stage: String,
    pub plugin: PathBuf,
    /// The stage's `config` table for the candidate; `None`: the current one.
    pub config: Option<toml::Table>,
}

/// `config` with the candidate in its stage (its plugin, and its config if given).
pub fn with_candidate(config: &Config, candidate: &Candidate) -> anyhow::Result<Config> {
    anyhow::ensure!(
        candidate.stage != "repair",
        "`weir shadow` compares the pipeline's stages; a repair candidate is not compared yet"
    );
    let mut next = config.clone();
    let names: Vec<String> = config.stages().into_iter().map(|(key, _)| key).collect();
    let stage = stage_mut(&mut next, &candidate.stage).ok_or_else(|| {
        anyhow::anyhow!(
            "no stage `{}` to shadow: the config has {} (a transformer also by its name)",
            candidate.stage,
            names.join(", ")
        )
    })?;
    stage.plugin = std::path::absolute(&candidate.plugin)?;
    if let Some(table) = &candidate.config {
        stage.config = table.clone();
    }
    Ok(next)
}

fn stage_mut<'a>(config: &'a mut Config, stage: &str) -> Option<&'a mut StageConfig> {
    let single = config.transform.len() == 1;
    match stage {
        "validate" => config.validate.as_mut(),
        "transform" if single => config.transform.first_mut(),
        "aggregate" => config.aggregate.as_mut(),
        "repair" => None,
        _ => {
            let index = stage
                .strip_prefix("transform[")
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|i| i.parse::<usize>().ok());
            match index {
                Some(i) => config.transform.get_mut(i),
                None => config.transform.iter_mut().find(|s| s.name.as_deref() == Some(stage)),
            }
        }
    }
}

/// What the candidate made of one record, against the current plugin.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    Identical,
    /// Both delivered it, differently: what differs (JSON pointers of the value's fields,
    /// or `(key)`, `(headers)`, `(output)`, `(records)`, `(value)` when not JSON;
    /// `(dead-letter reasons)` when both refused it for different reasons).
    Changed(Vec<String>),
    /// The current chain delivers it; the candidate's refuses it (its reason).
    NewDeadLetter(String),
    /// The candidate's plugin failed on it (trap, timeout, memory, broken contract).
    Faulted(String),
    /// The current chain refuses it; the candidate's delivers it.
    NewlyPassing,
}

/// How the outcomes of one record compare.
pub fn compare(current: &Outcome, candidate: &Outcome) -> Difference {
    match (current, candidate) {
        (Outcome::Processed(a), Outcome::Processed(b)) => {
            // Window results are compared window by window (`Shadowing::windows`).
            let (a, b) = (records_of(a), records_of(b));
            match a == b {
                true => Difference::Identical,
                false => Difference::Changed(changed(&a, &b)),
            }
        }
        (_, Outcome::DeadLetter(_, r)) if r.fault.is_some() && !faulted(current) => {
            Difference::Faulted(reason(r))
        }
        (Outcome::Processed(_), Outcome::DeadLetter(_, r)) => Difference::NewDeadLetter(reason(r)),
        (Outcome::DeadLetter(..), Outcome::Processed(_)) => Difference::NewlyPassing,
        (Outcome::DeadLetter(_, a), Outcome::DeadLetter(_, b)) if a.violations == b.violations => {
            Difference::Identical
        }
        (Outcome::DeadLetter(..), Outcome::DeadLetter(..)) => {
            Difference::Changed(vec!["(dead-letter reasons)".into()])
        }
    }
}

/// What a record became, without the window results it happened to close.
fn records_of(outputs: &[Output]) -> Vec<&Output> {
    outputs.iter().filter(|o| o.role != Role::Window).collect()
}

/// The window results among `outputs`, each under its partition and start, by what it
/// reports (its counters and tables).
fn collect_windows(outputs: &[Output], into: &mut serde_json::Map<String, serde_json::Value>) {
    for output in outputs.iter().filter(|o| o.role == Role::Window) {
        let Some(result) = json(&output.message.value) else { continue };
        let name = format!(
            "{}/{} {}",
            result["topic"].as_str().unwrap_or("?"),
            result["partition"],
            result["window"]["start"].as_str().unwrap_or("?")
        );
        into.insert(
            name,
            serde_json::json!({ "counters": result["counters"], "tables": result["tables"] }),
        );
    }
}

fn faulted(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::DeadLetter(_, r) if r.fault.is_some())
}

fn reason(rejection: &Rejection) -> String {
    let first = rejection.violations.first().map_or("", |v| v.reason.as_str());
    format!("{}: {first}", rejection.stage)
}

/// What differs between two deliveries of one record.
fn changed(a: &[&Output], b: &[&Output]) -> Vec<String> {
    if a.len() != b.len() {
        return vec!["(records)".into()];
    }
    let mut fields = Vec::new();
    for (a, b) in a.iter().zip(b) {
        let (x, y) = (&a.message, &b.message);
        if x.value != y.value {
            match (json(&x.value), json(&y.value)) {
                (Some(x), Some(y)) => json_diff("", &x, &y, &mut fields),
                _ => fields.push("(value)".into()),
            }
        }
        for (differs, what) in [
            (x.key != y.key, "(key)"),
            (x.headers != y.headers, "(headers)"),
            (a.topic != b.topic, "(output)"),
        ] {
            if differs {
                fields.push(what.into());
            }
        }
    }
    if fields.len() >= MAX_FIELDS_PER_RECORD {
        fields.truncate(MAX_FIELDS_PER_RECORD);
        fields.push("(more fields)".into());
    }
    fields.dedup();
    fields
}

fn json(bytes: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(bytes).ok()
}

/// The JSON pointers where `a` and `b` differ: objects field by field, anything else
/// whole; at most `MAX_FIELDS_PER_RECORD`, each key cut to `MAX_KEY_CHARS` (a producer
/// decides the fields: what the comparison keeps must not grow with them).
fn json_diff(at: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    use serde_json::Value::Object;
    match (a, b) {
        (Object(x), Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                if out.len() >= MAX_FIELDS_PER_RECORD {
                    return;
                }
                let named: String = key.chars().take(MAX_KEY_CHARS).collect();
                let here = format!("{at}/{}", named.replace('~', "~0").replace('/', "~1"));
                match (x.get(key), y.get(key)) {
                    (Some(x), Some(y)) if x == y => {}
                    (Some(x), Some(y)) => json_diff(&here, x, y, out),
                    _ => out.push(here),
                }
            }
        }
        _ if a != b && out.len() < MAX_FIELDS_PER_RECORD => {
            out.push(if at.is_empty() { "/".into() } else { at.to_string() })
        }
        _ => {}
    }
}

/// Fields named per changed record at most, then `(more fields)`.
const MAX_FIELDS_PER_RECORD: usize = 100;
/// Characters of a field's name kept in its pointer.
const MAX_KEY_CHARS: usize = 64;
/// Distinct fields counted over a run at most; more count as `(other fields)`.
const MAX_DISTINCT_FIELDS: usize = 1000;

/// Samples kept per kind of difference, and characters kept of each value.
const SAMPLES: usize = 3;
const SAMPLE_CHARS: usize = 200;
/// Field changes listed, most frequent first.
const TOP_FIELDS: usize = 10;

/// What a shadow run found.
#[derive(Debug, Serialize, Default)]
pub struct ShadowReport {
    pub stage: String,
    pub candidate: String,
    pub records: u64,
    pub identical: u64,
    pub changed: u64,
    pub new_dead_letters: u64,
    pub faulted: u64,
    pub newly_passing: u64,
    /// JSON pointer (or `(key)`…) → records changed there, most frequent first.
    pub field_changes: Vec<(String, u64)>,
    /// Every field counted so far (`MAX_DISTINCT_FIELDS` at most).
    #[serde(skip)]
    counts: std::collections::HashMap<String, u64>,
    pub samples: Vec<Sample>,
    /// The aggregator's analytics after every record, current and candidate, and the
    /// counters and tables that differ (JSON pointers); `None` without an aggregator.
    pub analytics: Option<AnalyticsDiff>,
    /// A windowed aggregator's results, window by window (the windows still open closed
    /// at the end); `None` without windows.
    pub windows: Option<WindowsDiff>,
}

/// Both chains' window results compared.
#[derive(Debug, Serialize)]
pub struct WindowsDiff {
    /// Windows either chain closed.
    pub compared: usize,
    /// `/<topic>~1<partition> <start>/counters/…`: what differs, window by window.
    pub changed: Vec<String>,
}

/// The end-of-run analytics of both chains over the same records.
#[derive(Debug, Serialize)]
pub struct AnalyticsDiff {
    pub changed: Vec<String>,
    pub current: serde_json::Value,
    pub candidate: serde_json::Value,
}

/// Analytics as a comparable document: counters by name, each table's rows by its name.
fn analytics_doc(analytics: &weir_core::report::Analytics) -> serde_json::Value {
    let counters: serde_json::Map<String, serde_json::Value> =
        analytics.counters.iter().map(|c| (c.name.clone(), c.value.into())).collect();
    let tables: serde_json::Map<String, serde_json::Value> = analytics
        .tables
        .iter()
        .map(|t| {
            let rows: Vec<_> =
                t.rows.iter().map(|r| serde_json::json!([r.label, r.count])).collect();
            (t.name.clone(), rows.into())
        })
        .collect();
    serde_json::json!({ "counters": counters, "tables": tables })
}

/// How the two chains' analytics differ, when they have an aggregator.
fn compare_analytics(
    current: &mut Pipeline,
    candidate: &mut Pipeline,
) -> anyhow::Result<Option<AnalyticsDiff>> {
    let ours = current.report(Vec::new())?.analytics.map(|(_, a)| analytics_doc(&a));
    let theirs = candidate.report(Vec::new())?.analytics.map(|(_, a)| analytics_doc(&a));
    let (Some(current), Some(candidate)) = (ours, theirs) else { return Ok(None) };
    let mut changed = Vec::new();
    json_diff("", &current, &candidate, &mut changed);
    Ok(Some(AnalyticsDiff { changed, current, candidate }))
}

/// One record's difference, its values cut to `SAMPLE_CHARS` characters.
#[derive(Debug, Serialize)]
pub struct Sample {
    pub kind: &'static str,
    /// Where it was read: `file:line`, or `topic:offset` with its `partition`.
    pub source: String,
    pub partition: i32,
    pub current: String,
    pub candidate: String,
    pub detail: String,
}

impl ShadowReport {
    /// An empty report of `candidate` in `stage`.
    pub fn new(stage: &str, candidate: &str) -> ShadowReport {
        ShadowReport { stage: stage.into(), candidate: candidate.into(), ..Default::default() }
    }

    /// Share of the records the candidate changed.
    pub fn changed_ratio(&self) -> f64 {
        if self.records == 0 {
            return 0.0;
        }
        self.changed as f64 / self.records as f64
    }

    /// Records the candidate would send to the dead letters that go on today (its faults
    /// included).
    pub fn more_dead_letters(&self) -> u64 {
        self.new_dead_letters + self.faulted
    }

    /// The report for a person.
    pub fn text(&self) -> String {
        let mut out = format!(
            "shadow of {} with {}: {} records\n  identical       {}\n  changed         {} ({:.2}%)\n  new dead letters {}\n  faulted         {}\n  newly passing   {}\n",
            self.stage, self.candidate, self.records, self.identical, self.changed,
            100.0 * self.changed_ratio(), self.new_dead_letters, self.faulted, self.newly_passing
        );
        if !self.field_changes.is_empty() {
            out += "most changed:\n";
            for (field, n) in &self.field_changes {
                out += &format!("  {field:<30} {n}\n");
            }
        }
        if let Some(a) = self.analytics.as_ref().filter(|a| !a.changed.is_empty()) {
            out += &format!("analytics changed at {}\n", a.changed.join(", "));
        }
        if let Some(w) = &self.windows {
            out += &format!("windows: {} compared, {} differences\n", w.compared, w.changed.len());
            for change in w.changed.iter().take(TOP_FIELDS) {
                out += &format!("  {change}\n");
            }
        }
        for s in &self.samples {
            out += &format!(
                "{} at {}: {}\n  current:   {}\n  candidate: {}\n",
                s.kind, s.source, s.detail, s.current, s.candidate
            );
        }
        out
    }

    fn add(
        &mut self,
        difference: Difference,
        record: &Record,
        current: &Outcome,
        candidate: &Outcome,
    ) {
        self.records += 1;
        let (kind, detail) = match difference {
            Difference::Identical => {
                self.identical += 1;
                return;
            }
            Difference::Changed(fields) => {
                self.changed += 1;
                for field in &fields {
                    let known = self.counts.contains_key(field);
                    let field = match known || self.counts.len() < MAX_DISTINCT_FIELDS {
                        true => field.as_str(),
                        false => "(other fields)",
                    };
                    *self.counts.entry(field.to_string()).or_default() += 1;
                }
                ("changed", fields.join(", "))
            }
            Difference::NewDeadLetter(reason) => {
                self.new_dead_letters += 1;
                ("new dead letter", reason)
            }
            Difference::Faulted(reason) => {
                self.faulted += 1;
                ("faulted", reason)
            }
            Difference::NewlyPassing => {
                self.newly_passing += 1;
                ("newly passing", String::new())
            }
        };
        if self.samples.iter().filter(|s| s.kind == kind).count() < SAMPLES {
            self.samples.push(Sample {
                kind,
                source: format!("{}:{}", record.topic, record.offset),
                partition: record.partition,
                current: shown(current),
                candidate: shown(candidate),
                detail: cut(&detail),
            });
        }
    }

    fn finish(&mut self) {
        let mut counted: Vec<(String, u64)> =
            std::mem::take(&mut self.counts).into_iter().collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counted.truncate(TOP_FIELDS);
        self.field_changes = counted;
    }
}

/// An outcome as a sample shows it: its first record's value, or the dead letter's reason;
/// cut and escaped (a JSON string), so no value can move a terminal's cursor.
fn shown(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Processed(outputs) => match outputs.first() {
            Some(o) => cut(&String::from_utf8_lossy(&o.message.value)),
            None => "(filtered out)".into(),
        },
        Outcome::DeadLetter(_, r) => format!("(dead letter) {}", cut(&reason(r))),
    }
}

fn cut(text: &str) -> String {
    let kept: String = text.chars().take(SAMPLE_CHARS).collect();
    let more = if kept.len() < text.len() { "…" } else { "" };
    format!("{}{more}", serde_json::to_string(&kept).expect("a string serialises"))
}

/// Both chains over records as they come, a batch at a time.
pub struct Shadowing<'a> {
    current: &'a mut Pipeline,
    candidate: &'a mut Pipeline,
    /// Each chain's window results so far, by window.
    windows: [serde_json::Map<String, serde_json::Value>; 2],
    batch: Vec<Record>,
    batch_size: usize,
    pub report: ShadowReport,
}

impl<'a> Shadowing<'a> {
    pub fn new(
        current: &'a mut Pipeline,
        candidate: &'a mut Pipeline,
        batch_size: usize,
        report: ShadowReport,
    ) -> Self {
        let batch_size = batch_size.max(1);
        Shadowing {
            current,
            candidate,
            windows: Default::default(),
            batch: Vec::with_capacity(batch_size),
            batch_size,
            report,
        }
    }

    pub fn push(&mut self, record: Record) {
        self.batch.push(record);
        if self.batch.len() >= self.batch_size {
            self.compare_batch();
        }
    }

    /// The last records, the analytics, and the report.
    pub fn finish(mut self) -> anyhow::Result<ShadowReport> {
        self.compare_batch();
        self.report.analytics = compare_analytics(self.current, self.candidate)?;
        collect_windows(&self.current.close_windows(), &mut self.windows[0]);
        collect_windows(&self.candidate.close_windows(), &mut self.windows[1]);
        let [ours, theirs] = std::mem::take(&mut self.windows);
        let compared =
            ours.keys().chain(theirs.keys()).collect::<std::collections::BTreeSet<_>>().len();
        if compared > 0 {
            let mut changed = Vec::new();
            json_diff("", &ours.into(), &theirs.into(), &mut changed);
            self.report.windows = Some(WindowsDiff { compared, changed });
        }
        self.report.finish();
        Ok(self.report)
    }

    fn compare_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        if batch.is_empty() {
            return;
        }
        let ours = self.current.process(batch.clone());
        let theirs = self.candidate.process(batch.clone());
        for ((record, a), b) in batch.iter().zip(&ours).zip(&theirs) {
            self.report.add(compare(a, b), record, a, b);
            for (outcome, windows) in [a, b].into_iter().zip(self.windows.iter_mut()) {
                if let Outcome::Processed(outputs) = outcome {
                    collect_windows(outputs, windows);
                }
            }
        }
    }
}

/// Every non-blank line of `input` as a record: its value the line, its offset the line
/// number, its topic the file's name.
pub fn each_line(input: &Path, mut each: impl FnMut(Record)) -> anyhow::Result<()> {
    let file = std::fs::File::open(input)
        .map_err(|e| anyhow::anyhow!("cannot open input {}: {e}", input.display()))?;
    let source = input.file_name().map_or("-".into(), |n| n.to_string_lossy().into_owned());
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let mut line = line?;
        while matches!(line.last(), Some(b'\r')) {
            line.pop();
        }
        if !line.is_empty() {
            each(Record::read_from(&source, 0, i as i64 + 1, line));
        }
    }
    Ok(())
}

/// The gates a rollout must pass: `None` when it does, else why not.
pub fn gate(
    report: &ShadowReport,
    max_changed: Option<f64>,
    max_new_dead_letters: Option<u64>,
    max_analytics_changes: Option<usize>,
) -> Option<String> {
    let mut failed = Vec::new();
    let analytics_changes = report.analytics.as_ref().map_or(0, |a| a.changed.len())
        + report.windows.as_ref().map_or(0, |w| w.changed.len());
    if let Some(max) = max_analytics_changes.filter(|max| analytics_changes > *max) {
        failed.push(format!(
            "{analytics_changes} counters or tables of the analytics or window results changed (--max-analytics-changes {max})"
        ));
    }
    if let Some(max) = max_changed.filter(|max| report.changed_ratio() > *max) {
        failed.push(format!(
            "{:.4} of the records changed (--max-changed {max})",
            report.changed_ratio()
        ));
    }
    if let Some(max) = max_new_dead_letters.filter(|max| report.more_dead_letters() > *max) {
        failed.push(format!(
            "{} more dead letters, {} of them faults (--max-new-dead-letters {max})",
            report.more_dead_letters(),
            report.faulted
        ));
    }
    (!failed.is_empty()).then(|| failed.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_differences_are_pointers_to_the_fields_that_differ() {
        let mut out = Vec::new();
        let a = json!({"a": 1, "b": {"c": 2, "d": 3}, "e/f": [1], "gone": 0});
        let b = json!({"a": 1, "b": {"c": 2, "d": 4}, "e/f": [2], "new": 0});
        json_diff("", &a, &b, &mut out);
        assert_eq!(out, ["/b/d", "/e~1f", "/gone", "/new"]);
        let mut root = Vec::new();
        json_diff("", &json!(1), &json!(2), &mut root);
        assert_eq!(root, ["/"]);
        let long = "k".repeat(500);
        let mut same = Vec::new();
        json_diff("", &json!({ &long: 1, "z": 1 }), &json!({ &long: 1, "z": 2 }), &mut same);
        assert_eq!(same, ["/z"], "a long name that agrees is no difference");
    }

    fn processed(value: serde_json::Value) -> Outcome {
        let message = Record::read_from("t", 0, 0, value.to_string().into_bytes());
        Outcome::Processed(vec![Output { message, topic: None, role: Role::Record }])
    }

    /// A producer names the fields: records of 5,000 fields each, every field new, cost
    /// the comparison a bounded number of pointers per record and of counts per run, and
    /// a long or deep name is cut.
    #[test]
    fn fields_a_producer_invents_are_counted_within_bounds() {
        let mut report = ShadowReport::default();
        for r in 0..50 {
            let fields = |v: i32| -> serde_json::Map<String, serde_json::Value> {
                (0..5000).map(|i| (format!("r{r}-f{i}-{}", "x".repeat(100)), v.into())).collect()
            };
            let (a, b) = (processed(fields(1).into()), processed(fields(2).into()));
            let difference = compare(&a, &b);
            let Difference::Changed(named) = &difference else { panic!("{difference:?}") };
            assert_eq!(named.len(), MAX_FIELDS_PER_RECORD + 1);
            assert_eq!(named.last().map(String::as_str), Some("(more fields)"));
            assert!(named[0].chars().count() <= MAX_KEY_CHARS + 1, "{}", named[0]);
            report.add(difference, &Record::read_from("t", 0, r.into(), Vec::new()), &a, &b);
        }
        assert!(report.counts.len() <= MAX_DISTINCT_FIELDS + 1, "{}", report.counts.len());
        assert!(report.counts.contains_key("(other fields)"));
        report.finish();
        assert_eq!(report.field_changes.len(), TOP_FIELDS);
        // 5,000 invented fields in all: the first 999 counted by name, the rest together.
        assert_eq!(report.field_changes[0], ("(other fields)".to_string(), 5000 - 999));
        assert_eq!(report.field_changes[1], ("(more fields)".to_string(), 50));
    }

    #[test]
    fn samples_are_cut_and_escaped() {
        let shown = cut(&format!("\u{1b}[2J{}", "x".repeat(500)));
        assert!(shown.starts_with("\"\\u001b[2J") && shown.ends_with('…'), "{shown}");
        assert!(shown.chars().count() < SAMPLE_CHARS + 20);
    }
}
