//! weir.toml: the pipeline's topics, stages, plugins and limits.
//!
//! Every error names the file, the key and the fix. Paths in the file are relative
//! to the file's own directory, so `weir --config /etc/weir/weir.toml` works anywhere.

pub use crate::format::{Format, TopicConfig};
use crate::plugin::limits::Limits;
pub use crate::window::{EventTimeConfig, RecordTimestamp, TimeUnit, WindowConfig};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The brokers, the group and the topics records are read from and go to.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// Batching and the circuit breaker, for every stage.
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// The stage that checks each record; a refused record is a dead letter.
    pub validate: Option<StageConfig>,
    /// The stages that rewrite records, in order: `[transform]` once or `[[transform]]`
    /// each.
    #[serde(default, deserialize_with = "one_or_many")]
    pub transform: Vec<StageConfig>,
    /// The stage that folds records into a report (or per-window results).
    pub aggregate: Option<StageConfig>,
    /// The stage `weir repair` runs over dead letters.
    pub repair: Option<RepairConfig>,
    /// The schema registry, for `registry://` schemas and framed topics.
    #[serde(default)]
    pub registry: RegistryConfig,
    /// The topics' value schemas, for `weir schema register`.
    #[serde(default)]
    pub schemas: TopicSchemas,
    /// The aggregator's checkpointed state.
    #[serde(default)]
    pub state: StateConfig,
    /// The metrics, health and status page server.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// `[topics."NAME"]`: a topic's record format (Confluent-framed JSON or Avro).
    #[serde(default)]
    pub topics: std::collections::BTreeMap<String, TopicConfig>,
    /// `[tables.NAME]`: an enrichment table kept from a compacted topic, for the stages
    /// whose `tables` name it (contract 0.3).
    #[serde(default)]
    pub tables: std::collections::BTreeMap<String, TableConfig>,
    /// Where the file was read from; relative paths resolve against its directory.
    #[serde(skip)]
    pub source: PathBuf,
    /// The `[kafka]` keys naming where records are read from and go to that this file
    /// leaves empty: fine offline (`weir process`), refused by whatever touches Kafka
    /// (see [`Config::require_topics`]).
    #[serde(skip)]
    pub unnamed_topics: Vec<&'static str>,
}

#[derive(Debug, Deserialize, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port…]`; `--brokers` or `WEIR_BROKERS` override.
    pub brokers: String,
    /// The consumer group: instances with one id share the input's partitions.
    pub group_id: String,
    /// The topic records are read from. No default: required by every command that
    /// touches Kafka.
    pub input_topic: String,
    /// Where records that pass every stage go. No default (required, as `input_topic`).
    pub output_topic: String,
    /// Where records a stage refused go, the reason in headers. No default (required).
    pub dead_letter_topic: String,
    /// Default: `<dead_letter_topic>-parked`.
    pub parked_topic: String,
    /// Where the aggregator's reports are published while running; none: not published.
    pub analytics_topic: Option<String>,
    /// Where a group with no committed offsets starts (`weir run --from` overrides):
    /// `earliest`, `latest`, an offset, or a time like `2026-11-27T22:05:00Z`. Default:
    /// `auto.offset.reset` (earliest).
    pub from: Option<String>,
    /// Partitions per topic for `weir topics create`.
    pub partitions: i32,
    /// Replicas per partition for `weir topics create`.
    pub replication: i32,
    /// Extra librdkafka properties. weir-kafka checks them (its `settings`): a few
    /// carry weir's delivery guarantees and are refused.
    pub properties: std::collections::BTreeMap<String, String>,
    /// `[kafka.security]`, TLS and SASL to the brokers: read and checked by weir-kafka
    /// (its `settings`), which alone knows what a Kafka client needs.
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub security: toml::Table,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "weir".into(),
            // No defaults for where records go: on a shared cluster a default is someone
            // else's topic. The demo's topics are in the demo's weir.toml.
            input_topic: String::new(),
            output_topic: String::new(),
            dead_letter_topic: String::new(),
            parked_topic: String::new(),
            analytics_topic: None,
            from: None,
            partitions: 3,
            replication: 1,
            properties: Default::default(),
            security: toml::Table::new(),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Default, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Confluent-compatible schema registry, for `registry://SUBJECT[@VERSION]` schemas.
    /// `--registry` or `WEIR_REGISTRY` override it. `https://` for TLS.
    pub url: Option<String>,
    /// CA certificates (PEM) the registry's certificate must chain to; default: the system's.
    pub ca: Option<PathBuf>,
    /// Basic auth (Confluent Cloud: the API key); the password from `password_env` or
    /// `password_file`, never from weir.toml.
    pub username: Option<String>,
    /// The environment variable holding the basic-auth password.
    pub password_env: Option<String>,
    /// A file holding the basic-auth password (a mounted secret, say).
    pub password_file: Option<PathBuf>,
    /// Send the credentials over plain `http://` all the same (a registry on loopback, say).
    pub allow_insecure: bool,
}

