//! A JSON document as one flat list of entries that borrow their strings from the input:
//! what the schema check reads, without the tree of owned strings and hash maps a
//! `serde_json::Value` builds (a third of the chain's time in wasm).
//!
//! [`Document::parse`] takes only documents whose meaning is plain: it gives `None` for
//! anything that is not valid JSON, an object with a repeated key (serde_json keeps the
//! last) or nesting deeper than [`MAX_DEPTH`] (the parser recurses). Those go to
//! serde_json, which says what is wrong or reads them its own way; the text it writes
//! back is read by [`Document::parse_canonical`]. So a document means exactly what
//! serde_json reads, either way.

use jsonschema::json::{cmp, Array, Json, Node, NodeIdentity, Object};
use jsonschema::JsonType;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;

/// Containers inside containers; deeper goes to serde_json (its own limit is 128).
pub const MAX_DEPTH: usize = 64;
/// Nesting in serde_json's own text: within its 128, with room to spare.
const CANONICAL_DEPTH: usize = 256;
/// Up to this many members, a repeated name is looked for pairwise; past it, by sorting.
const PAIRWISE: usize = 16;

/// One value; containers are followed by what they hold, up to `end`.
#[derive(Debug)]
enum Entry<'a> {
    Null,
    Bool(bool),
    Number(Number),
    /// A string, or an object member's name (each member is a name, then its value).
    String(Cow<'a, str>),
    Object {
        members: u32,
        end: u32,
    },
    Array {
        len: u32,
        end: u32,
    },
}

/// A parsed document; [`Document::root`] is what a validator reads.
#[derive(Debug)]
pub struct Document<'a> {
    entries: Vec<Entry<'a>>,
}

impl<'a> Document<'a> {
    /// The document in `text`, or `None` when serde_json should read it (see the module).
    pub fn parse(text: &'a str) -> Option<Document<'a>> {
        Parser::new(text, false).document()
    }

    /// A document as serde_json writes it (`serde_json::to_string` of a `Value`): no
    /// repeated keys, nesting within serde_json's bound. `None` only if it is not that.
    pub fn parse_canonical(text: &'a str) -> Option<Document<'a>> {
        Parser::new(text, true).document()
    }

    pub fn root(&self) -> TapeNode<'_> {
        TapeNode(Place::At(&self.entries, 0))
    }
}

/// Where the entry after `at` and everything it holds starts.
fn after(entries: &[Entry<'_>], at: usize) -> usize {
    match entries[at] {
        Entry::Object { end, .. } | Entry::Array { end, .. } => end as usize,
        _ => at + 1,
    }
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    entries: Vec<Entry<'a>>,
    /// serde_json's own text: its bound on nesting, no repeated keys to look for.
    canonical: bool,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, canonical: bool) -> Parser<'a> {
        Parser { text, pos: 0, entries: Vec::with_capacity(16), canonical }
    }

