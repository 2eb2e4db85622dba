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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("plain – ünïcode"), "plain – ünïcode");
        assert_eq!(escape_controls("line\nINFO forged\r\x1b[31mred\t"), "line\\nINFO forged\\r\\u{1b}[31mred\\t");
        assert_eq!(printable(b"\xff\x07ok"), "\u{fffd}\\u{7}ok");
    }
}
