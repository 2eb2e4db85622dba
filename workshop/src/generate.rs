//! `weir generate`: the simulated producer of user-login events.
//!
//! Events look like the exercise's generator: UUID user and device ids, IPv4, two-letter
//! locales with a skewed distribution, iOS/android, app versions, epoch-second
//! timestamps. `--invalid-ratio` injects faults: the real generator's missing
//! device_type, and others (several fields missing, timestamp as a string, wrong
//! types, not JSON). The Kafka key is a unique event id, kept by every stage.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rdkafka::config::ClientConfig;
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_core::config::Config;
use weir_kafka::flow::{self, Outgoing, Ticket};

/// What kind of event was generated; written to `--manifest` so tests can check the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Valid,
    MissingDeviceType,
    SeveralFieldsMissing,
    TimestampAsString,
    WrongTypes,
    NotJson,
}

impl Kind {
    /// Whether the default repair stage can fix it.
    pub fn repairable(self) -> bool {
        !matches!(self, Kind::NotJson)
    }
}

pub struct Event {
    pub key: String,
    pub value: Vec<u8>,
    pub kind: Kind,
}

/// US-state-style locales as the exercise's data has them, most frequent first.
const LOCALES: [&str; 20] = [
    "CA", "TX", "NY", "FL", "IL", "PA", "OH", "GA", "NC", "MI", "NJ", "VA", "WA", "AZ", "MA", "MD",
    "MT", "VT", "LA", "NM",
];
const APP_VERSIONS: [(&str, u32); 5] =
    [("2.3.0", 50), ("2.4.1", 25), ("2.4.0", 12), ("2.2.7", 8), ("3.0.0-beta", 5)];
/// Fixed event-time start of seeded runs, so they are reproducible byte for byte.
const SEEDED_START: i64 = 1_730_244_200;

pub struct Generator {
    rng: SmallRng,
    invalid_ratio: f64,
    /// Event time of the first event, and events per second of event time.
    start: i64,
    rate: f64,
    produced: u64,
    /// Whom the logins are of, when a pool (`--users`); else a new user each.
    users: Option<Arc<[String]>>,
}

/// `n` user ids (UUIDs), the same for the same seed: the users a pool's logins are of and
/// the demo's profiles are for.
pub fn user_pool(seed: Option<u64>, n: usize) -> Arc<[String]> {
    let mut rng = match seed {
        Some(seed) => SmallRng::seed_from_u64(seed ^ 0x5eed_05e7),
        None => rand::make_rng::<SmallRng>(),
    };
    (0..n).map(|_| uuid::Builder::from_random_bytes(rng.random()).into_uuid().to_string()).collect()
}

impl Generator {
    pub fn new(seed: Option<u64>, invalid_ratio: f64, rate: f64) -> Generator {
        let (rng, start) = match seed {
            Some(seed) => (SmallRng::seed_from_u64(seed), SEEDED_START),
            None => (rand::make_rng::<SmallRng>(), now_seconds()),
        };
        Generator {
            rng,
            invalid_ratio,
            start,
            rate: if rate > 0.0 { rate } else { 1000.0 },
            produced: 0,
            users: None,
        }
    }

    /// Logins of `users` only (each event's user drawn from them).
    pub fn of_users(mut self, users: Arc<[String]>) -> Generator {
        self.users = Some(users).filter(|u| !u.is_empty());
        self
    }

    fn user_id(&mut self) -> String {
        match &self.users {
            Some(users) => users[self.rng.random_range(0..users.len())].clone(),
            None => self.uuid(),
        }
    }

    fn uuid(&mut self) -> String {
        uuid::Builder::from_random_bytes(self.rng.random()).into_uuid().to_string()
    }

