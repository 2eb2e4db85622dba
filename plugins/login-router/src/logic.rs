//! The routing, free of wasm glue so it is unit-tested natively.

use serde::Deserialize;
use weir_plugin::json::{as_str, fields};
use weir_plugin::{Emit, Error, Out, Record, Transformer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The version field: a record goes to output `v<major>` (`"2.4.1"` → `v2`), which the
    /// stage's `[transform.outputs]` maps to a topic.
    pub version_field: String,
    /// Records whose `drop_field` holds one of `drop_values` are dropped (filtered out).
    pub drop_field: String,
    pub drop_values: Vec<String>,
    /// The field whose text becomes the record's key; `""` keeps the key it came with.
    pub key_field: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version_field: "app_version".into(),
            drop_field: "device_type".into(),
            drop_values: vec!["health-check".into()],
            key_field: "user_id".into(),
        }
    }
}

pub struct Router {
    config: Config,
}

impl Transformer for Router {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        if config.version_field.is_empty() {
            return Err("`version_field` must name a field".into());
        }
        Ok(Router { config })
    }

    fn transform(&mut self, record: &Record, out: &mut Emit) -> Result<(), Error> {
        let c = &self.config;
        let [version, drop, key] =
            fields(record.value, [&c.version_field, &c.drop_field, &c.key_field])
                .map_err(|e| format!("value is not a JSON object: {e}"))?;
        if drop.and_then(as_str).is_some_and(|v| c.drop_values.iter().any(|d| *d == v)) {
            return Ok(());
        }
        let version = version
            .and_then(as_str)
            .ok_or_else(|| format!("`{}` is missing or not a string", c.version_field))?;
        let major = version
            .split('.')
            .next()
            .filter(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()));
        let major = major.ok_or_else(|| {
            format!("`{}` = {version:?} does not start with a major version", c.version_field)
        })?;
        let output = format!("v{major}");
        let user = key.and_then(as_str);
        let mut routed =
            Out::like(record, record.value).header("app-major", major.as_bytes()).to(&output);
        if !c.key_field.is_empty() {
            let user = user
                .as_deref()
                .ok_or_else(|| format!("`{}` is missing or not a string", c.key_field))?;
            out.record(routed.key(Some(user.as_bytes())));
            return Ok(());
        }
        routed = routed.key(record.key);
        out.record(routed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin::transformer::transform;

    fn router() -> Router {
        Router::from_config("").unwrap()
    }

    #[test]
    fn routes_by_major_version_with_the_user_as_key_and_the_value_untouched() {
        let value = br#"{"user_id":"u1","app_version":"2.4.1","device_type":"iOS"}"#;
        let out = transform(&mut router(), &Record::new(value)).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].value, value);
        assert_eq!(out[0].key.as_deref(), Some(&b"u1"[..]));
        assert_eq!(out[0].output.as_deref(), Some("v2"));
        assert_eq!(out[0].headers, vec![("app-major".to_string(), b"2".to_vec())]);
        let beta = transform(
            &mut router(),
            &Record::new(br#"{"user_id":"u","app_version":"3.0.0-beta"}"#),
        )
        .unwrap();
        assert_eq!(beta[0].output.as_deref(), Some("v3"));
    }

    #[test]
    fn drops_health_checks() {
        let check = br#"{"user_id":"probe","app_version":"2.3.0","device_type":"health-check"}"#;
        assert_eq!(transform(&mut router(), &Record::new(check)).unwrap(), vec![]);
    }

    #[test]
    fn refuses_what_it_cannot_route_with_the_reason() {
        let no_version = transform(&mut router(), &Record::new(br#"{"user_id":"u"}"#)).unwrap_err();
        assert_eq!(no_version.reason(), "`app_version` is missing or not a string");
        let odd =
            transform(&mut router(), &Record::new(br#"{"user_id":"u","app_version":"beta"}"#))
                .unwrap_err();
        assert!(odd.reason().contains("does not start with a major version"), "{odd}");
        assert!(transform(&mut router(), &Record::new(b"[1]")).is_err());
        assert!(Router::from_config(r#"{"version_field":""}"#).is_err());
    }

    #[test]
    fn keeps_the_incoming_key_when_no_key_field_is_set() {
        let mut keep = Router::from_config(r#"{"key_field":""}"#).unwrap();
        let record = Record { key: Some(b"k"), ..Record::new(br#"{"app_version":"2.0.0"}"#) };
        assert_eq!(transform(&mut keep, &record).unwrap()[0].key.as_deref(), Some(&b"k"[..]));
    }
}