/// The JSON Schemas of the topics' values: what `weir schema register` registers under
/// `<input_topic>-value` and `<output_topic>-value` (Confluent's TopicNameStrategy).
#[derive(Debug, Deserialize, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TopicSchemas {
    /// Default: the `[validate]` stage's `schema`, when it is a file.
    pub input: Option<PathBuf>,
    /// The output topic's value schema.
    pub output: Option<PathBuf>,
}

/// The aggregator's state per input partition, checkpointed to a compacted topic so it
/// survives restarts and moves with its partition to another instance (`weir run`).
#[derive(Debug, Deserialize, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// On whenever there is an `[aggregate]` stage; `false` keeps the analytics in memory.
    pub enabled: bool,
    /// The changelog topic; default `<group_id>-state`.
    pub topic: Option<String>,
    /// Seconds between checkpoints (also taken when a partition is revoked and at a stop).
    pub checkpoint_interval_s: u64,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig { enabled: true, topic: None, checkpoint_interval_s: 5 }
    }
}

/// Where `weir run` and `weir repair` serve `/metrics`, `/healthz` and `/readyz`.
#[derive(Debug, Deserialize, Clone, Default, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// An address such as `0.0.0.0:9100`; `--metrics` overrides it. None: not served.
    pub listen: Option<String>,
    /// Whether the status page shows dead letters' keys, values and reasons as they
    /// are. Default: only when served on a loopback address (else hidden, reasons masked).
    pub show_records: Option<bool>,
    /// Host names the status page answers to, besides IP addresses and `localhost`
    /// (a page asked by another name is refused: DNS rebinding).
    pub page_hosts: Vec<String>,
}

#[derive(Debug, Deserialize, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Messages per plugin call.
    pub batch_size: usize,
    /// Where compiled plugins are cached; default `~/.cache/weir` (or `$WEIR_CACHE_DIR`).
    pub cache_dir: Option<PathBuf>,
    /// Plugin faults in a row that open the circuit breaker (0: never).
    pub max_consecutive_faults: u32,
    /// Seconds between retries of the held batch while the breaker is open.
    pub fault_cooldown_s: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch_size: 100,
            cache_dir: None,
            max_consecutive_faults: 50,
            fault_cooldown_s: 30,
        }
    }
}

/// One stage: the plugin, its config (handed to the plugin's `init` as JSON) and limits.
#[derive(Debug, Deserialize, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Defaults to the section name (`validate`, `transform`, ...).
    pub name: Option<String>,
    /// The plugin, a `.wasm` component: relative to this file, else found by name in
    /// `$WEIR_PLUGIN_DIR` or `plugins/` beside the weir binary.
    pub plugin: PathBuf,
    /// The plugin's own settings, handed to its `init` as JSON (a `schema` path replaced by
    /// the document); checked against the plugin's config schema when it carries one.
    #[serde(default = "empty_table")]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub config: toml::Table,
    /// What one instance of the plugin may use (`[STAGE.limits]`).
    #[serde(default)]
    pub limits: Limits,
    /// A transformer's named outputs (contract 0.2), each to its topic:
    /// `[transform.outputs] v2 = "user-login-v2"`. A record emitted without a name goes
    /// to the output topic.
    #[serde(default)]
    pub outputs: std::collections::BTreeMap<String, String>,
    /// An aggregator's event-time windows (`[aggregate.window]`): results per window as
    /// records, instead of one running report.
    pub window: Option<WindowConfig>,
    /// The enrichment tables its plugin may read (contract 0.3), e.g.
    /// `tables = ["user-profiles"]`; it can read no other. `weir run` keeps each from its
    /// `[tables.NAME]` topic; offline, `--table NAME=FILE.jsonl` serves it.
    #[serde(default)]
    pub tables: Vec<String>,
}

