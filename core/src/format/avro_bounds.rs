//! What one Avro datum may cost before apache-avro decodes it. The producer picks the
//! writer's schema and the bytes: apache-avro reserves an array's block count before it
//! reads the items (a 10-byte datum of `array<null>` claimed 512 MiB) and decodes by
//! recursion (a recursive schema with a deep datum overflowed the stack). This walk reads
//! the datum by its schema first, allocating nothing: every length must fit in the bytes
//! left, items are counted (those of zero bytes too), and nesting is bounded — so the
//! decode that follows allocates in proportion to the datum, within a few MiB.

use apache_avro::schema::{InnerDecimalSchema, Name, UuidSchema};
use apache_avro::Schema;
use std::collections::HashMap;

/// Arrays, maps, records and unions nested deeper than this are refused.
pub const MAX_DEPTH: usize = 64;

/// Array and map items in one datum at most: ~64 bytes each once decoded, ~6 MiB.
pub const MAX_ITEMS: usize = 100_000;

/// The largest single allocation apache-avro may make for a datum (it checks each
/// reservation against this, process-wide; set once, before the first decode).
pub const MAX_ALLOCATION_BYTES: usize = 8 << 20;

/// Ok if `datum` can be read with `schema` within the bounds above; else why not, naming
/// the limit. Trailing bytes and other mismatches are left to the decoder to name.
pub fn check(schema: &Schema, names: &HashMap<Name, Schema>, datum: &[u8]) -> Result<(), String> {
    apache_avro::util::max_allocation_bytes(MAX_ALLOCATION_BYTES);
    Walk { names, rest: datum, items: 0 }.value(schema, 0)
}

struct Walk<'a> {
    names: &'a HashMap<Name, Schema>,
    rest: &'a [u8],
    items: usize,
}

