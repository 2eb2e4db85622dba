//! The demo's `user-profiles` enrichment table (contract 0.3): a profile (country, plan)
//! for most users of the generator's pool, written to a topic before the pipeline starts,
//! then kept changing while it runs — a plan upgraded, a user moved, now and then a profile
//! deleted — as the system that owns profiles would. `login-enricher` adds each login's
//! user's country and plan as the table has them when the login is processed.

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use weir_core::config::{Config, StageConfig, TableConfig};

/// The table, and the topic it is kept from.
pub const TABLE: &str = "user-profiles";
/// Users in the demo's pool; every tenth has no profile at start (its logins pass as they
/// came, `missing = "keep"`).
pub const USERS: usize = 1000;

const COUNTRIES: [&str; 8] = ["US", "CA", "MX", "BR", "GB", "DE", "IN", "JP"];
const PLANS: [&str; 3] = ["free", "pro", "enterprise"];

/// What the profiles' owner wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProfileStats {
    pub written: u64,
    pub updated: u64,
    pub deleted: u64,
}

/// Declares the table and adds `login-enricher` (found beside the config's other
/// plugins) after the transforms, reading it.
pub fn enrich(config: &mut Config) -> anyhow::Result<()> {
    let table: TableConfig = toml::from_str(&format!("topic = \"{TABLE}\""))?;
    config.tables.insert(TABLE.to_string(), table);
    let plugin = crate::shipped_plugin(config, "login-enricher.wasm");
    let stage: StageConfig = toml::from_str(&format!(
        "name = \"enrich\"\nplugin = {}\ntables = [\"{TABLE}\"]\nconfig = {{ table = \"{TABLE}\" }}\n",
        toml::Value::String(plugin.display().to_string())
    ))?;
    config.transform.push(stage);
    Ok(())
}

/// The profiles' owner: writes the table's topic.
pub struct Profiles {
    producer: BaseProducer,
    users: Arc<[String]>,
    rng: SmallRng,
    pub stats: ProfileStats,
}

impl Profiles {
    pub fn new(
        client: &ClientConfig,
        users: Arc<[String]>,
        seed: Option<u64>,
    ) -> anyhow::Result<Profiles> {
        let rng = match seed {
            Some(seed) => SmallRng::seed_from_u64(seed ^ 0x9f11_e5e7),
            None => rand::make_rng::<SmallRng>(),
        };
        Ok(Profiles { producer: client.create()?, users, rng, stats: ProfileStats::default() })
    }

    fn profile(&mut self) -> String {
        let country = COUNTRIES[self.rng.random_range(0..COUNTRIES.len())];
        // Most users are on the free plan.
        let plan = PLANS[[0, 0, 0, 1, 1, 2][self.rng.random_range(0..6)]];
        serde_json::json!({ "country": country, "plan": plan }).to_string()
    }

    fn send(&mut self, user: usize, value: Option<String>) -> anyhow::Result<()> {
        let key = self.users[user].clone();
        let mut record = BaseRecord::<str, str>::to(TABLE).key(&key);
        if let Some(value) = &value {
            record = record.payload(value);
        }
        self.producer.send(record).map_err(|(e, _)| e)?;
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// A profile for every user but each tenth, delivered when this returns.
    pub fn write_all(&mut self) -> anyhow::Result<()> {
        for user in (0..self.users.len()).filter(|u| u % 10 != 9) {
            let profile = self.profile();
            self.send(user, Some(profile))?;
            self.stats.written += 1;
        }
        self.producer.flush(Duration::from_secs(30))?;
        Ok(())
    }

    /// Until `stop`, a change every `every`: a new profile for a user (one who had none,
    /// too), or one in ten times a profile deleted (a tombstone).
    pub fn keep_changing(
        &mut self,
        every: Duration,
        stop: &AtomicBool,
    ) -> anyhow::Result<ProfileStats> {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            let user = self.rng.random_range(0..self.users.len());
            if self.rng.random_range(0..10) == 0 {
                self.send(user, None)?;
                self.stats.deleted += 1;
            } else {
                let profile = self.profile();
                self.send(user, Some(profile))?;
                self.stats.updated += 1;
            }
        }
        self.producer.flush(Duration::from_secs(30))?;
        Ok(self.stats)
    }
}