    fn locale(&mut self) -> &'static str {
        // Zipf-like skew: rank r has weight 1/r.
        let total: f64 = (1..=LOCALES.len()).map(|r| 1.0 / r as f64).sum();
        let mut pick = self.rng.random::<f64>() * total;
        for (i, locale) in LOCALES.iter().enumerate() {
            pick -= 1.0 / (i + 1) as f64;
            if pick <= 0.0 {
                return locale;
            }
        }
        LOCALES[LOCALES.len() - 1]
    }

    fn app_version(&mut self) -> &'static str {
        let mut pick = self.rng.random_range(0..100);
        for (version, weight) in APP_VERSIONS {
            if pick < weight {
                return version;
            }
            pick -= weight;
        }
        APP_VERSIONS[0].0
    }

    pub fn next_event(&mut self) -> Event {
        let key = self.uuid();
        let timestamp = self.start + (self.produced as f64 / self.rate) as i64;
        self.produced += 1;
        let ip = format!(
            "{}.{}.{}.{}",
            self.rng.random_range(1..=254),
            self.rng.random_range(0..=255),
            self.rng.random_range(0..=255),
            self.rng.random_range(1..=254)
        );
        let mut login = json!({
            "user_id": self.user_id(),
            "app_version": self.app_version(),
            "device_type": if self.rng.random_bool(0.52) { "iOS" } else { "android" },
            "ip": ip,
            "locale": self.locale(),
            "device_id": self.uuid(),
            "timestamp": timestamp,
        });
        let kind =
            if self.rng.random::<f64>() < self.invalid_ratio { self.fault() } else { Kind::Valid };
        let object = login.as_object_mut().expect("built as an object");
        match kind {
            Kind::Valid => {}
            Kind::MissingDeviceType => {
                object.remove("device_type");
            }
            Kind::SeveralFieldsMissing => {
                for field in ["device_type", "locale", "app_version"] {
                    object.remove(field);
                }
            }
            Kind::TimestampAsString => {
                object.insert("timestamp".into(), Value::String(timestamp.to_string()));
            }
            Kind::WrongTypes => {
                object.insert("user_id".into(), json!(self.rng.random_range(1..1_000_000)));
            }
            Kind::NotJson => {
                return Event {
                    key,
                    value: format!("user_id={} ip={}", self.uuid(), object["ip"]).into_bytes(),
                    kind,
                };
            }
        }
        Event { key, value: serde_json::to_vec(&login).expect("serialise"), kind }
    }

    /// The real generator's fault (missing device_type) is the most common.
    fn fault(&mut self) -> Kind {
        match self.rng.random_range(0..100) {
            0..50 => Kind::MissingDeviceType,
            50..70 => Kind::TimestampAsString,
            70..80 => Kind::SeveralFieldsMissing,
            80..90 => Kind::WrongTypes,
            _ => Kind::NotJson,
        }
    }
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub struct GenerateOptions<'a> {
    /// Events per second; 0 for as fast as possible.
    pub rate: f64,
    pub count: Option<u64>,
    pub invalid_ratio: f64,
    pub seed: Option<u64>,
    /// Writes `{"key":..,"kind":..}` per event.
    pub manifest: Option<std::path::PathBuf>,
    /// Where a line of progress goes, about once a second and at the end.
    pub progress: Option<&'a (dyn Fn(&str) + Sync)>,
    pub stop: &'a AtomicBool,
    /// Logins of these users only; none: a new user each, as the exercise's generator.
    pub users: Option<Arc<[String]>>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct GenerateStats {
    pub generated: u64,
    pub invalid: u64,
}

