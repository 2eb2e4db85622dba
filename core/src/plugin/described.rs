//! What a plugin says of itself beyond the contract: the JSON Schema of its config, in
//! the `weir:config-schema` custom section (the SDK's `config_schema!` embeds it in the
//! component's core module; a tool may add one at the component's top level).

/// The custom section's name (the SDK's `config_schema::SECTION`).
pub const CONFIG_SCHEMA_SECTION: &str = "weir:config-schema";

/// Far more than a config's schema needs: a larger section is refused, not parsed.
pub const MAX_CONFIG_SCHEMA_BYTES: usize = 256 * 1024;

/// The JSON Schema `component` carries for its config: `None` when it carries none (it
/// still loads), an error naming the fault when the section is there but not a schema.
/// The first such section wins, at any depth.
pub fn config_schema(component: &[u8]) -> Result<Option<serde_json::Value>, String> {
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| format!("not a WebAssembly component: {e}"))?;
        let wasmparser::Payload::CustomSection(section) = payload else { continue };
        if section.name() != CONFIG_SCHEMA_SECTION {
            continue;
        }
        let data = section.data();
        if data.len() > MAX_CONFIG_SCHEMA_BYTES {
            return Err(format!(
                "its `{CONFIG_SCHEMA_SECTION}` section is {} bytes, over the {MAX_CONFIG_SCHEMA_BYTES} a config schema may take",
                data.len()
            ));
        }
        // serde_json stops at 128 levels of nesting: no recursion without bound.
        let schema: serde_json::Value = serde_json::from_slice(data)
            .map_err(|e| format!("its `{CONFIG_SCHEMA_SECTION}` section is not JSON: {e}"))?;
        if !(schema.is_object() || schema.is_boolean()) {
            return Err(format!(
                "its `{CONFIG_SCHEMA_SECTION}` section is not a JSON Schema (an object or a boolean)"
            ));
        }
        return Ok(Some(schema));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A component-layer binary holding one custom section (preamble + section), as a
    /// tool appending one to a built component would write it.
    fn with_section(name: &str, data: &[u8]) -> Vec<u8> {
        let mut body = leb(name.len());
        body.extend(name.as_bytes());
        body.extend(data);
        let mut out = vec![0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x00];
        out.extend(leb(body.len()));
        out.extend(body);
        out
    }

    fn leb(mut n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                return out;
            }
        }
    }

    #[test]
    fn a_schema_is_read_and_a_bad_one_named() {
        let schema = with_section(CONFIG_SCHEMA_SECTION, br#"{"type":"object"}"#);
        assert_eq!(config_schema(&schema).unwrap().unwrap()["type"], "object");
        assert_eq!(config_schema(&with_section("other", b"{}")).unwrap(), None);
        let not_json = config_schema(&with_section(CONFIG_SCHEMA_SECTION, b"{")).unwrap_err();
        assert!(not_json.contains("not JSON"), "{not_json}");
        let number = config_schema(&with_section(CONFIG_SCHEMA_SECTION, b"3")).unwrap_err();
        assert!(number.contains("not a JSON Schema"), "{number}");
        let big = vec![b' '; MAX_CONFIG_SCHEMA_BYTES + 1];
        let over = config_schema(&with_section(CONFIG_SCHEMA_SECTION, &big)).unwrap_err();
        assert!(over.contains("over the"), "{over}");
        let deep = "[".repeat(100_000);
        let nested = config_schema(&with_section(CONFIG_SCHEMA_SECTION, deep.as_bytes()));
        assert!(nested.unwrap_err().contains("recursion limit"), "serde_json's depth bound");
        assert!(config_schema(b"not wasm").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
        /// Whatever a plugin puts in the section, or whatever bytes stand for a plugin,
        /// reading returns (a schema, none, or a reason); it never panics.
        #[test]
        fn any_section_or_file_is_answered(data in proptest::collection::vec(any::<u8>(), 0..2048), raw in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = config_schema(&with_section(CONFIG_SCHEMA_SECTION, &data));
            let _ = config_schema(&raw);
        }
    }
}
