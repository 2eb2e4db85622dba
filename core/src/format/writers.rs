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
}

/// A writer's schema, parsed when it is Avro; a JSON Schema's document is kept for
/// validators that check each record against its writer's (`registry://by-id`).
pub struct Written {
    pub schema_type: String,
    pub avro: Option<AvroSchema>,
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

pub struct WriterSchemas {
    source: Arc<dyn SchemaSource>,
    known: HashMap<u32, Result<Arc<Written>, (Instant, String)>>,
    /// Ids in the order they were fetched: the oldest goes first when full.
    order: VecDeque<u32>,
}

impl WriterSchemas {
    pub fn new(source: Arc<dyn SchemaSource>) -> WriterSchemas {
        WriterSchemas { source, known: HashMap::new(), order: VecDeque::new() }
    }

    pub fn get(&mut self, id: u32) -> Result<Arc<Written>, String> {
        match self.known.get(&id) {
            Some(Ok(written)) => return Ok(written.clone()),
            Some(Err((since, reason))) if since.elapsed() < RETRY_AFTER => return Err(reason.clone()),
            _ => {}
        }
        let fetched = match self.fetch(id) {
            Err(reason) => Err((Instant::now(), reason)),
            Ok(None) => Err((Instant::now(), format!("schema id {id} is not in the registry"))),
            Ok(Some(registered)) => Ok(Arc::new(Written {
                avro: (registered.schema_type == "AVRO")
                    .then(|| AvroSchema::parse(&registered.schema).map_err(|e| format!("schema id {id}: {e}")))
                    .transpose()?,
                json_schema: (registered.schema_type == "JSON").then_some(registered.schema),
                schema_type: registered.schema_type,
            })),
        };
        if self.order.len() >= CAPACITY {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
        self.order.push_back(id);
        self.known.insert(id, fetched.clone());
        fetched.map_err(|(_, reason)| reason)
    }

    /// The registry's answer, asked again a few times if it does not answer at all.
    fn fetch(&self, id: u32) -> Result<Option<Registered>, String> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(200 << attempt));
            }
            match self.source.by_id(id) {
                Ok(found) => return Ok(found),
                Err(reason) => last = reason,
            }
        }
        Err(format!("the schema registry did not answer for schema id {id} ({ATTEMPTS} tries): {last}"))
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
            Ok((id < 5000).then(|| Registered { id, schema_type: "JSON".into(), schema: "{}".into() }))
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
        fn latest(&self, _: &str) -> Result<Registered, String> {
            unreachable!()
        }
    }

    #[test]
    fn a_registry_that_is_down_is_tried_once_per_id_and_period_not_per_record() {
        let source = Arc::new(Down(AtomicU32::new(0)));
        let mut schemas = WriterSchemas::new(source.clone());
        for _ in 0..100 {
            assert!(schemas.get(7).err().unwrap().contains("did not answer"));
        }
        assert_eq!(source.0.load(Ordering::SeqCst), ATTEMPTS, "one round of tries for 100 records");
    }

    #[test]
    fn each_id_is_fetched_once_and_the_cache_stays_bounded() {
        let source = Arc::new(Counting(AtomicU32::new(0)));
        let mut schemas = WriterSchemas::new(source.clone());
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
}
