//! Avro records as the JSON plugins read and write: decoded with the writer's schema
//! (resolved against a reader schema when one is configured), encoded with the output
//! subject's schema. A value that does not fit is refused naming the field.

use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::types::Value;
use apache_avro::Schema;
use serde_json::Value as Json;
use std::collections::HashMap;

/// A parsed Avro schema with its named types, ready to check and encode against.
pub struct AvroSchema {
    schema: Schema,
    names: HashMap<Name, Schema>,
}

impl AvroSchema {
    pub fn parse(text: &str) -> Result<AvroSchema, String> {
        let schema = Schema::parse_str(text).map_err(|e| format!("not an Avro schema: {e}"))?;
        let names = ResolvedSchema::try_from(&schema)
            .map_err(|e| format!("an Avro schema whose names do not resolve: {e}"))?
            .get_names()
            .iter()
            .map(|(name, schema)| (name.clone(), (*schema).clone()))
            .collect();
        Ok(AvroSchema { schema, names })
    }

    /// The JSON text of one Avro datum written with this schema (`reader`: resolved
    /// against it). Every byte must belong to the datum.
    pub fn decode(&self, datum: &[u8], reader: Option<&AvroSchema>) -> Result<Vec<u8>, String> {
        super::avro_bounds::check(&self.schema, &self.names, datum)?;
        let mut rest = datum;
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&self.schema)
            .maybe_reader_schema(reader.map(|r| &r.schema))
            .build()
            .and_then(|reader| reader.read_value(&mut rest))
            .map_err(|e| format!("Avro that does not match its writer's schema: {e}"))?;
        if !rest.is_empty() {
            return Err(format!(
                "Avro that does not match its writer's schema: {} bytes left after the record",
                rest.len()
            ));
        }
        let json =
            Json::try_from(value).map_err(|e| format!("Avro value with no JSON form: {e}"))?;
        Ok(serde_json::to_vec(&json).expect("JSON serialises"))
    }

    /// One Avro datum of the JSON text `value`; an error naming the first field that does
    /// not fit (a missing field without a default, a wrong type, a field the schema lacks).
    pub fn encode(&self, value: &[u8]) -> Result<Vec<u8>, String> {
        let json: Json = serde_json::from_slice(value)
            .map_err(|e| format!("not JSON, so not Avro either: {e}"))?;
        if let Some(mismatch) = self.mismatch(&json, &self.schema, "") {
            return Err(format!("does not fit the output schema: {mismatch}"));
        }
        let avro = Value::try_from(json)
            .and_then(|value| value.resolve(&self.schema))
            .map_err(|e| format!("does not fit the output schema: {e}"))?;
        apache_avro::writer::datum::GenericDatumWriter::builder(&self.schema)
            .build()
            .and_then(|writer| writer.write_value_to_vec(avro))
            .map_err(|e| format!("does not fit the output schema: {e}"))
    }

    /// Where `json` first departs from `schema`, as `/path: what`; `None` if it fits.
    fn mismatch(&self, json: &Json, schema: &Schema, path: &str) -> Option<String> {
        let here = || if path.is_empty() { "/".to_string() } else { path.to_string() };
        let wrong = |expected: &str| {
            Some(format!("{}: expected {expected}, found {}", here(), kind_of(json)))
        };
        let integer_in =
            |min: i64, max: i64| json.as_i64().is_some_and(|n| (min..=max).contains(&n));
        match schema {
            Schema::Null => (!json.is_null()).then(|| wrong("null")).flatten(),
            Schema::Boolean => (!json.is_boolean()).then(|| wrong("a boolean")).flatten(),
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                (!integer_in(i32::MIN.into(), i32::MAX.into()))
                    .then(|| wrong("an int (32-bit integer)"))
                    .flatten()
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => (!integer_in(i64::MIN, i64::MAX))
                .then(|| wrong("a long (64-bit integer)"))
                .flatten(),
            Schema::Float | Schema::Double => {
                (!json.is_number()).then(|| wrong("a number")).flatten()
            }
            Schema::String | Schema::Uuid(_) | Schema::Bytes => {
                (!json.is_string()).then(|| wrong("a string")).flatten()
            }
            Schema::Enum(e) => match json.as_str() {
                Some(symbol) if e.symbols.iter().any(|s| s == symbol) => None,
                _ => wrong(&format!("one of {}", e.symbols.join(", "))),
            },
            Schema::Array(array) => match json.as_array() {
                Some(items) => items.iter().enumerate().find_map(|(i, item)| {
                    self.mismatch(item, &array.items, &format!("{path}/{i}"))
                }),
                None => wrong("an array"),
            },
            Schema::Map(map) => match json.as_object() {
                Some(entries) => entries
                    .iter()
                    .find_map(|(k, v)| self.mismatch(v, &map.types, &format!("{path}/{k}"))),
                None => wrong("an object (an Avro map)"),
            },
            Schema::Record(record) => {
                let Some(fields) = json.as_object() else {
                    return wrong(&format!("an object (record {})", record.name));
                };
                for field in &record.fields {
                    let at = format!("{path}/{}", field.name);
                    match fields.get(&field.name) {
                        Some(value) => {
                            if let Some(mismatch) = self.mismatch(value, &field.schema, &at) {
                                return Some(mismatch);
                            }
                        }
                        None if field.default.is_some() => {}
                        None => {
                            return Some(format!(
                                "{at}: missing, and record {} gives it no default",
                                record.name
                            ))
                        }
                    }
                }
                let unknown =
                    fields.keys().find(|k| !record.fields.iter().any(|f| &f.name == *k))?;
                Some(format!(
                    "{path}/{unknown}: not a field of record {} (it would be lost)",
                    record.name
                ))
            }
            Schema::Union(union) => {
                let fits = union
                    .variants()
                    .iter()
                    .any(|variant| self.mismatch(json, variant, path).is_none());
                let names: Vec<String> = union.variants().iter().map(type_name).collect();
                (!fits)
                    .then(|| wrong(&format!("one of the union's types [{}]", names.join(", "))))
                    .flatten()
            }
            Schema::Ref { name } => match self.names.get(name) {
                Some(named) => self.mismatch(json, named, path),
                None => None, // the encoder names what it cannot find
            },
            // Fixed, decimals and durations: the encoder judges them.
            _ => None,
        }
    }
}