    fn document(mut self) -> Option<Document<'a>> {
        self.value(0)?;
        self.skip_whitespace();
        (self.pos == self.text.len()).then_some(Document { entries: self.entries })
    }

    fn too_deep(&self, depth: usize) -> bool {
        depth > if self.canonical { CANONICAL_DEPTH } else { MAX_DEPTH }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then `byte` if it is next.
    fn eat(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let next = self.peek() == Some(byte);
        self.pos += usize::from(next);
        next
    }

    fn push(&mut self, entry: Entry<'a>) -> Option<usize> {
        let at = self.entries.len();
        u32::try_from(at + 1).ok()?; // indices are u32
        self.entries.push(entry);
        Some(at)
    }

    /// `depth`: the containers this value is in.
    fn value(&mut self, depth: usize) -> Option<()> {
        self.skip_whitespace();
        let entry = match self.peek()? {
            b'{' => return self.object(depth + 1),
            b'[' => return self.array(depth + 1),
            b'"' => Entry::String(self.string()?),
            b't' => self.word("true", Entry::Bool(true))?,
            b'f' => self.word("false", Entry::Bool(false))?,
            b'n' => self.word("null", Entry::Null)?,
            _ => Entry::Number(self.number()?),
        };
        self.push(entry).map(drop)
    }

    fn word(&mut self, word: &str, entry: Entry<'a>) -> Option<Entry<'a>> {
        self.text.as_bytes()[self.pos..].starts_with(word.as_bytes()).then_some(())?;
        self.pos += word.len();
        Some(entry)
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if self.too_deep(depth) {
            return None;
        }
        self.pos += 1;
        let at = self.push(Entry::Object { members: 0, end: 0 })?;
        let mut members = 0u32;
        if !self.eat(b'}') {
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return None;
                }
                let name = self.string()?;
                self.push(Entry::String(name))?;
                if !self.eat(b':') {
                    return None;
                }
                self.value(depth)?;
                members += 1;
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        let end = self.entries.len() as u32;
        self.entries[at] = Entry::Object { members, end };
        if !self.canonical
            && has_repeated_name(TapeObject {
                entries: &self.entries,
                at,
                members: members as usize,
            })
        {
            return None;
        }
        Some(())
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if self.too_deep(depth) {
            return None;
        }
        self.pos += 1;
        let at = self.push(Entry::Array { len: 0, end: 0 })?;
        let mut len = 0u32;
        if !self.eat(b']') {
            loop {
                self.value(depth)?;
                len += 1;
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return None;
                }
            }
        }
        let end = self.entries.len() as u32;
        self.entries[at] = Entry::Array { len, end };
        Some(())
    }

    /// The string that starts at the `"` under the cursor: borrowed unless it has escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.pos += 1;
        let start = self.pos;
        self.plain_run();
        match self.peek()? {
            b'"' => {
                self.pos += 1;
                Some(Cow::Borrowed(&self.text[start..self.pos - 1]))
            }
            b'\\' => self.escaped(start).map(Cow::Owned),
            _ => None, // a control character
        }
    }

    /// Moves past bytes that stand for themselves in a string; stops on an ASCII byte (so
    /// on a character boundary) or at the end.
    fn plain_run(&mut self) {
        let bytes = self.text.as_bytes();
        // Eight bytes at a time while none of them is special (wasm has 64-bit integers);
        // the loop below finds which one is.
        const ONES: u64 = u64::from_ne_bytes([1; 8]);
        const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
        let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
        while let Some(chunk) = bytes.get(self.pos..self.pos + 8) {
            let x = u64::from_ne_bytes(chunk.try_into().expect("eight bytes"));
            let special = zero_byte(x ^ (ONES * u64::from(b'"')))
                | zero_byte(x ^ (ONES * u64::from(b'\\')))
                | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
            if special != 0 {
                break;
            }
            self.pos += 8;
        }
        while let Some(&byte) = bytes.get(self.pos) {
            if byte == b'"' || byte == b'\\' || byte < 0x20 {
                break;
            }
            self.pos += 1;
        }
    }

    /// The rest of a string with escapes, from its `start`; the cursor is on a `\`.
    fn escaped(&mut self, start: usize) -> Option<String> {
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    let escape = *self.text.as_bytes().get(self.pos + 1)?;
                    self.pos += 2;
                    out.push(match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.code_point()?,
                        _ => return None,
                    });
                }
                0..0x20 => return None,
                _ => {
                    let run = self.pos;
                    self.plain_run();
                    out.push_str(&self.text[run..self.pos]);
                }
            }
        }
    }

    /// After `\u`: a character, a surrogate pair's (`\uD83D\uDE00`), or `None` for a lone
    /// surrogate (serde_json refuses those).
    fn code_point(&mut self) -> Option<char> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                self.text.as_bytes()[self.pos..].starts_with(b"\\u").then_some(())?;
                self.pos += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            code => code,
        };
        char::from_u32(code) // `None` for a lone low surrogate
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.as_bytes().get(self.pos..self.pos + 4)?;
        let mut code = 0;
        for &digit in digits {
            code = code * 16 + char::from(digit).to_digit(16)?;
        }
        self.pos += 4;
        Some(code)
    }

    /// A number as serde_json reads it: integers here, anything else by serde_json itself
    /// from the literal (fractions, exponents, `-0`, integers past 64 bits).
    fn number(&mut self) -> Option<Number> {
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        self.pos += usize::from(negative);
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let integer_end = self.pos;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        let literal = &self.text[start..self.pos];
        if self.pos == integer_end {
            let digits = &self.text[start + usize::from(negative)..integer_end];
            if let Ok(magnitude) = digits.parse::<u64>() {
                if !negative {
                    return Some(Number::from(magnitude));
                }
                if magnitude != 0 && magnitude <= i64::MIN.unsigned_abs() {
                    return Some(Number::from((-i128::from(magnitude)) as i64));
                }
            }
        }
        serde_json::from_str(literal).ok() // `None` past f64 (serde_json refuses those too)
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}

