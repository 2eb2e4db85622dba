//! Record formats per topic: plain JSON (the default), and Confluent's wire format with
//! JSON or Avro inside, for topics shared with Confluent's serializers. Plugins always
//! see JSON: a framed record is unwrapped (Avro decoded) before the first stage, and what
//! goes to a formatted topic is wrapped (Avro encoded) after the last. A record that
//! cannot be is a dead letter of kind `format`, with its bytes as they came.

pub mod avro;
mod avro_bounds;
pub mod confluent_wire;
mod writers;

use avro::AvroSchema;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
pub use writers::{Registered, SchemaSource, Written};

/// A validator's `schema` that means "each record's writer's schema": the JSON Schema
/// whose id frames the record (a `confluent-json` input).
pub const WRITERS_SCHEMA: &str = "registry://by-id";

/// How a topic's record values are written.
#[derive(
    Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// JSON text, no framing.
    #[default]
    Json,
    /// Confluent's framing (a zero byte, the schema id) around JSON text.
    ConfluentJson,
    /// Confluent's framing around one Avro datum.
    Avro,
}

impl Format {
    /// As weir.toml spells it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::ConfluentJson => "confluent-json",
            Format::Avro => "avro",
        }
    }

    fn schema_type(self) -> &'static str {
        match self {
            Format::Json | Format::ConfluentJson => "JSON",
            Format::Avro => "AVRO",
        }
    }
}

/// `[topics."NAME"]`: how one topic's records are written.
#[derive(Debug, Deserialize, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    /// `json` (plain), `confluent-json` or `avro` (both framed with a registry's schema id).
    #[serde(default)]
    pub format: Format,
    /// The subject whose latest schema frames what weir writes to the topic (looked up
    /// at start, never registered by weir on its own); on the input topic, the subject
    /// a record's schema id must be registered under. Default: `<topic>-value`.
    pub subject: Option<String>,
    /// Input: accept schema ids registered under any subject, not only `subject`'s.
    #[serde(default)]
    pub any_subject: bool,
    /// Avro input: the schema plugins read records as, resolved against each writer's
    /// (fields added with defaults, fields dropped). Default: the writer's schema.
    pub reader_schema: Option<PathBuf>,
}

/// A topic weir writes with a format: the id to frame with and, for Avro, its schema
/// (none: framed JSON).
struct Writer {
    id: u32,
    avro: Option<AvroSchema>,
}

/// The subject `topic`'s writers' ids must be registered under, unless it accepts any.
fn subject_of(topic: &str, config: &TopicConfig) -> Option<String> {
    (!config.any_subject)
        .then(|| config.subject.clone().unwrap_or_else(|| format!("{topic}-value")))
}

impl Writer {
    /// The latest schema of `topic`'s subject, which must be of the topic's format.
    fn looked_up(
        topic: &str,
        config: &TopicConfig,
        source: &dyn SchemaSource,
    ) -> Result<Writer, (String, String)> {
        let error = |field: &str, reason: String| (format!("topics.\"{topic}\"{field}"), reason);
        let subject = config.subject.clone().unwrap_or_else(|| format!("{topic}-value"));
        let latest = source.latest(&subject).map_err(|e| {
            error(
                "",
                format!(
                    "weir frames what it writes with the latest schema of subject `{subject}`: {e}"
                ),
            )
        })?;
        if latest.schema_type != config.format.schema_type() {
            let reason = format!(
                "subject `{subject}`'s latest schema (id {}) is {}, not {}",
                latest.id,
                latest.schema_type,
                config.format.schema_type()
            );
            return Err(error(".format", reason));
        }
        let avro =
            match config.format {
                Format::Avro => Some(AvroSchema::parse(&latest.schema).map_err(|e| {
                    error("", format!("subject `{subject}` (id {}): {e}", latest.id))
                })?),
                _ => None,
            };
        Ok(Writer { id: latest.id, avro })
    }
}

/// The formats of the topics a pipeline reads and writes, with the registry's schemas.
pub struct Formats {
    /// Input topic → its format and Avro reader schema.
    readers: HashMap<String, (Format, Option<AvroSchema>)>,
    writers: HashMap<String, Writer>,
    /// Where a record with no named output goes.
    output_topic: String,
    schemas: writers::WriterSchemas,
}

