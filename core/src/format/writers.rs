//! Writers' schemas by id, fetched from the registry once and kept (bounded).

use super::avro::AvroSchema;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A schema as the registry holds it.
#[derive(Debug, Clone)]
pub struct Registered {
    pub id: u32,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: String,
    pub schema: String,
}

/// Where schemas come from: a Confluent-compatible registry (the host's HTTP client).
pub trait SchemaSource: Send + Sync {
    /// The schema with `id`; `Ok(None)` if the registry has none.
    fn by_id(&self, id: u32) -> Result<Option<Registered>, String>;
    /// The latest version of `subject`.
    fn latest(&self, subject: &str) -> Result<Registered, String>;
    /// The subjects `id` is registered under.
    fn subjects(&self, id: u32) -> Result<Vec<String>, String>;
}

/// A writer's schema, parsed when it is Avro; a JSON Schema's document is kept for
/// validators that check each record against its writer's (`registry://by-id`).
pub struct Written {
    pub schema_type: String,
    pub avro: Option<AvroSchema>,
    /// The Avro schema's text length, what it is charged in the cache.
    avro_text_len: usize,
    pub json_schema: Option<String>,
}

/// Schemas kept at most; ids beyond are fetched again (a topic rarely has many).
const CAPACITY: usize = 1000;
/// An id the registry did not know, or could not be asked for, is asked again after this
/// (it may be registered since, the registry back): records meanwhile are refused at once,
/// so a registry that is down costs one round of tries per id and period, not per record.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// A registry that does not answer is asked this many times before the record is refused.
const ATTEMPTS: u32 = 3;
/// The bytes of schema text kept at most (a registry's schema can be megabytes).
const MAX_BYTES: usize = 64 << 20;
/// Ids never seen that may be fetched at once, and how many more a second after that:
/// the producer names the ids, and each new one is a registry round trip on the plugin
/// thread. Records naming a new id beyond that are refused at once (not remembered).
const NEW_IDS_BURST: f64 = 100.0;
const NEW_IDS_PER_SECOND: f64 = 10.0;

/// A fetched id: its parsed schema, or when and why it could not be had.
type Fetched = Result<Arc<Written>, (Instant, String)>;

pub struct WriterSchemas {
    source: Arc<dyn SchemaSource>,
    known: HashMap<u32, (usize, Fetched)>,
    /// Ids in the order they were fetched: the oldest goes first when full.
    order: VecDeque<u32>,
    /// Bytes of schema text (or reason) kept.
    bytes: usize,
    /// Fetches of new ids allowed now (a token bucket of `burst`), as of `refilled`.
    allowance: f64,
    burst: f64,
    refilled: Instant,
    /// Since when, and why, the registry does not answer: until `RETRY_AFTER` has passed,
    /// no id is asked for, and then one try (not `ATTEMPTS`) says whether it is back.
    away: Option<(Instant, String)>,
    /// The subject a writer's id must be registered under (the topic's); `None`: any.
    subject: Option<String>,
}

impl WriterSchemas {
    pub fn new(source: Arc<dyn SchemaSource>) -> WriterSchemas {
        WriterSchemas {
            source,
            known: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            allowance: NEW_IDS_BURST,
            burst: NEW_IDS_BURST,
            refilled: Instant::now(),
            away: None,
            subject: None,
        }
    }

    /// Accepts only ids registered under `subject` (`None`: any): a producer naming a
    /// permissive schema of another subject would bypass validation.
    pub fn restricted_to(mut self, subject: Option<String>) -> WriterSchemas {
        self.subject = subject;
        self
    }

    pub fn get(&mut self, id: u32) -> Result<Arc<Written>, String> {
        match self.known.get(&id) {
            Some((_, Ok(written))) => return Ok(written.clone()),
            Some((_, Err((since, reason)))) if since.elapsed() < RETRY_AFTER => {
                return Err(reason.clone())
            }
            _ => {}
        }
        if let Some((since, reason)) = &self.away {
            if since.elapsed() < RETRY_AFTER {
                return Err(format!(
                    "schema id {id}: {reason}; asked again {} s after it failed",
                    RETRY_AFTER.as_secs()
                ));
            }
        }
        if !self.may_fetch() {
            return Err(format!(
                "schema id {id} not fetched: more than {NEW_IDS_BURST} new schema ids, then {NEW_IDS_PER_SECOND} a second (weir's limit on registry work)"
            ));
        }
        let tries = if self.away.is_some() { 1 } else { ATTEMPTS };
        let fetched = match self.fetch(id, tries) {
            Err(reason) => {
                self.away = Some((Instant::now(), reason.clone()));
                Err((Instant::now(), reason))
            }
            Ok(found) => {
                self.away = None;
                match found {
                    None => Err((Instant::now(), format!("schema id {id} is not in the registry"))),
                    // A schema that does not parse, or of another subject, is remembered as
                    // such, not fetched again per record.
                    Some(registered) => self
                        .allowed(id)
                        .and_then(|()| Self::parsed(id, registered))
                        .map_err(|reason| (Instant::now(), reason)),
                }
            }
        };
        let size = match &fetched {
            Ok(written) => {
                written.json_schema.as_ref().map_or(0, String::len) + written.avro_text_len
            }
            Err((_, reason)) => reason.len(),
        };
        self.remember(id, size, fetched.clone());
        fetched.map_err(|(_, reason)| reason)
    }