impl<'a> Walk<'a> {
    fn value(&mut self, schema: &Schema, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("Avro nested deeper than {MAX_DEPTH} levels (weir's limit)"));
        }
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => self.take(1),
            Schema::Int
            | Schema::Long
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos
            | Schema::Enum(_) => self.long().map(drop),
            Schema::Float => self.take(4),
            Schema::Double => self.take(8),
            Schema::Bytes
            | Schema::String
            | Schema::BigDecimal
            | Schema::Uuid(UuidSchema::Bytes | UuidSchema::String) => self.bytes(),
            Schema::Decimal(decimal) => match &decimal.inner {
                InnerDecimalSchema::Bytes => self.bytes(),
                InnerDecimalSchema::Fixed(fixed) => self.take(fixed.size),
            },
            Schema::Fixed(fixed)
            | Schema::Duration(fixed)
            | Schema::Uuid(UuidSchema::Fixed(fixed)) => self.take(fixed.size),
            Schema::Union(union) => {
                let index = self.long()?;
                let variant = usize::try_from(index).ok().and_then(|i| union.variants().get(i));
                // A wrong index is the decoder's to name.
                variant.map_or(Ok(()), |variant| self.value(variant, depth + 1))
            }
            Schema::Record(record) => {
                record.fields.iter().try_for_each(|field| self.value(&field.schema, depth + 1))
            }
            Schema::Array(array) => self.blocks(depth, |walk| walk.value(&array.items, depth + 1)),
            Schema::Map(map) => self.blocks(depth, |walk| {
                walk.bytes()?;
                walk.value(&map.types, depth + 1)
            }),
            // A named type used again (how a schema recurses): one level deeper each time.
            Schema::Ref { name } => match self.named(name) {
                Some(named) => self.value(named, depth + 1),
                None => Ok(()),
            },
        }
    }

    /// A named type by its full name, else by its name alone (as the decoder finds it).
    fn named(&self, name: &Name) -> Option<&'a Schema> {
        let names = self.names;
        names.get(name).or_else(|| {
            names.iter().find(|(n, _)| n.name() == name.name()).map(|(_, schema)| schema)
        })
    }

    /// An array's or a map's blocks: each a count (negative: followed by its byte size),
    /// then that many items, until a count of 0.
    fn blocks(
        &mut self,
        depth: usize,
        mut item: impl FnMut(&mut Self) -> Result<(), String>,
    ) -> Result<(), String> {
        loop {
            let count = self.long()?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                self.long()?;
            }
            let count = count.unsigned_abs();
            self.items = self.items.saturating_add(usize::try_from(count).unwrap_or(usize::MAX));
            if self.items > MAX_ITEMS {
                return Err(format!("Avro with more than {MAX_ITEMS} array or map items in one record (weir's limit; at depth {depth})"));
            }
            for _ in 0..count {
                item(self)?;
            }
        }
    }

    /// A length, then that many bytes.
    fn bytes(&mut self) -> Result<(), String> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| {
            format!("Avro that does not match its writer's schema: a negative length ({len})")
        })?;
        self.take(len)
    }

    fn take(&mut self, n: usize) -> Result<(), String> {
        if n > self.rest.len() {
            return Err(format!("Avro that does not match its writer's schema: it claims {n} bytes where {} are left", self.rest.len()));
        }
        self.rest = &self.rest[n..];
        Ok(())
    }

    /// A zig-zag varint of at most 10 bytes.
    fn long(&mut self) -> Result<i64, String> {
        let mut value: u64 = 0;
        for (i, byte) in self.rest.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err("Avro that does not match its writer's schema: a truncated or overlong number".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::avro::AvroSchema;
    use proptest::prelude::*;

    /// Avro's zig-zag varint of `n`.
    fn long(n: i64) -> Vec<u8> {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    /// The decode's answer; it must allocate no more than the bounds allow.
    fn decode(schema: &str, datum: &[u8]) -> Result<Vec<u8>, String> {
        let schema = AvroSchema::parse(schema).unwrap();
        let (answer, peak) = crate::counting_alloc::peak_of(|| schema.decode(datum, None));
        assert!(peak <= PEAK_BOUND, "{peak} bytes at the peak for a {}-byte datum", datum.len());
        answer
    }

    /// The most a decode may hold: apache-avro's largest allocation, every item decoded
    /// (a `Value` and its JSON), and the JSON text.
    const PEAK_BOUND: usize = MAX_ALLOCATION_BYTES + MAX_ITEMS * 256;

    #[test]
    fn a_block_count_the_bytes_cannot_hold_is_refused_before_any_allocation() {
        // One block of 5 million items (apache-avro's own cap, 512 MiB, lets the ~400 MiB
        // reservation through), or of 2^40, then nothing: the decoder would reserve first.
        for count in [5_000_000, 1 << 40] {
            let claim = [long(count), long(0)].concat();
            for items in [
                "\"boolean\"",
                "\"null\"",
                "[\"null\", \"int\"]",
                "{\"type\": \"array\", \"items\": \"null\"}",
            ] {
                let schema = format!(r#"{{"type": "array", "items": {items}}}"#);
                let err = decode(&schema, &claim).unwrap_err();
                assert!(
                    err.contains("weir's limit") || err.contains("bytes where"),
                    "{items}: {err}"
                );
            }
        }
        let claim = [long(1 << 40), long(0)].concat();
        let err = decode(r#"{"type": "map", "values": "null"}"#, &claim).unwrap_err();
        assert!(err.contains("weir's limit"), "{err}");
        let err = decode(r#""string""#, &long(1 << 40)).unwrap_err();
        assert!(err.contains("claims 1099511627776 bytes where 0 are left"), "{err}");
    }

    #[test]
    fn nested_arrays_of_nulls_cannot_multiply_their_items() {
        // 1,000 inner arrays of 1,000 nulls each: a million items from 3 kB.
        let inner = [long(1000), long(0)].concat();
        let datum = [long(1000), inner.repeat(1000), long(0)].concat();
        let err =
            decode(r#"{"type": "array", "items": {"type": "array", "items": "null"}}"#, &datum)
                .unwrap_err();
        assert!(err.contains(&format!("more than {MAX_ITEMS}")), "{err}");
        // Within the bound, it decodes.
        let datum = [long(10), [long(10), long(0)].concat().repeat(10), long(0)].concat();
        assert!(decode(
            r#"{"type": "array", "items": {"type": "array", "items": "null"}}"#,
            &datum
        )
        .is_ok());
    }

    #[test]
    fn a_recursive_schema_with_a_deep_datum_is_refused_at_the_depth_bound() {
        let schema = r#"{"type": "record", "name": "Node", "fields": [{"name": "next", "type": ["null", "Node"]}]}"#;
        // 100,000 levels: union index 1 (a Node) each time, then null.
        let datum = [long(1).repeat(100_000), long(0)].concat();
        let err = decode(schema, &datum).unwrap_err();
        assert!(err.contains(&format!("deeper than {MAX_DEPTH}")), "{err}");
        // A shallow list decodes.
        let datum = [long(1).repeat(5), long(0)].concat();
        let json: serde_json::Value =
            serde_json::from_slice(&decode(schema, &datum).unwrap()).unwrap();
        assert_eq!(json.to_string().matches("next").count(), 6);
    }

    /// Schemas a producer could register, of every kind the walk knows.
    fn schemas() -> Vec<&'static str> {
        vec![
            r#"{"type": "array", "items": "null"}"#,
            r#"{"type": "array", "items": {"type": "array", "items": ["null", "boolean"]}}"#,
            r#"{"type": "map", "values": {"type": "map", "values": "string"}}"#,
            r#"{"type": "record", "name": "N", "fields": [{"name": "a", "type": ["null", "N"]}, {"name": "b", "type": {"type": "array", "items": "N"}}]}"#,
            r#"{"type": "record", "name": "R", "fields": [{"name": "f", "type": {"type": "fixed", "name": "F", "size": 1000000}}, {"name": "d", "type": "double"}]}"#,
            r#"{"type": "record", "name": "E", "fields": [{"name": "e", "type": {"type": "enum", "name": "En", "symbols": ["a", "b"]}}, {"name": "s", "type": "bytes"}]}"#,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Any bytes against any of these schemas: an answer (decoded or refused), no
        /// panic, no stack overflow, and never more than the bounds allow.
        #[test]
        fn any_bytes_decode_or_are_refused_within_the_bounds(
            which in 0..6usize,
            datum in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            if let Ok(json) = decode(schemas()[which], &datum) {
                // What came out is in proportion to what went in.
                prop_assert!(json.len() <= 64 + 8 * MAX_ITEMS, "{} bytes of JSON from {} bytes", json.len(), datum.len());
            }
        }

        /// Block counts and lengths chosen to claim the most: big varints in every place.
        #[test]
        fn big_claims_are_refused_without_allocating_them(
            which in 0..6usize,
            claims in prop::collection::vec(prop_oneof![Just(1i64 << 40), Just(-(1i64 << 40)), Just(i64::MAX), Just(i64::MIN), 0..4i64], 0..12),
        ) {
            let datum: Vec<u8> = claims.iter().flat_map(|&n| long(n)).collect();
            let _ = decode(schemas()[which], &datum);
        }
    }
}