/// Whether two members of `object` have the same name: pairwise while few (no
/// allocation), by sorting past that (a hostile object of 100,000 members costs a sort,
/// not 5 billion comparisons).
fn has_repeated_name(object: TapeObject<'_>) -> bool {
    if object.members <= PAIRWISE {
        let mut names = object.members().map(|(name, _)| name);
        while let Some(name) = names.next() {
            if names.clone().any(|other| other == name) {
                return true;
            }
        }
        return false;
    }
    let mut names: Vec<&str> = object.members().map(|(name, _)| name).collect();
    names.sort_unstable();
    names.windows(2).any(|pair| pair[0] == pair[1])
}

/// The representation jsonschema validates: a [`Document`]'s entries.
pub struct Tape;

impl Json for Tape {
    type Node<'a> = TapeNode<'a>;
    type PreparedKey = String;
    type StringBuffer = ();

    // A lookup scans the names, so a pass over the members is no dearer than a few.
    const KEYS_PER_LOOKUP: usize = 2;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>((): &mut (), string: &str, f: impl FnOnce(TapeNode<'_>) -> T) -> T {
        f(TapeNode(Place::Name(string)))
    }
}

/// One value of a [`Document`], or a member name standing alone (`propertyNames`).
#[derive(Debug, Clone, Copy)]
pub struct TapeNode<'a>(Place<'a>);

#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    At(&'a [Entry<'a>], usize),
    Name(&'a str),
}

impl<'a> TapeNode<'a> {
    fn entry(&self) -> Option<&'a Entry<'a>> {
        match self.0 {
            Place::At(entries, at) => Some(&entries[at]),
            Place::Name(_) => None,
        }
    }
}