    fn parsed(id: u32, registered: Registered) -> Result<Arc<Written>, String> {
        let avro = (registered.schema_type == "AVRO")
            .then(|| {
                AvroSchema::parse(&registered.schema).map_err(|e| format!("schema id {id}: {e}"))
            })
            .transpose()?;
        Ok(Arc::new(Written {
            avro_text_len: if avro.is_some() { registered.schema.len() } else { 0 },
            avro,
            json_schema: (registered.schema_type == "JSON").then_some(registered.schema),
            schema_type: registered.schema_type,
        }))
    }

    /// Whether `id` is registered under the subject ids are restricted to.
    fn allowed(&self, id: u32) -> Result<(), String> {
        let Some(subject) = &self.subject else { return Ok(()) };
        let subjects = self.source.subjects(id).map_err(|e| {
            format!("the schema registry did not say which subjects hold schema id {id}: {e}")
        })?;
        if subjects.iter().any(|s| s == subject) {
            return Ok(());
        }
        let shown: Vec<String> =
            subjects.iter().take(5).map(|s| format!("`{}`", crate::text::cut(s, 100))).collect();
        Err(format!(
            "schema id {id} is registered under {}, not under the topic's subject `{subject}` (any_subject = true in the topic's [topics] table accepts any)",
            if shown.is_empty() { "no subject".to_string() } else { shown.join(", ") }
        ))
    }

    /// Keeps `id`'s answer, the oldest going first while over `CAPACITY` or `MAX_BYTES`.
    fn remember(&mut self, id: u32, size: usize, answer: Result<Arc<Written>, (Instant, String)>) {
        if let Some((old, _)) = self.known.remove(&id) {
            self.bytes -= old;
            self.order.retain(|kept| *kept != id);
        }
        while self.order.len() >= CAPACITY
            || (self.bytes + size > MAX_BYTES && !self.order.is_empty())
        {
            if let Some((old, _)) =
                self.order.pop_front().and_then(|oldest| self.known.remove(&oldest))
            {
                self.bytes -= old;
            }
        }
        self.order.push_back(id);
        self.bytes += size;
        self.known.insert(id, (size, answer));
    }

    /// Whether a new id may be fetched now (and if so, one fetch is spent).
    fn may_fetch(&mut self) -> bool {
        let now = Instant::now();
        self.allowance = (self.allowance
            + now.duration_since(self.refilled).as_secs_f64() * NEW_IDS_PER_SECOND)
            .min(self.burst);
        self.refilled = now;
        if self.allowance < 1.0 {
            return false;
        }
        self.allowance -= 1.0;
        true
    }

