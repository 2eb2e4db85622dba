//! The enrichment, free of wasm glue: natively the table is what a test serves
//! (`weir_plugin::tables::serve`).

use serde::Deserialize;
use serde_json::{Map, Value};
use weir_plugin::{tables, Emit, Error, Record, Transformer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub table: String,
    pub key_field: String,
    pub fields: Vec<String>,
    pub missing: Missing,
}

#[derive(Debug, Deserialize, Default, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
pub enum Missing {
    /// The record goes on as it came.
    #[default]
    Keep,
    /// The record goes to the dead letters, saying whose profile is missing.
    DeadLetter,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            table: "user-profiles".into(),
            key_field: "user_id".into(),
            fields: vec!["country".into(), "plan".into()],
            missing: Missing::Keep,
        }
    }
}

pub struct Enricher(Config);

impl Transformer for Enricher {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        Ok(Enricher(config))
    }

    fn transform(&mut self, record: &Record, out: &mut Emit) -> Result<(), Error> {
        out.value(&self.enrich(record.value)?);
        Ok(())
    }
}

impl Enricher {
    /// The record with the profile's fields added (replacing any of the same name).
    pub fn enrich(&self, value: &[u8]) -> Result<Vec<u8>, String> {
        let Enricher(config) = self;
        let mut doc: Map<String, Value> = serde_json::from_slice(value)
            .map_err(|e| format!("value is not a JSON object: {e}"))?;
        let key = match doc.get(&config.key_field) {
            Some(Value::String(key)) => key,
            Some(_) => return Err(format!("field `{}` is not a string", config.key_field)),
            None => return Err(format!("field `{}` is missing", config.key_field)),
        };
        let Some(profile) =
            tables::get(&config.table, key.as_bytes()).map_err(|e| e.to_string())?
        else {
            return match config.missing {
                Missing::Keep => Ok(value.to_vec()),
                Missing::DeadLetter => {
                    Err(format!("no profile for `{key}` in table `{}`", config.table))
                }
            };
        };
        let profile: Map<String, Value> = serde_json::from_slice(&profile).map_err(|e| {
            format!("the profile of `{key}` in table `{}` is not a JSON object: {e}", config.table)
        })?;
        for field in &config.fields {
            if let Some(found) = profile.get(field) {
                doc.insert(field.clone(), found.clone());
            }
        }
        serde_json::to_vec(&doc).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enricher(config: &str) -> Enricher {
        <Enricher as Transformer>::from_config(config).unwrap()
    }

    fn profiles() {
        tables::serve(
            "user-profiles",
            [
                ("u1", r#"{"country":"NL","plan":"pro","email":"a@example.com"}"#),
                ("u2", r#"{"plan":"free"}"#),
                ("u3", "not json"),
            ],
        );
    }

    #[test]
    fn adds_the_profiles_country_and_plan_and_nothing_else() {
        profiles();
        let e = enricher("{}");
        let out = e.enrich(br#"{"user_id":"u1","plan":"old"}"#).unwrap();
        assert_eq!(out, br#"{"user_id":"u1","plan":"pro","country":"NL"}"#);
        let out = e.enrich(br#"{"user_id":"u2"}"#).unwrap();
        assert_eq!(out, br#"{"user_id":"u2","plan":"free"}"#);
    }

    #[test]
    fn a_user_without_a_profile_is_kept_or_dead_lettered_as_configured() {
        profiles();
        let value = br#"{"user_id":"nobody"}"#;
        assert_eq!(enricher("{}").enrich(value).unwrap(), value);
        let refused = enricher(r#"{"missing":"dead-letter"}"#).enrich(value).unwrap_err();
        assert_eq!(refused, "no profile for `nobody` in table `user-profiles`");
    }

    #[test]
    fn says_why_it_cannot_enrich() {
        profiles();
        let e = enricher("{}");
        assert!(e.enrich(br#"{"user":"u1"}"#).unwrap_err().contains("`user_id` is missing"));
        assert!(e.enrich(br#"{"user_id":1}"#).unwrap_err().contains("not a string"));
        assert!(e.enrich(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(e.enrich(br#"{"user_id":"u3"}"#).unwrap_err().contains("profile of `u3`"));
        let elsewhere = enricher(r#"{"table":"rates"}"#).enrich(br#"{"user_id":"u1"}"#);
        assert!(elsewhere.unwrap_err().contains("`rates`"));
    }
}
