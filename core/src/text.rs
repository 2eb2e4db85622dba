//! Text that comes from records or plugins, made safe to print: control characters
//! (newlines, escape sequences) are escaped, so a record or a plugin's log line cannot
//! forge log lines or drive the terminal.

/// `text` with every control character escaped (`\n`, `\u{1b}`…); the rest unchanged.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
            .collect(),
    )
}

/// Bytes as text (invalid UTF-8 replaced), control characters escaped.
pub fn printable(bytes: &[u8]) -> String {
    escape_controls(&String::from_utf8_lossy(bytes)).into_owned()
}

/// The first `max` characters of `text` (all of it if shorter), without copying.
pub fn prefix(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        None => text,
        Some((at, _)) => &text[..at],
    }
}

/// `text` cut to at most `max` characters, marked with `…` when cut.
pub fn cut(text: &str, max: usize) -> String {
    let kept = prefix(text, max);
    if kept.len() == text.len() {
        kept.to_string()
    } else {
        format!("{kept}…")
    }
}

/// Characters of a normalised reason.
const NORMALISED_CHARS: usize = 160;

/// How much of a reason `normalised` reads: a masked quote or number can shorten the
/// text, so more than it keeps, but never a whole record's worth.
const NORMALISED_READ: usize = 4 * 1024;

/// Names a reason may quote (a property, a type) longer than this are masked like values:
/// a producer's field names must not make every row its own.
const NAME_CHARS: usize = 64;

/// A reason with the values in it masked, so reasons that differ only in them group, and
/// the names in it kept, so an operator sees which property: quoted text becomes `"…"`
/// (`'…'`) unless it names a property (`"device_type" is a required property`, `('a',
/// 'b' were unexpected)`) or a type (`is not of type "integer"`); numbers become `N`; cut
/// to 160 characters. Linear in the first 4 KiB of `reason`, whatever its length.
pub fn normalised(reason: &str) -> String {
    let reason = prefix(reason, NORMALISED_READ);
    let mut out = String::new();
    let mut rest = reason;
    // Inside `are not allowed (` …: the quoted texts are the unexpected properties' names.
    let mut unexpected = false;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            // A quote that closes later on: mask what it holds unless it is a name, and go
            // on after it. The search starts where the text goes on, so each character is
            // read at most twice (a quote that never closes is the last of its kind).
            '"' | '\'' => match rest.find(c) {
                Some(end) => {
                    let (inner, after) = (&rest[..end], &rest[end + 1..]);
                    unexpected =
                        out.ends_with("not allowed (") || (unexpected && out.ends_with(", "));
                    let names = unexpected
                        || out.ends_with("of type ")
                        || after.starts_with(" is a required property");
                    if names && inner.chars().count() <= NAME_CHARS && !inner.contains(['"', '\''])
                    {
                        out.push(c);
                        out.push_str(inner);
                        out.push(c);
                    } else {
                        out.extend([c, '…', c]);
                    }
                    rest = after;
                }
                None => out.push(c),
            },
            '0'..='9' => {
                rest = rest.trim_start_matches(|d: char| d.is_ascii_digit() || d == '.');
                out.push('N');
            }
            c => out.push(c),
        }
    }
    prefix(&escape_controls(&out), NORMALISED_CHARS).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("plain – ünïcode"), "plain – ünïcode");
        assert_eq!(
            escape_controls("line\nINFO forged\r\x1b[31mred\t"),
            "line\\nINFO forged\\r\\u{1b}[31mred\\t"
        );
        assert_eq!(printable(b"\xff\x07ok"), "\u{fffd}\\u{7}ok");
    }

    #[test]
    fn reasons_that_differ_only_in_values_group() {
        // Names are kept: which property is missing is what an operator needs.
        assert_eq!(
            normalised("\"device_type\" is a required property"),
            "\"device_type\" is a required property"
        );
        assert_eq!(
            normalised("'locale' is a required property"),
            "'locale' is a required property"
        );
        assert_eq!(
            normalised("\"soon\" is not of type \"integer\""),
            "\"…\" is not of type \"integer\""
        );
        assert_eq!(
            normalised("Additional properties are not allowed ('x1', 'y' were unexpected)"),
            "Additional properties are not allowed ('x1', 'y' were unexpected)"
        );
        assert_eq!(
            normalised("\"Mars\" is not one of [\"iOS\",\"android\"]"),
            "\"…\" is not one of [\"…\",\"…\"]"
        );
        // A name as long as a record is masked: a producer cannot make each row its own.
        let long = format!("\"{}\" is a required property", "k".repeat(NAME_CHARS + 1));
        assert_eq!(normalised(&long), "\"…\" is a required property");
        assert_eq!(
            normalised("gave up after 3 repair attempts; last: 12.5 > 10"),
            "gave up after N repair attempts; last: N > N"
        );
        assert_eq!(normalised("it's odd"), "it's odd", "an apostrophe that closes nothing stays");
        assert_eq!(normalised("line\nforged"), "line\\nforged");
        assert_eq!(normalised("\"a\" 'b' \"c"), "\"…\" '…' \"c");
    }

    /// A 400 KB reason full of quotes (a plugin quoting a hostile field) once took the
    /// scan quadratic time: minutes, holding the status board's lock. Now it reads 4 KiB.
    #[test]
    fn a_long_reason_full_of_quotes_is_normalised_in_linear_time() {
        for quotes in ["\"", "'", "\"'", "a\"b"] {
            let reason =
                format!("app_version: {} is not valid", quotes.repeat(400_000 / quotes.len()));
            let masked = normalised(&reason);
            assert!(masked.chars().count() <= NORMALISED_CHARS, "{masked}");
            assert_eq!(
                masked,
                normalised(prefix(&reason, NORMALISED_READ)),
                "only the first 4 KiB are read"
            );
        }
    }

    proptest::proptest! {
        /// Any reason a plugin or a producer makes (quotes, digits, multi-byte and control
        /// characters, any length): masked and cut without a panic, to at most 160
        /// characters, allocating in proportion to the 4 KiB read — never to its length.
        #[test]
        fn any_reason_is_masked_within_its_bounds(
            parts in proptest::collection::vec(proptest::sample::select(vec!["\"", "'", "7", "1.5", "é", "\n", "\u{7f}", "a", " ", "🙂"]), 0..3000),
            repeat in 1usize..40,
        ) {
            let reason = parts.concat().repeat(repeat);
            let (masked, peak) = crate::counting_alloc::peak_of(|| normalised(&reason));
            proptest::prop_assert!(masked.chars().count() <= NORMALISED_CHARS, "{masked}");
            proptest::prop_assert!(peak <= 4 * NORMALISED_READ + 1024, "{peak} bytes at the peak for a {}-byte reason", reason.len());
            let shown = cut(&reason, 100);
            proptest::prop_assert!(shown.chars().count() <= 101);
            proptest::prop_assert!(reason.starts_with(shown.trim_end_matches('…')));
        }
    }
}