/// `[tables.NAME]`: where an enrichment table comes from, and what it may hold.
#[derive(Debug, Deserialize, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// The compacted topic it is kept from: record key = table key, record value = its
    /// value, a null value deletes the key. Read from its beginning to its end before the
    /// first record is processed, then followed.
    pub topic: String,
    /// What the table may hold in memory, keys and values (plus 128 bytes an entry), in MiB.
    /// Past it the table moves to a store on local disk (if `max_disk_mib` is not 0; else
    /// an update past it is refused and logged).
    #[serde(default = "default_table_memory_mib")]
    pub max_memory_mib: u64,
    /// What the table may hold on disk once past `max_memory_mib`, counted as in memory, in
    /// MiB; an update past it is refused and logged. 0: the table stays in memory.
    #[serde(default = "default_table_disk_mib")]
    pub max_disk_mib: u64,
    /// Where the store on disk goes (a file with no name, freed when the process ends, even
    /// killed; the table is rebuilt from its topic on every start). Default: the system's temporary
    /// directory — point it at a disk where that is memory (a tmpfs).
    #[serde(default)]
    pub dir: Option<PathBuf>,
}

fn default_table_memory_mib() -> u64 {
    crate::table::DEFAULT_MAX_MEMORY_MIB
}

fn default_table_disk_mib() -> u64 {
    crate::table::DEFAULT_MAX_DISK_MIB
}

#[derive(Debug, Deserialize, Clone, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepairConfig {
    #[serde(flatten)]
    pub stage: StageConfig,
    /// Round trips through the dead-letter topic before a record is parked.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

fn default_max_attempts() -> u32 {
    3
}

fn empty_table() -> toml::Table {
    toml::Table::new()
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<StageConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Box<StageConfig>),
        Many(Vec<StageConfig>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(stage) => vec![*stage],
        OneOrMany::Many(stages) => stages,
    })
}