impl Formats {
    /// The formats `topics` sets, `None` when every topic is plain JSON. The output
    /// subjects' schemas are looked up now: a missing one is an error before any record,
    /// as (the config key, why).
    pub fn new(
        topics: &std::collections::BTreeMap<String, TopicConfig>,
        input_topic: &str,
        output_topic: &str,
        read_file: impl Fn(&std::path::Path) -> Result<String, String>,
        source: impl FnOnce() -> Result<Arc<dyn SchemaSource>, String>,
    ) -> Result<Option<Formats>, (String, String)> {
        if topics.values().all(|t| t.format == Format::Json) {
            return Ok(None);
        }
        let source = source().map_err(|e| ("registry.url".to_string(), e))?;
        let mut readers = HashMap::new();
        let mut writers = HashMap::new();
        let mut subject = None;
        for (topic, config) in topics.iter().filter(|(_, t)| t.format != Format::Json) {
            let error =
                |field: &str, reason: String| (format!("topics.\"{topic}\"{field}"), reason);
            if topic == input_topic {
                let reader = match (&config.reader_schema, config.format) {
                    (Some(path), Format::Avro) => {
                        Some(read_file(path).and_then(|text| AvroSchema::parse(&text)).map_err(
                            |e| error(".reader_schema", format!("{}: {e}", path.display())),
                        )?)
                    }
                    (Some(_), _) => {
                        return Err(error(
                            ".reader_schema",
                            "only an Avro topic has a reader schema".into(),
                        ))
                    }
                    (None, _) => None,
                };
                readers.insert(topic.clone(), (config.format, reader));
                subject = subject_of(topic, config);
                continue;
            }
            writers.insert(topic.clone(), Writer::looked_up(topic, config, source.as_ref())?);
        }
        let schemas = writers::WriterSchemas::new(source).restricted_to(subject);
        Ok(Some(Formats { readers, writers, output_topic: output_topic.to_string(), schemas }))
    }

    /// The repairer's: dead letters (the input's bytes as they came) read in the input
    /// topic's format, repaired records written back to the input in it. `None` when the
    /// input is plain JSON.
    pub fn for_repair(
        topics: &std::collections::BTreeMap<String, TopicConfig>,
        input_topic: &str,
        dead_letter_topic: &str,
        source: impl FnOnce() -> Result<Arc<dyn SchemaSource>, String>,
    ) -> Result<Option<Formats>, (String, String)> {
        let Some(input) = topics.get(input_topic).filter(|t| t.format != Format::Json) else {
            return Ok(None);
        };
        let source = source().map_err(|e| ("registry.url".to_string(), e))?;
        Ok(Some(Formats {
            readers: HashMap::from([(dead_letter_topic.to_string(), (input.format, None))]),
            writers: HashMap::from([(
                input_topic.to_string(),
                Writer::looked_up(input_topic, input, source.as_ref())?,
            )]),
            output_topic: input_topic.to_string(),
            schemas: writers::WriterSchemas::new(source)
                .restricted_to(subject_of(input_topic, input)),
        }))
    }

    /// Reads `topic` in `format` only (the display consumer's view of any topic).
    pub fn reading(topic: &str, format: Format, source: Arc<dyn SchemaSource>) -> Formats {
        Formats {
            readers: HashMap::from([(topic.to_string(), (format, None))]),
            writers: HashMap::new(),
            output_topic: String::new(),
            schemas: writers::WriterSchemas::new(source),
        }
    }

    /// The JSON plugins see of a record read from `topic`; `None` when the topic is
    /// plain JSON; an error saying why the record cannot be read.
    pub fn decode(&mut self, topic: &str, value: &[u8]) -> Option<Result<Vec<u8>, String>> {
        let (format, reader) = self.readers.get(topic)?;
        Some((|| {
            let (id, payload) = confluent_wire::split(value)?;
            let written = self.schemas.get(id)?;
            if written.schema_type != format.schema_type() {
                return Err(format!(
                    "written with a {} schema (id {id}), but topic `{topic}` is {}",
                    written.schema_type,
                    format.name()
                ));
            }
            match &written.avro {
                Some(schema) => schema
                    .decode(payload, reader.as_ref())
                    .map_err(|e| format!("{e} (schema id {id})")),
                None => Ok(payload.to_vec()),
            }
        })())
    }

    /// The format `topic` is read in, when it is not plain JSON.
    pub fn input_format(&self, topic: &str) -> Option<Format> {
        self.readers.get(topic).map(|(format, _)| *format)
    }

    /// The schema registered with `id` (fetched once, kept).
    pub fn writers_schema(&mut self, id: u32) -> Result<Arc<Written>, String> {
        self.schemas.get(id)
    }

    /// The bytes to write to `topic` (`None`: the output topic) for a record's JSON;
    /// `None` when the topic is plain JSON; an error naming what does not fit.
    pub fn encode(&self, topic: Option<&str>, value: &[u8]) -> Option<Result<Vec<u8>, String>> {
        let topic = topic.unwrap_or(&self.output_topic);
        let writer = self.writers.get(topic)?;
        Some(
            match &writer.avro {
                Some(schema) => {
                    schema.encode(value).map(|datum| confluent_wire::prefix(writer.id, &datum))
                }
                None => match serde_json::from_slice::<serde::de::IgnoredAny>(value) {
                    Ok(_) => Ok(confluent_wire::prefix(writer.id, value)),
                    Err(e) => Err(format!("not JSON, so not for a confluent-json topic: {e}")),
                },
            }
            .map_err(|e| format!("for topic `{topic}` (schema id {}): {e}", writer.id)),
        )
    }
}
