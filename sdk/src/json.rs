//! A JSON object's top-level fields, borrowed: each asked-for field as its raw text inside
//! the value, the rest skipped. No `serde_json::Value` tree, no allocation for fields
//! nobody reads — most plugins look at a few fields of each record.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The raw JSON text of each of `names` in the object `json`, `None` where absent. As
/// with `serde_json::Value`, a duplicated field's last value counts. An error when `json`
/// is not one JSON object (trailing text included).
pub fn fields<'a, const N: usize>(
    json: &'a [u8],
    names: [&str; N],
) -> Result<[Option<&'a RawValue>; N], serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let found = deserializer.deserialize_map(Fields { names })?;
    deserializer.end()?;
    Ok(found)
}

/// A raw value as a string, borrowed unless it has escapes; `None` if it is not a string.
pub fn as_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    // A raw value is valid JSON already: a string without a backslash is its own text
    // between the quotes, with nothing to decode (most labels, ids, times).
    if !text.contains('\\') {
        return Some(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<Text>(text).ok().map(|t| t.0)
}

/// Where `raw` (from `fields`) sits in `json`: its byte range, for splicing a new value in.
pub fn span(json: &[u8], raw: &RawValue) -> std::ops::Range<usize> {
    let start = raw.get().as_ptr() as usize - json.as_ptr() as usize;
    start..start + raw.get().len()
}

struct Fields<'n, const N: usize> {
    names: [&'n str; N],
}

impl<'de, const N: usize> Visitor<'de> for Fields<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match self.names.iter().position(|name| *name == key) {
                Some(i) => found[i] = Some(map.next_value::<&'de RawValue>()?),
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(found)
    }
}

/// A string borrowed from the input when it has no escapes (serde's `Cow<str>` always owns).
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asked_fields_come_back_raw_and_the_rest_is_skipped() {
        let json = br#"{"a": 1, "b": {"x": [1, 2]}, "c": "t\u00e9", "a": "last", "d": null}"#;
        let [a, b, c, missing] = fields(json, ["a", "b", "c", "zz"]).unwrap();
        assert_eq!(a.unwrap().get(), r#""last""#, "the last duplicate, as serde_json::Value keeps");
        assert_eq!(b.unwrap().get(), r#"{"x": [1, 2]}"#);
        assert_eq!(as_str(c.unwrap()).unwrap(), "té");
        assert!(matches!(as_str(a.unwrap()), Some(Cow::Borrowed("last"))), "no escapes: borrowed");
        assert_eq!(as_str(b.unwrap()), None);
        assert!(missing.is_none());
        assert_eq!(&json[span(json, a.unwrap())], br#""last""#);
    }

    #[test]
    fn a_string_reads_as_serde_json_reads_it_escaped_or_not() {
        for value in ["", "plain", "té", "a\"b", "back\\slash", "\u{1}", "😀", "tab\there"] {
            let json = serde_json::to_string(&serde_json::json!({ "s": value })).unwrap();
            let [raw] = fields(json.as_bytes(), ["s"]).unwrap();
            assert_eq!(as_str(raw.unwrap()).as_deref(), Some(value), "{json}");
        }
        let [raw] = fields(br#"{"s": "\u00e9\/"}"#, ["s"]).unwrap();
        assert_eq!(as_str(raw.unwrap()).as_deref(), Some("é/"));
        for not_text in ["1", "null", "[\"a\"]", "{\"a\":\"b\"}", "true"] {
            let json = format!(r#"{{"s": {not_text}}}"#);
            let [raw] = fields(json.as_bytes(), ["s"]).unwrap();
            assert_eq!(as_str(raw.unwrap()), None, "{json}");
        }
    }

    #[test]
    fn anything_but_one_object_is_an_error() {
        for bad in
            [&b"[1, 2]"[..], b"\"text\"", b"{\"a\": 1} trailing", b"{\"a\": }", b"", b"{\"a\": 1"]
        {
            assert!(fields(bad, ["a"]).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(fields(b"  {}  ", ["a"]).unwrap()[0].is_none());
    }
}