/// The `[kafka]` keys that name where records are read from and go to: no defaults.
pub const TOPIC_KEYS: [&str; 3] = ["input_topic", "output_topic", "dead_letter_topic"];

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {reason}. Pass `--config PATH` to a weir.toml, or start a project with `weir init`", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("config {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("config {}: `{key}`: {reason}", path.display())]
    Key { path: PathBuf, key: String, reason: String },
    #[error("config {}: [kafka] does not say where records go; set {keys} (`weir init` writes a config with every topic named)", path.display())]
    UnnamedTopics { path: PathBuf, keys: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Config::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: path.to_path_buf(),
            reason: one_line(&e.to_string()),
        })?;
        config.source = path.to_path_buf();
        let k = &mut config.kafka;
        if k.parked_topic.is_empty() && !k.dead_letter_topic.is_empty() {
            k.parked_topic = format!("{}-parked", k.dead_letter_topic);
        }
        let named = [&k.input_topic, &k.output_topic, &k.dead_letter_topic];
        config.unnamed_topics = TOPIC_KEYS
            .into_iter()
            .zip(named)
            .filter(|(_, t)| t.is_empty())
            .map(|(k, _)| k)
            .collect();
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.pipeline.batch_size == 0 {
            return Err(
                self.key_error("pipeline.batch_size", "must be at least 1 (100 is a good start)")
            );
        }
        for (key, stage) in self.stages() {
            stage
                .limits
                .check()
                .map_err(|reason| self.key_error(&format!("{key}.limits"), &reason))?;
        }
        if let Some(repair) = &self.repair {
            if repair.max_attempts == 0 {
                return Err(self.key_error("repair.max_attempts", "must be at least 1 (default 3)"));
            }
        }
        if self.state.checkpoint_interval_s == 0 {
            return Err(
                self.key_error("state.checkpoint_interval_s", "must be at least 1 (default 5)")
            );
        }
        self.check_windows()?;
        self.check_topics()?;
        self.check_formats()
    }

    /// Only an aggregator has windows, and they must make sense.
    fn check_windows(&self) -> Result<(), ConfigError> {
        for (key, stage) in self.stages() {
            let Some(window) = &stage.window else { continue };
            if key != "aggregate" {
                return Err(self
                    .key_error(&format!("{key}.window"), "only an [aggregate] stage has windows"));
            }
            crate::window::WindowSpec::from_config(window)
                .map_err(|reason| self.key_error("aggregate.window", &reason))?;
        }
        Ok(())
    }

    /// This config for JSON-lines files (`weir process`, `weir repair --input`): the
    /// `[topics]` formats are for Kafka's topics, a file is JSON either way.
    pub fn for_files(&self) -> Config {
        Config { topics: Default::default(), ..self.clone() }
    }

    /// Refuses a config that does not name where its records are read from and go to —
    /// for every command that touches Kafka (offline commands need no topics).
    pub fn require_topics(&self) -> Result<(), ConfigError> {
        if self.unnamed_topics.is_empty() {
            return Ok(());
        }
        Err(ConfigError::UnnamedTopics {
            path: self.source.clone(),
            keys: self
                .unnamed_topics
                .iter()
                .map(|k| format!("{k} = \"…\""))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The topic window results go to, when the aggregator has windows.
    pub fn window_topic(&self) -> Option<String> {
        let window = self.aggregate.as_ref()?.window.as_ref()?;
        Some(window.topic.clone().unwrap_or_else(|| format!("{}-windows", self.kafka.output_topic)))
    }

    /// Each topic of the flow with the key that names it, input first.
    pub fn topic_roles(&self) -> Vec<(&'static str, String)> {
        let k = &self.kafka;
        let mut roles = vec![
            ("kafka.input_topic", k.input_topic.clone()),
            ("kafka.output_topic", k.output_topic.clone()),
            ("kafka.dead_letter_topic", k.dead_letter_topic.clone()),
            ("kafka.parked_topic", k.parked_topic.clone()),
        ];
        if let Some(state) = self.state_topic() {
            roles.push(("state.topic", state));
        }
        if let Some(analytics) = &k.analytics_topic {
            roles.push(("kafka.analytics_topic", analytics.clone()));
        }
        if let Some(windows) = self.window_topic() {
            roles.push(("aggregate.window.topic", windows));
        }
        roles
    }

    /// Each topic has one role: reading what you write is an endless loop.
    fn check_topics(&self) -> Result<(), ConfigError> {
        let roles = self.topic_roles();
        for (i, (key, topic)) in roles.iter().enumerate() {
            if topic.is_empty() {
                continue; // unnamed: refused by `require_topics` where a topic is needed
            }
            if let Some((other, _)) = roles[..i].iter().find(|(_, t)| t == topic) {
                return Err(self.key_error(
                    key,
                    &format!("`{topic}` is also `{other}`; give each role its own topic"),
                ));
            }
        }
        Ok(())
    }

    /// A format is for the topics records are read from or written to by the stages:
    /// dead letters keep their bytes as they came, and the host's own topics are JSON.
    fn check_formats(&self) -> Result<(), ConfigError> {
        for (topic, config) in self.topics.iter().filter(|(_, t)| t.format != Format::Json) {
            let key = format!("topics.\"{topic}\".format");
            let table = self.tables.values().any(|t| t.topic == *topic);
            if table && config.reader_schema.is_some() {
                return Err(self.key_error(
                    &format!("topics.\"{topic}\".reader_schema"),
                    "a table's topic is read with each record's writer's schema; `reader_schema` is for the input topic",
                ));
            }
            let read = *topic == self.kafka.input_topic || table;
            let written = *topic == self.kafka.output_topic
                || self.transform.iter().any(|t| t.outputs.values().any(|o| o == topic));
            if !read && !written {
                let role = self
                    .topic_roles()
                    .into_iter()
                    .find(|(_, t)| t == topic)
                    .map(|(k, _)| format!(" (it is `{k}`)"))
                    .unwrap_or_default();
                return Err(self.key_error(
                    &key,
                    &format!("`{topic}` is neither the input, the output, a named output nor a table's topic{role}; only those topics have a format (dead letters keep the bytes they came with)"),
                ));
            }
        }
        Ok(())
    }

    /// The changelog topic of the aggregator's partition states, when they are kept.
    pub fn state_topic(&self) -> Option<String> {
        if !self.state.enabled || self.aggregate.is_none() {
            return None;
        }
        Some(self.state.topic.clone().unwrap_or_else(|| format!("{}-state", self.kafka.group_id)))
    }

    /// Every configured stage with the key it sits under.
    pub fn stages(&self) -> Vec<(String, &StageConfig)> {
        let mut stages = Vec::new();
        if let Some(s) = &self.validate {
            stages.push(("validate".to_string(), s));
        }
        for (i, s) in self.transform.iter().enumerate() {
            let key = if self.transform.len() == 1 {
                "transform".to_string()
            } else {
                format!("transform[{i}]")
            };
            stages.push((key, s));
        }
        if let Some(s) = &self.aggregate {
            stages.push(("aggregate".to_string(), s));
        }
        if let Some(r) = &self.repair {
            stages.push(("repair".to_string(), &r.stage));
        }
        stages
    }

    /// A declared table's bounds, its `dir` resolved against this file's directory.
    pub fn table_bounds(&self, table: &TableConfig) -> crate::table::Bounds {
        crate::table::Bounds {
            memory_mib: table.max_memory_mib,
            disk_mib: table.max_disk_mib,
            dir: table.dir.as_deref().map(|dir| self.resolve(dir)),
        }
    }

    /// An empty table per `[tables.NAME]`, for the stages to be given before the tables
    /// are filled from their topics.
    pub fn declared_tables(&self) -> crate::table::Tables {
        let mut tables = crate::table::Tables::default();
        for (name, table) in &self.tables {
            let table = crate::table::Table::bounded(name, self.table_bounds(table));
            tables.insert(std::sync::Arc::new(table));
        }
        tables
    }

    pub fn key_error(&self, key: &str, reason: &str) -> ConfigError {
        ConfigError::Key {
            path: self.source.clone(),
            key: key.to_string(),
            reason: reason.to_string(),
        }
    }

    /// Where a stage's plugin file is: `plugin` relative to the config file (or absolute)
    /// when it is there; else its file name in the plugin directories ([`plugin_dirs`]),
    /// so a weir installed elsewhere finds the plugins installed with it. Found nowhere:
    /// the config-relative path, which the error then names.
    pub fn plugin_path(&self, plugin: &Path) -> PathBuf {
        let beside = self.resolve(plugin);
        if beside.exists() || plugin.is_absolute() {
            return beside;
        }
        let Some(name) = plugin.file_name() else { return beside };
        plugin_dirs().into_iter().map(|dir| dir.join(name)).find(|p| p.is_file()).unwrap_or(beside)
    }

    /// A path from the file, made relative to the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        match self.source.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }
}

/// Where plugins named in a config but not beside it are looked for, in order:
/// `$WEIR_PLUGIN_DIR`, then `plugins/` beside the weir binary (the image's and `dist/`'s
/// layout, and where to put them beside a `cargo install`ed weir).
pub fn plugin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("WEIR_PLUGIN_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.extend(plugins_beside_binary());
    dirs
}

/// `plugins/` beside the running weir binary.
pub fn plugins_beside_binary() -> Option<PathBuf> {
    std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join("plugins")))
}

