//! Confluent's wire format: a zero byte, the schema's id in the registry (4 bytes, big
//! endian), then the payload — what Confluent's serializers write and expect.

const MAGIC: u8 = 0;
const HEADER: usize = 5;

/// The schema id and the payload of a framed record, or why it is not one.
pub fn split(bytes: &[u8]) -> Result<(u32, &[u8]), String> {
    match bytes {
        [] => Err("an empty value is not Confluent-framed (a zero byte and a 4-byte schema id come first)".into()),
        [first, ..] if *first != MAGIC => Err(format!(
            "not Confluent-framed: the value starts with 0x{first:02x}{}, not the zero byte and a 4-byte schema id",
            if *first == b'{' { " ('{': plain JSON)" } else { "" }
        )),
        _ if bytes.len() < HEADER => Err(format!("truncated Confluent framing: {} bytes, the header alone is {HEADER}", bytes.len())),
        _ => Ok((u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]), &bytes[HEADER..])),
    }
}

/// `payload` framed with schema `id`.
pub fn prefix(id: u32, payload: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(HEADER + payload.len());
    framed.push(MAGIC);
    framed.extend_from_slice(&id.to_be_bytes());
    framed.extend_from_slice(payload);
    framed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_payload_comes_back_with_its_id() {
        let framed = prefix(258, b"{}");
        assert_eq!(framed, [0, 0, 0, 1, 2, b'{', b'}']);
        assert_eq!(split(&framed).unwrap(), (258, &b"{}"[..]));
    }

    #[test]
    fn broken_framing_says_what_is_wrong() {
        assert!(split(b"").unwrap_err().contains("empty"));
        assert!(split(b"{\"a\":1}").unwrap_err().contains("plain JSON"));
        assert!(split(&[0, 0, 1]).unwrap_err().contains("truncated"));
        assert_eq!(split(&[0, 0, 0, 0, 7]).unwrap(), (7, &b""[..]));
    }

    proptest::proptest! {
        /// Any bytes: no panic, a reason of bounded length, and a payload only behind a
        /// whole header that round-trips.
        #[test]
        fn any_bytes_unframe_or_say_why_briefly(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            match split(&bytes) {
                Ok((id, payload)) => proptest::prop_assert_eq!(prefix(id, payload), bytes),
                Err(reason) => proptest::prop_assert!(reason.len() < 200 && (bytes.len() < HEADER || bytes[0] != MAGIC), "{}", reason),
            }
        }
    }
}