impl<'a> Node<'a, Tape> for TapeNode<'a> {
    type Object = TapeObject<'a>;
    type Array = TapeArray<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<TapeObject<'a>> {
        match (self.0, self.entry()) {
            (Place::At(entries, at), Some(Entry::Object { members, .. })) => {
                Some(TapeObject { entries, at, members: *members as usize })
            }
            _ => None,
        }
    }

    fn as_array(&self) -> Option<TapeArray<'a>> {
        match (self.0, self.entry()) {
            (Place::At(entries, at), Some(Entry::Array { len, .. })) => {
                Some(TapeArray { entries, at, len: *len as usize })
            }
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match (self.0, self.entry()) {
            (Place::Name(name), _) => Some(Cow::Borrowed(name)),
            (_, Some(Entry::String(text))) => Some(Cow::Borrowed(text.as_ref())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self.entry() {
            Some(Entry::Number(number)) => Some(number),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.entry() {
            Some(Entry::Bool(value)) => Some(*value),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.entry(), Some(Entry::Null))
    }

    fn json_type(&self) -> JsonType {
        match self.entry() {
            None | Some(Entry::String(_)) => JsonType::String,
            Some(Entry::Null) => JsonType::Null,
            Some(Entry::Bool(_)) => JsonType::Boolean,
            Some(Entry::Number(_)) => JsonType::Number,
            Some(Entry::Object { .. }) => JsonType::Object,
            Some(Entry::Array { .. }) => JsonType::Array,
        }
    }

    fn string_length_within(&self, min: u64, max: u64) -> Option<bool> {
        // A character is one to four bytes: the byte length often decides without counting
        // (`minLength: 1` on a UUID).
        let text = self.as_string()?;
        let bytes = text.len() as u64;
        if bytes < min || bytes.div_ceil(4) > max {
            return Some(false);
        }
        if min <= bytes.div_ceil(4) && bytes <= max {
            return Some(true);
        }
        Some((min..=max).contains(&(text.chars().count() as u64)))
    }

    fn equals_value(&self, expected: &Value) -> bool {
        // `enum` and `const` on scalars without building a `Value` for each record.
        match (self.entry(), expected) {
            (Some(Entry::Object { .. } | Entry::Array { .. }), _) => {
                cmp::equal(&self.to_value(), expected)
            }
            (Some(Entry::Number(number)), _) => {
                cmp::equal(&Value::Number(number.clone()), expected)
            }
            _ => match (self.as_string(), expected) {
                (Some(text), Value::String(other)) => *text == **other,
                (Some(_), _) => false,
                (None, _) => cmp::equal(&self.to_value(), expected),
            },
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(match self.0 {
            Place::Name(name) => Value::String(name.to_owned()),
            Place::At(entries, at) => value_at(entries, at),
        })
    }

    fn identity(&self) -> Option<NodeIdentity> {
        self.entry().map(|entry| NodeIdentity::new(std::ptr::from_ref(entry) as usize))
    }
}

/// The entry at `at` as a `Value` (errors and annotations only: it allocates).
fn value_at(entries: &[Entry<'_>], at: usize) -> Value {
    match &entries[at] {
        Entry::Null => Value::Null,
        Entry::Bool(value) => Value::Bool(*value),
        Entry::Number(number) => Value::Number(number.clone()),
        Entry::String(text) => Value::String(text.to_string()),
        Entry::Object { .. } => {
            let object = TapeObject { entries, at, members: 0 };
            let members = object.members().map(|(name, node)| (name.to_owned(), node.to_value()));
            Value::Object(
                members.map(|(name, value)| (name, value.into_owned())).collect::<Map<_, _>>(),
            )
        }
        Entry::Array { len, .. } => {
            let array = TapeArray { entries, at, len: *len as usize };
            Value::Array(array.elements().map(|node| node.to_value().into_owned()).collect())
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TapeObject<'a> {
    entries: &'a [Entry<'a>],
    at: usize,
    members: usize,
}

impl<'a> Object<'a, Tape> for TapeObject<'a> {
    type Node = TapeNode<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        self.members
    }

    fn get(&self, key: &String) -> Option<TapeNode<'a>> {
        self.members().find(|(name, _)| *name == key).map(|(_, node)| node)
    }

    fn members(&self) -> Members<'a> {
        Members { entries: self.entries, next: self.at + 1, end: after(self.entries, self.at) }
    }
}

/// An object's members in order: (name, value).
#[derive(Clone)]
pub struct Members<'a> {
    entries: &'a [Entry<'a>],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, TapeNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let Entry::String(name) = &self.entries[self.next] else {
            unreachable!("an object member starts with its name")
        };
        let value = self.next + 1;
        self.next = after(self.entries, value);
        Some((name.as_ref(), TapeNode(Place::At(self.entries, value))))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TapeArray<'a> {
    entries: &'a [Entry<'a>],
    at: usize,
    len: usize,
}

impl<'a> Array<'a, Tape> for TapeArray<'a> {
    type Node = TapeNode<'a>;
    type ElementsIter = Elements<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn elements(&self) -> Elements<'a> {
        Elements { entries: self.entries, next: self.at + 1, end: after(self.entries, self.at) }
    }
}