/// Turns a stage's config into the JSON its plugin's `init` receives, reading the
/// documents it names (schema files, `resources`, registry schemas). Passed in by the
/// caller: the config stays data, and the stages need not know files or HTTP.
pub trait Resolve: Sync {
    fn stage_json(
        &self,
        config: &Config,
        key: &str,
        stage: &StageConfig,
    ) -> Result<String, ConfigError>;

    /// The enrichment table a stage's `tables` names, if this process serves it.
    fn table(&self, _name: &str) -> Option<std::sync::Arc<crate::table::Table>> {
        None
    }

    /// The schema registry `[topics]` formats read writers' schemas from.
    fn schema_source(
        &self,
        _config: &Config,
    ) -> Result<std::sync::Arc<dyn crate::format::SchemaSource>, String> {
        Err("no schema registry is reachable from here".into())
    }
}

/// Resolves as `inner` does, and serves `tables` to the stages naming them.
pub struct WithTables<'a> {
    pub tables: crate::table::Tables,
    pub inner: &'a dyn Resolve,
}

impl Resolve for WithTables<'_> {
    fn stage_json(
        &self,
        config: &Config,
        key: &str,
        stage: &StageConfig,
    ) -> Result<String, ConfigError> {
        self.inner.stage_json(config, key, stage)
    }

    fn table(&self, name: &str) -> Option<std::sync::Arc<crate::table::Table>> {
        self.tables.get(name).cloned()
    }

    fn schema_source(
        &self,
        config: &Config,
    ) -> Result<std::sync::Arc<dyn crate::format::SchemaSource>, String> {
        self.inner.schema_source(config)
    }
}

