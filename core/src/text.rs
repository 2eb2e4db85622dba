//! Text that comes from records or plugins, made safe to print: control characters
//! (newlines, escape sequences) are escaped, so a record or a plugin's log line cannot
//! forge log lines or drive the terminal.

/// `text` with every control character escaped (`\n`, `\u{1b}`…); the rest unchanged.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect())
}

/// Bytes as text (invalid UTF-8 replaced), control characters escaped.
pub fn printable(bytes: &[u8]) -> String {
    escape_controls(&String::from_utf8_lossy(bytes)).into_owned()
}

/// A reason with the values in it masked, so reasons that differ only in them group:
/// quoted text becomes `"…"` (`'…'`), numbers `N`; cut to 160 characters.
pub fn normalised(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut chars = reason.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                // A quote that closes later on: mask what it holds.
                let rest: String = chars.clone().collect();
                match rest.find(c) {
                    Some(end) => {
                        out.push(c);
                        out.push('…');
                        out.push(c);
                        for _ in 0..=rest[..end].chars().count() {
                            chars.next();
                        }
                    }
                    None => out.push(c),
                }
            }
            '0'..='9' => {
                while chars.peek().is_some_and(|d| d.is_ascii_digit() || *d == '.') {
                    chars.next();
                }
                out.push('N');
            }
            c => out.push(c),
        }
    }
    escape_controls(&out).chars().take(160).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("plain – ünïcode"), "plain – ünïcode");
        assert_eq!(escape_controls("line\nINFO forged\r\x1b[31mred\t"), "line\\nINFO forged\\r\\u{1b}[31mred\\t");
        assert_eq!(printable(b"\xff\x07ok"), "\u{fffd}\\u{7}ok");
    }

    #[test]
    fn reasons_that_differ_only_in_values_group() {
        assert_eq!(normalised("\"device_type\" is a required property"), "\"…\" is a required property");
        assert_eq!(normalised("'locale' is a required property"), "'…' is a required property");
        assert_eq!(normalised("\"soon\" is not of type \"integer\""), "\"…\" is not of type \"…\"");
        assert_eq!(normalised("gave up after 3 repair attempts; last: 12.5 > 10"), "gave up after N repair attempts; last: N > N");
        assert_eq!(normalised("it's odd"), "it's odd", "an apostrophe that closes nothing stays");
        assert_eq!(normalised("line\nforged"), "line\\nforged");
    }
}