    /// The registry's answer, asked again up to `tries` times if it does not answer at all.
    fn fetch(&self, id: u32, tries: u32) -> Result<Option<Registered>, String> {
        let mut last = String::new();
        for attempt in 0..tries {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200 << attempt));
            }
            match self.source.by_id(id) {
                Ok(found) => return Ok(found),
                Err(reason) => last = reason,
            }
        }
        Err(format!(
            "the schema registry did not answer for schema id {id} ({tries} tries): {last}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting(AtomicU32);

    impl SchemaSource for Counting {
        fn by_id(&self, id: u32) -> Result<Option<Registered>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok((id < 5000).then(|| Registered {
                id,
                schema_type: "JSON".into(),
                schema: "{}".into(),
            }))
        }
        fn subjects(&self, id: u32) -> Result<Vec<String>, String> {
            Ok(vec![if id < 1000 { "t-value" } else { "other-value" }.into()])
        }

        fn latest(&self, _: &str) -> Result<Registered, String> {
            unreachable!()
        }
    }

    struct Down(AtomicU32);

    impl SchemaSource for Down {
        fn by_id(&self, _: u32) -> Result<Option<Registered>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err("connection refused".into())
        }
        fn subjects(&self, _: u32) -> Result<Vec<String>, String> {
            Ok(vec!["t-value".into()])
        }

        fn latest(&self, _: &str) -> Result<Registered, String> {
            unreachable!()
        }
    }

    #[test]
    fn a_registry_that_is_down_is_tried_once_per_period_not_per_record_or_id() {
        let source = Arc::new(Down(AtomicU32::new(0)));
        let mut schemas = WriterSchemas::new(source.clone());
        for id in 0..100 {
            assert!(schemas.get(7).err().unwrap().contains("did not answer"));
            // A fresh id each record (the producer picks them): no more tries either.
            assert!(schemas.get(1000 + id).err().unwrap().contains("did not answer"));
        }
        assert_eq!(
            source.0.load(Ordering::SeqCst),
            ATTEMPTS,
            "one round of tries for 200 records and 101 ids"
        );
    }

    /// A registry whose every schema is `text` (of type `kind`).
    struct Serving(AtomicU32, &'static str, String);

    impl SchemaSource for Serving {
        fn by_id(&self, id: u32) -> Result<Option<Registered>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(Some(Registered { id, schema_type: self.1.into(), schema: self.2.clone() }))
        }
        fn subjects(&self, _: u32) -> Result<Vec<String>, String> {
            Ok(vec!["t-value".into()])
        }

        fn latest(&self, _: &str) -> Result<Registered, String> {
            unreachable!()
        }
    }

    #[test]
    fn a_schema_that_does_not_parse_is_fetched_once_not_per_record() {
        let source =
            Arc::new(Serving(AtomicU32::new(0), "AVRO", "{\"type\": \"no such type\"}".into()));
        let mut schemas = WriterSchemas::new(source.clone());
        for _ in 0..100 {
            assert!(schemas.get(3).err().unwrap().contains("schema id 3: not an Avro schema"));
        }
        assert_eq!(source.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn new_ids_beyond_the_burst_are_refused_without_asking_the_registry() {
        let source = Arc::new(Counting(AtomicU32::new(0)));
        let mut schemas = WriterSchemas::new(source.clone());
        let refused = (0..1000).filter(|id| schemas.get(*id).is_err()).count();
        let fetched = source.0.load(Ordering::SeqCst) as usize;
        assert!(
            (100..=110).contains(&fetched),
            "the burst, and what a second refills at most: {fetched}"
        );
        assert_eq!(refused, 1000 - fetched);
        assert!(schemas.get(999).err().unwrap().contains("weir's limit on registry work"));
        assert!(schemas.get(0).is_ok(), "a known id is served without a fetch");
    }

    #[test]
    fn the_cache_is_bounded_by_bytes() {
        let source = Arc::new(Serving(AtomicU32::new(0), "JSON", "x".repeat(1 << 20)));
        let mut schemas = WriterSchemas::new(source.clone());
        for id in 0..100 {
            schemas.get(id).unwrap();
        }
        assert!(
            schemas.bytes <= MAX_BYTES && schemas.known.len() == MAX_BYTES >> 20,
            "{} bytes in {} schemas",
            schemas.bytes,
            schemas.known.len()
        );
        assert_eq!(schemas.bytes, schemas.known.values().map(|(size, _)| size).sum::<usize>());
    }

    #[test]
    fn each_id_is_fetched_once_and_the_cache_stays_bounded() {
        let source = Arc::new(Counting(AtomicU32::new(0)));
        let mut schemas = WriterSchemas::new(source.clone());
        (schemas.burst, schemas.allowance) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..3 {
            assert_eq!(schemas.get(1).unwrap().schema_type, "JSON");
        }
        assert!(schemas.get(9999).err().unwrap().contains("9999 is not in the registry"));
        assert!(schemas.get(9999).is_err());
        assert_eq!(source.0.load(Ordering::SeqCst), 2, "one fetch per id, unknown ones included");
        for id in 0..(CAPACITY as u32 + 10) {
            schemas.get(id).unwrap();
        }
        assert_eq!(schemas.known.len(), CAPACITY);
        assert_eq!(schemas.order.len(), CAPACITY);
    }

    #[test]
    fn ids_of_another_subject_are_refused_once_and_named() {
        let source = Arc::new(Counting(AtomicU32::new(0)));
        let mut schemas = WriterSchemas::new(source.clone()).restricted_to(Some("t-value".into()));
        assert!(schemas.get(1).is_ok());
        let refused = schemas.get(2000).err().unwrap();
        assert!(refused.contains("schema id 2000 is registered under `other-value`, not under the topic's subject `t-value`"), "{refused}");
        assert_eq!(schemas.get(2000).err(), Some(refused), "remembered");
        assert_eq!(source.0.load(Ordering::SeqCst), 2, "fetched once each");
        assert!(WriterSchemas::new(source).get(2000).is_ok(), "unrestricted: any subject");
    }
}