fn kind_of(json: &Json) -> String {
    match json {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the boolean {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(_) => "a string".into(),
        Json::Array(_) => "an array".into(),
        Json::Object(_) => "an object".into(),
    }
}

fn type_name(schema: &Schema) -> String {
    match schema {
        Schema::Record(r) => r.name.to_string(),
        Schema::Enum(e) => e.name.to_string(),
        Schema::Fixed(f) => f.name.to_string(),
        Schema::Ref { name } => name.to_string(),
        other => format!("{:?}", apache_avro::schema::SchemaKind::from(other)).to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGIN: &str = r#"{"type": "record", "name": "Login", "namespace": "weir", "fields": [
        {"name": "user_id", "type": "string"},
        {"name": "timestamp", "type": "long"},
        {"name": "locale", "type": ["null", "string"], "default": null},
        {"name": "device", "type": {"type": "enum", "name": "Device", "symbols": ["android", "iOS"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []}
    ]}"#;

    fn schema() -> AvroSchema {
        AvroSchema::parse(LOGIN).unwrap()
    }

    #[test]
    fn a_record_goes_to_avro_and_back_as_the_same_json() {
        let json = br#"{"user_id":"u1","timestamp":1700000000,"locale":"en_US","device":"iOS","tags":["a"]}"#;
        let avro = schema().encode(json).unwrap();
        let back = schema().decode(&avro, None).unwrap();
        assert_eq!(
            serde_json::from_slice::<Json>(&back).unwrap(),
            serde_json::from_slice::<Json>(json).unwrap()
        );
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let avro =
            schema().encode(br#"{"user_id":"u1","timestamp":1,"device":"android"}"#).unwrap();
        let back: Json = serde_json::from_slice(&schema().decode(&avro, None).unwrap()).unwrap();
        assert_eq!(back["locale"], Json::Null);
        assert_eq!(back["tags"], serde_json::json!([]));
    }

    #[test]
    fn what_does_not_fit_is_named_by_its_field() {
        let err = |json: &str| schema().encode(json.as_bytes()).unwrap_err();
        assert!(err(r#"{"user_id":"u1","timestamp":"soon","device":"iOS"}"#)
            .contains("/timestamp: expected a long"));
        assert!(err(r#"{"timestamp":1,"device":"iOS"}"#).contains("/user_id: missing"));
        assert!(err(r#"{"user_id":"u1","timestamp":1,"device":"tv"}"#)
            .contains("/device: expected one of android, iOS"));
        assert!(err(r#"{"user_id":"u1","timestamp":1,"device":"iOS","extra":1}"#)
            .contains("/extra: not a field"));
        assert!(err(r#"{"user_id":"u1","timestamp":1,"device":"iOS","locale":5}"#)
            .contains("/locale: expected one of the union's types [null, string]"));
        assert!(err(r#"{"user_id":"u1","timestamp":1,"device":"iOS","tags":[1]}"#)
            .contains("/tags/0: expected a string"));
        assert!(err("[1]").contains("/: expected an object"));
    }

    #[test]
    fn bytes_that_are_not_the_writers_record_are_refused() {
        let avro = schema().encode(br#"{"user_id":"u1","timestamp":1,"device":"iOS"}"#).unwrap();
        assert!(schema()
            .decode(&avro[..avro.len() - 2], None)
            .unwrap_err()
            .contains("does not match"));
        let mut longer = avro.clone();
        longer.extend_from_slice(b"xyz");
        assert!(schema().decode(&longer, None).unwrap_err().contains("3 bytes left"));
    }

    #[test]
    fn a_reader_schema_resolves_the_writers_record() {
        let reader = AvroSchema::parse(
            r#"{"type": "record", "name": "Login", "namespace": "weir", "fields": [
            {"name": "user_id", "type": "string"},
            {"name": "app_version", "type": "string", "default": "unknown"}
        ]}"#,
        )
        .unwrap();
        let avro = schema().encode(br#"{"user_id":"u1","timestamp":1,"device":"iOS"}"#).unwrap();
        let back: Json =
            serde_json::from_slice(&schema().decode(&avro, Some(&reader)).unwrap()).unwrap();
        assert_eq!(back, serde_json::json!({"user_id": "u1", "app_version": "unknown"}));
    }
}