fn one_line(text: &str) -> String {
    text.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/weir/weir.toml"))
    }

    const LOGIN_TOPICS: &str = "[kafka]\ninput_topic = \"user-login\"\noutput_topic = \"user-login-processed-production\"\ndead_letter_topic = \"user-login-dead-letter\"\n";

    #[test]
    fn formats_are_only_for_the_topics_the_stages_read_and_write() {
        let with_topics = |text: &str| parse(&format!("{LOGIN_TOPICS}{text}"));
        let ok = with_topics("[topics.\"user-login\"]\nformat = \"avro\"\n[topics.\"user-login-processed-production\"]\nformat = \"confluent-json\"\n").unwrap();
        assert_eq!(ok.topics["user-login"].format, Format::Avro);
        let err = |text: &str| with_topics(text).unwrap_err().to_string();
        let dead = err("[topics.\"user-login-dead-letter\"]\nformat = \"avro\"\n");
        assert!(
            dead.contains("topics.\"user-login-dead-letter\".format")
                && dead.contains("kafka.dead_letter_topic"),
            "{dead}"
        );
        assert!(err("[topics.\"user-login\"]\nformat = \"protobuf\"\n").contains("protobuf"));
        with_topics("[topics.\"user-login-dead-letter\"]\nformat = \"json\"\n")
            .expect("plain JSON is every topic's default");
        let table =
            "[tables.profiles]\ntopic = \"profiles\"\n[topics.\"profiles\"]\nformat = \"avro\"\n";
        assert_eq!(with_topics(table).unwrap().topics["profiles"].format, Format::Avro);
        let reader = err(&format!("{table}reader_schema = \"p.avsc\"\n"));
        assert!(reader.contains("topics.\"profiles\".reader_schema"), "{reader}");
        let nobody = err("[topics.\"profiles\"]\nformat = \"avro\"\n");
        assert!(nobody.contains("nor a table's topic"), "{nobody}");
    }

    #[test]
    fn where_records_go_has_no_default() {
        let none = parse("[transform]\nplugin = \"t.wasm\"\n").unwrap();
        assert_eq!(none.unnamed_topics, TOPIC_KEYS);
        let err = none.require_topics().unwrap_err().to_string();
        for key in TOPIC_KEYS {
            assert!(err.contains(key), "{key} not named: {err}");
        }
        assert!(!err.contains("user-login"), "{err}");
        let some = parse("[kafka]\ninput_topic = \"orders\"\n").unwrap();
        let err = some.require_topics().unwrap_err().to_string();
        assert!(err.contains("output_topic") && !err.contains("input_topic"), "{err}");
        let all = parse(LOGIN_TOPICS).unwrap();
        all.require_topics().unwrap();
        assert_eq!(all.kafka.parked_topic, "user-login-dead-letter-parked", "derived");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[pipeline]\nbatch_sise = 5\n").unwrap_err().to_string();
        assert!(err.contains("/etc/weir/weir.toml"), "{err}");
        assert!(err.contains("batch_sise"), "{err}");
    }

    #[test]
    fn bad_limits_are_named_with_their_key() {
        let err = parse("[validate]\nplugin = \"v.wasm\"\nlimits = { memory_mib = 0 }\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`validate.limits`"), "{err}");
        assert!(err.contains("memory_mib"), "{err}");
    }

    #[test]
    fn transform_is_one_table_or_many() {
        let one = parse("[transform]\nplugin = \"a.wasm\"\n").unwrap();
        assert_eq!(one.transform.len(), 1);
        let many =
            parse("[[transform]]\nplugin = \"a.wasm\"\n[[transform]]\nplugin = \"b.wasm\"\n")
                .unwrap();
        assert_eq!(many.stages()[1].0, "transform[1]");
    }

    #[test]
    fn paths_resolve_against_the_config_file() {
        let config = parse("").unwrap();
        assert_eq!(config.resolve(Path::new("p.wasm")), PathBuf::from("/etc/weir/p.wasm"));
        assert_eq!(config.resolve(Path::new("/abs.wasm")), PathBuf::from("/abs.wasm"));
    }

    #[test]
    fn a_topic_has_one_role() {
        let err =
            parse("[kafka]\ninput_topic = \"t\"\noutput_topic = \"t\"\n").unwrap_err().to_string();
        assert!(
            err.contains("`kafka.output_topic`") && err.contains("is also `kafka.input_topic`"),
            "{err}"
        );
        let err = parse("[kafka]\ndead_letter_topic = \"d\"\nparked_topic = \"d\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`kafka.parked_topic`") && err.contains("kafka.dead_letter_topic"),
            "{err}"
        );
    }
}
