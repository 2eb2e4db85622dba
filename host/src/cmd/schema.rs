//! `weir schema register|get`: weir's JSON Schemas in a Confluent-compatible registry.

use std::path::{Path, PathBuf};
use weir::registry::Registry;
use weir_core::config::Config;

#[derive(clap::Subcommand)]
pub enum SchemaCommand {
    /// Register the config's `[schemas]` (`input`: by default the `[validate]` stage's
    /// schema file; `output`) under the input and output topics' subjects (`<topic>-value`,
    /// or `[topics."T"] subject`): schemaType AVRO for a `.avsc` file, else JSON.
    #[command(after_help = "Examples:\n  weir schema register --registry http://127.0.0.1:8081")]
    Register {
        #[command(flatten)]
        config: super::ConfigFile,
        /// The registry's URL (e.g. http://127.0.0.1:8081); default: `[registry] url`.
        #[arg(long, env = "WEIR_REGISTRY")]
        registry: Option<String>,
    },
    /// Show the latest (or --version) schema of a subject.
    #[command(
        after_help = "Examples:\n  weir schema get user-login-value --registry http://127.0.0.1:8081\n  weir schema get user-login-value --version 1"
    )]
    Get {
        /// The subject, e.g. `user-login-value`.
        subject: String,
        /// A version number instead of the latest.
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        config: super::ConfigFile,
        /// The registry's URL (e.g. http://127.0.0.1:8081); default: `[registry] url`.
        #[arg(long, env = "WEIR_REGISTRY")]
        registry: Option<String>,
    },
}

impl SchemaCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            SchemaCommand::Register { config, registry } => {
                let (url, config) = registry_url(registry, &config)?;
                let config = config.ok_or_else(|| {
                    anyhow::anyhow!(
                        "schema register needs the config (--config) to find the schemas"
                    )
                })?;
                let registry = Registry::for_config(&config, &url)?;
                let subjects = subjects(&config);
                if subjects.is_empty() {
                    anyhow::bail!(
                        "config {}: no schema to register: set `[schemas] input` (or a [validate] stage's `schema` file) and `output`",
                        config.source.display()
                    );
                }
                for (subject, file) in subjects {
                    let path = config.resolve(&file);
                    let schema = weir::resolve::load_schema(&path).map_err(anyhow::Error::msg)?;
                    // An Avro schema is a `.avsc` file, as Avro's own tools name them.
                    let schema_type =
                        if path.extension().is_some_and(|e| e == "avsc") { "AVRO" } else { "JSON" };
                    let id = registry.register_with_references(
                        &subject,
                        schema_type,
                        &schema.to_string(),
                        &[],
                    )?;
                    println!("registered {} as {subject} (id {id}, {schema_type})", path.display());
                }
                Ok(())
            }
            SchemaCommand::Get { subject, version, config, registry } => {
                let (url, config) = registry_url(registry, &config)?;
                let registry = match &config {
                    Some(config) => Registry::for_config(config, &url)?,
                    None => Registry::new(&url),
                };
                let found = registry.get(&subject, version)?;
                weir::say!(
                    "{} version {} (id {}, {})",
                    found.subject,
                    found.version,
                    found.id,
                    found.schema_type.as_deref().unwrap_or("AVRO")
                );
                let pretty = serde_json::from_str::<serde_json::Value>(&found.schema)
                    .map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
                    .unwrap_or(found.schema);
                println!("{pretty}");
                Ok(())
            }
        }
    }
}

/// The subjects `schema register` fills: `<topic>-value`, Confluent's TopicNameStrategy.
fn subjects(config: &Config) -> Vec<(String, PathBuf)> {
    let validate_schema = || {
        let schema = config.validate.as_ref()?.config.get("schema")?.as_str()?;
        (!schema.starts_with(weir::registry::SCHEME)).then(|| PathBuf::from(schema))
    };
    let input = config.schemas.input.clone().or_else(validate_schema);
    [
        (&config.kafka.input_topic, input),
        (&config.kafka.output_topic, config.schemas.output.clone()),
    ]
    .into_iter()
    .filter_map(|(topic, schema)| {
        let subject = config
            .topics
            .get(topic)
            .and_then(|t| t.subject.clone())
            .unwrap_or_else(|| format!("{topic}-value"));
        Some((subject, schema?))
    })
    .collect()
}

/// `--registry` / `WEIR_REGISTRY`, else `registry.url` in the config.
fn registry_url(flag: Option<String>, config: &Path) -> anyhow::Result<(String, Option<Config>)> {
    let config = if config.exists() { Some(Config::load(config)?) } else { None };
    let url = flag
        .or_else(|| config.as_ref().and_then(|c| c.registry.url.clone()))
        .ok_or_else(|| anyhow::anyhow!("no schema registry: pass --registry URL, set WEIR_REGISTRY, or `registry.url` in the config"))?;
    Ok((url, config))
}