/// An array's elements in order.
pub struct Elements<'a> {
    entries: &'a [Entry<'a>],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = TapeNode<'a>;

    fn next(&mut self) -> Option<TapeNode<'a>> {
        if self.next >= self.end {
            return None;
        }
        let at = self.next;
        self.next = after(self.entries, at);
        Some(TapeNode(Place::At(self.entries, at)))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the tape reads from `text`, as a `Value`.
    fn read(text: &str) -> Option<Value> {
        Document::parse(text).map(|document| value_at(&document.entries, 0))
    }

    /// Any JSON value: strings with quotes, escapes, controls and astral characters; keys
    /// from a small set; numbers of every kind serde_json keeps apart.
    pub(crate) fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            "[a\"\\\\/\u{0}-\u{1f}é😀\u{ffff}]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-c\"é]{0,2}", inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    /// `text` with one of a few edits a producer's bug or an attacker makes.
    pub(crate) fn edited() -> impl Strategy<Value = String> {
        (any_value(), any::<bool>(), prop::collection::vec((any::<usize>(), 0..6usize), 0..3))
            .prop_map(|(value, pretty, edits)| {
                let mut text = match pretty {
                    true => serde_json::to_string_pretty(&value).unwrap(),
                    false => serde_json::to_string(&value).unwrap(),
                };
                for (at, edit) in edits {
                    let mut at = at % (text.len() + 1);
                    while !text.is_char_boundary(at) {
                        at -= 1;
                    }
                    let insert = ["\"", ",", "}", "]", "\\u", "-0"];
                    match edit {
                        0 if at < text.len() => {
                            let next = text[at..].chars().next().unwrap();
                            text.replace_range(at..at + next.len_utf8(), "");
                        }
                        _ => text.insert_str(at, insert[edit]),
                    }
                }
                text
            })
    }

    /// An object's text whose names come from two letters: often repeated, sometimes more
    /// than `PAIRWISE` members. With the names, in order.
    pub(crate) fn with_repeated_names() -> impl Strategy<Value = (String, Vec<String>)> {
        prop::collection::vec(("[ab]{1,2}", any_value()), 0..40).prop_map(|members| {
            let names = members.iter().map(|(name, _)| name.clone()).collect();
            let members: Vec<String> = members
                .iter()
                .map(|(name, value)| format!("{}:{}", Value::from(name.as_str()), value))
                .collect();
            (format!("{{{}}}", members.join(",")), names)
        })
    }

    /// Every character as `\uXXXX` (astral ones as surrogate pairs).
    fn all_escaped(text: &str) -> String {
        let mut out = String::from("\"");
        for unit in text.encode_utf16() {
            out.push_str(&format!("\\u{unit:04X}"));
        }
        out.push('"');
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Never wider than serde_json: what the tape takes, serde_json takes, and reads alike.
        #[test]
        fn what_the_tape_reads_serde_json_reads_alike(text in edited()) {
            if let Some(value) = read(&text) {
                prop_assert_eq!(Some(value), serde_json::from_str::<Value>(&text).ok());
            }
        }

        /// And it takes the ordinary ones: any value within its limits, compact or pretty.
        #[test]
        fn it_reads_every_value_within_its_limits(value in any_value()) {
            let (compact, pretty) = (serde_json::to_string(&value).unwrap(), serde_json::to_string_pretty(&value).unwrap());
            prop_assert_eq!(read(&compact), Some(value.clone()));
            prop_assert_eq!(read(&pretty), Some(value));
        }

        #[test]
        fn a_length_decided_from_bytes_is_the_length_in_characters(text in "\\PC{0,12}", min in 0u64..16, max in 0u64..16) {
            let quoted = serde_json::to_string(&text).unwrap();
            let document = Document::parse(&quoted).unwrap();
            let counted = text.chars().count() as u64;
            prop_assert_eq!(document.root().string_length_within(min, max), Some((min..=max).contains(&counted)));
        }

        /// A repeated name is found, in few members or many; without one, the object is read.
        #[test]
        fn a_repeated_name_goes_to_serde_json((text, names) in with_repeated_names()) {
            let mut sorted = names.clone();
            sorted.sort();
            sorted.dedup();
            let repeated = sorted.len() < names.len();
            prop_assert_eq!(read(&text).is_none(), repeated, "{}", text);
        }

        /// serde_json's own text is read whole, whatever its size or nesting.
        #[test]
        fn serde_jsons_text_is_read_whole((text, _) in with_repeated_names()) {
            let value: Value = serde_json::from_str(&text).unwrap();
            let canonical = serde_json::to_string(&value).unwrap();
            let document = Document::parse_canonical(&canonical).unwrap();
            prop_assert_eq!(value_at(&document.entries, 0), value);
        }

        #[test]
        fn escapes_decode_as_serde_json_decodes_them(text in "\\PC{0,12}") {
            prop_assert_eq!(read(&all_escaped(&text)), Some(Value::String(text)));
        }
    }

    #[test]
    fn numbers_keep_the_kind_serde_json_gives_them() {
        for literal in [
            "0",
            "-0",
            "1",
            "-1",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "1e3",
            "1E+3",
            "-2.5e-3",
            "123456789012345678901234567890",
        ] {
            assert_eq!(read(literal), serde_json::from_str(literal).ok(), "{literal}");
        }
        for refused in ["01", "1.", ".5", "1e", "-", "+1", "1e400", "--1", "0x10", "1.e3"] {
            assert_eq!(read(refused), None, "{refused}");
        }
    }

    #[test]
    fn what_it_leaves_to_serde_json() {
        // A repeated key: serde_json keeps the last, and says nothing.
        assert_eq!(read(r#"{"a":1,"b":2,"a":3}"#), None);
        // Lone surrogates, raw control characters, bad escapes, trailing text.
        for text in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            "\"\u{1}\"",
            r#""\x""#,
            "1 2",
            "[1,]",
            "{\"a\":1,}",
            r#""\u12""#,
            r#""\u+123""#,
        ] {
            assert_eq!(read(text), None, "{text}");
        }
        // Wide objects are read; a repeated name among many is found.
        let members = |n: usize, last: &str| {
            let mut members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            members.push(format!("\"{last}\":0"));
            format!("{{{}}}", members.join(","))
        };
        assert!(read(&members(100_000, "last")).is_some());
        assert_eq!(read(&members(100_000, "k77")), None);
        assert_eq!(read(&members(3, "k0")), None);
    }

    #[test]
    fn serde_jsons_deepest_text_is_read() {
        let deepest = format!("{}{}", "[".repeat(127), "]".repeat(127));
        let value: Value = serde_json::from_str(&deepest).unwrap();
        let canonical = serde_json::to_string(&value).unwrap();
        assert_eq!(read(&canonical), None, "deeper than the tape's own limit");
        let document = Document::parse_canonical(&canonical).unwrap();
        assert_eq!(value_at(&document.entries, 0), value);
        assert!(
            serde_json::from_str::<Value>(&format!("[{deepest}]")).is_err(),
            "serde_json's bound"
        );
    }

    #[test]
    fn nesting_is_bounded_without_recursing_past_it() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(read(&nested(MAX_DEPTH)).is_some());
        assert_eq!(read(&nested(MAX_DEPTH + 1)), None);
        // A hostile producer's million brackets: refused at the limit, no stack overflow.
        assert_eq!(read(&"[".repeat(1_000_000)), None);
        assert_eq!(read(&"{\"a\":".repeat(1_000_000)), None);
    }

    #[test]
    fn nodes_answer_as_serde_json_values_do() {
        let text = r#"{"s":"h\u00e9llo","n":-3,"f":1.5,"b":true,"z":null,"a":[1,{"x":[]}],"o":{}}"#;
        let document = Document::parse(text).unwrap();
        let object = document.root().as_object().unwrap();
        let get = |name: &str| object.get(&name.to_string()).unwrap();
        assert_eq!(object.len(), 7);
        assert_eq!(get("s").as_string().as_deref(), Some("héllo"));
        assert_eq!(get("n").as_number().and_then(|n| n.as_i64()), Some(-3));
        assert_eq!(get("f").json_type(), JsonType::Number);
        assert_eq!(get("b").as_boolean(), Some(true));
        assert!(get("z").is_null());
        assert_eq!(get("a").as_array().unwrap().len(), 2);
        assert_eq!(get("a").as_array().unwrap().elements().count(), 2);
        assert_eq!(get("o").as_object().unwrap().members().count(), 0);
        assert!(object.get(&"missing".to_string()).is_none());
        let names: Vec<&str> = object.members().map(|(name, _)| name).collect();
        assert_eq!(names, ["s", "n", "f", "b", "z", "a", "o"]);
        assert!(get("s").equals_value(&Value::from("héllo")));
        assert!(get("n").equals_value(&serde_json::json!(-3.0)));
        assert!(get("a").equals_value(&serde_json::json!([1, {"x": []}])));
        assert!(!get("b").equals_value(&Value::from(1)));
        assert_ne!(get("s").identity(), get("n").identity());
    }
}