pub fn produce(
    config: &Config,
    client: &ClientConfig,
    options: &GenerateOptions,
) -> anyhow::Result<GenerateStats> {
    if !(0.0..=1.0).contains(&options.invalid_ratio) {
        anyhow::bail!("--invalid-ratio must be between 0 and 1, got {}", options.invalid_ratio);
    }
    let producer = flow::producer(client)?;
    let ticket = Arc::new(Ticket::default());
    let mut generator = Generator::new(options.seed, options.invalid_ratio, options.rate);
    if let Some(users) = &options.users {
        generator = generator.of_users(users.clone());
    }
    let mut manifest = match &options.manifest {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let topic = config.kafka.input_topic.clone();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut stats = GenerateStats::default();
    while !options.stop.load(Ordering::Relaxed) && options.count.is_none_or(|c| stats.generated < c)
    {
        if options.rate > 0.0 {
            let due = (started.elapsed().as_secs_f64() * options.rate) as u64;
            if stats.generated >= due {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
        }
        let event = generator.next_event();
        ticket.expect(1);
        let record =
            Outgoing::new(&topic, Some(event.key.clone().into_bytes()), event.value, vec![]);
        flow::produce(&producer, &record, ticket.clone())?;
        if let Some(m) = manifest.as_mut() {
            serde_json::to_writer(&mut *m, &json!({"key": event.key, "kind": event.kind}))?;
            m.write_all(b"\n")?;
        }
        stats.generated += 1;
        stats.invalid += u64::from(event.kind != Kind::Valid);
        if let Some(progress) =
            options.progress.filter(|_| last_progress.elapsed() >= Duration::from_secs(1))
        {
            last_progress = Instant::now();
            progress(&format!(
                "generated {} ({} invalid) at {:.0}/s",
                stats.generated,
                stats.invalid,
                stats.generated as f64 / started.elapsed().as_secs_f64()
            ));
        }
    }
    if let Some(mut m) = manifest {
        m.flush()?;
    }
    flow::wait_for(&ticket, Duration::from_secs(60))
        .map_err(|e| anyhow::anyhow!("generated events were not all delivered to {topic}: {e}"))?;
    if let Some(progress) = options.progress {
        progress(&format!(
            "generated {} ({} invalid) in {:.1} s",
            stats.generated,
            stats.invalid,
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_makes_a_run_reproducible() {
        let a: Vec<Vec<u8>> = (0..50)
            .map({
                let mut g = Generator::new(Some(7), 0.2, 10.0);
                move |_| g.next_event().value
            })
            .collect();
        let b: Vec<Vec<u8>> = (0..50)
            .map({
                let mut g = Generator::new(Some(7), 0.2, 10.0);
                move |_| g.next_event().value
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn a_pool_of_users_is_the_same_for_a_seed_and_every_login_is_of_one_of_them() {
        let users = user_pool(Some(3), 40);
        assert_eq!(users, user_pool(Some(3), 40));
        assert_ne!(users, user_pool(Some(4), 40));
        let mut g = Generator::new(Some(3), 0.0, 100.0).of_users(users.clone());
        let seen: std::collections::HashSet<String> = (0..2000)
            .map(|_| {
                let login: Value = serde_json::from_slice(&g.next_event().value).unwrap();
                login["user_id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(seen.len(), 40, "every user of the pool logs in, no other");
        assert!(seen.iter().all(|u| users.contains(u)));
    }

    #[test]
    fn events_look_like_logins_and_faults_are_injected_at_the_ratio() {
        let mut g = Generator::new(Some(1), 0.1, 100.0);
        let events: Vec<Event> = (0..5000).map(|_| g.next_event()).collect();
        let invalid = events.iter().filter(|e| e.kind != Kind::Valid).count();
        assert!((400..600).contains(&invalid), "{invalid}");
        let valid: Value =
            serde_json::from_slice(&events.iter().find(|e| e.kind == Kind::Valid).unwrap().value)
                .unwrap();
        for field in
            ["user_id", "app_version", "device_type", "ip", "locale", "device_id", "timestamp"]
        {
            assert!(valid.get(field).is_some(), "{field} in {valid}");
        }
        assert_eq!(valid["timestamp"], SEEDED_START);
        let ca = events
            .iter()
            .filter(|e| {
                e.value.windows(9).any(|w| w == br#""locale":"#)
                    && String::from_utf8_lossy(&e.value).contains(r#""locale":"CA""#)
            })
            .count();
        let nm = events
            .iter()
            .filter(|e| String::from_utf8_lossy(&e.value).contains(r#""locale":"NM""#))
            .count();
        assert!(ca > 3 * nm, "locales are skewed: CA {ca}, NM {nm}");
        let missing = events.iter().find(|e| e.kind == Kind::MissingDeviceType).unwrap();
        assert!(!String::from_utf8_lossy(&missing.value).contains("device_type"));
        assert!(
            events
                .iter()
                .any(|e| e.kind == Kind::NotJson
                    && serde_json::from_slice::<Value>(&e.value).is_err())
        );
    }
}
