//! IP masking, free of wasm glue so it is unit-tested natively.

use serde::Deserialize;
use serde_json::Value;
use std::net::IpAddr;
use weir_plugin::{Emit, Error, Record, Transformer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The field holding the address.
    pub field: String,
}

impl Default for Config {
    fn default() -> Self {
        Config { field: "ip".into() }
    }
}

pub struct MaskIp {
    field: String,
}

impl Transformer for MaskIp {
    type Config = Config;

    fn new(config: Config) -> Result<Self, Error> {
        Ok(MaskIp { field: config.field })
    }

    fn transform(&mut self, record: &Record, out: &mut Emit) -> Result<(), Error> {
        out.value(&self.apply(record.value)?);
        Ok(())
    }
}

impl MaskIp {
    pub fn from_config(config: &str) -> Result<Self, String> {
        <MaskIp as Transformer>::from_config(config).map_err(String::from)
    }

    /// IPv4 keeps its /24 (last octet zeroed); IPv6 keeps its /48.
    pub fn apply(&self, value: &[u8]) -> Result<Vec<u8>, String> {
        let mut doc: Value =
            serde_json::from_slice(value).map_err(|e| format!("value is not valid JSON: {e}"))?;
        let slot = doc
            .as_object_mut()
            .ok_or("value is not a JSON object")?
            .get_mut(&self.field)
            .ok_or_else(|| format!("field `{}` is missing", self.field))?;
        let text =
            slot.as_str().ok_or_else(|| format!("field `{}` is not a string", self.field))?;
        let address: IpAddr = text
            .parse()
            .map_err(|_| format!("field `{}` is not an IP address: {text:?}", self.field))?;
        *slot = Value::String(mask(address).to_string());
        serde_json::to_vec(&doc).map_err(|e| e.to_string())
    }
}

fn mask(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            IpAddr::from([a, b, c, 0])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroes_the_last_ipv4_octet_and_keeps_the_rest() {
        let m = MaskIp::from_config("{}").unwrap();
        let out = m.apply(br#"{"ip":"164.116.28.203","locale":"MD"}"#).unwrap();
        assert_eq!(out, br#"{"ip":"164.116.28.0","locale":"MD"}"#);
    }

    #[test]
    fn keeps_an_ipv6_slash_48() {
        let m = MaskIp::from_config(r#"{"field":"addr"}"#).unwrap();
        let out = m.apply(br#"{"addr":"2001:db8:1:2::3"}"#).unwrap();
        assert_eq!(out, br#"{"addr":"2001:db8:1::"}"#);
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        let m = MaskIp::from_config("").unwrap();
        assert!(m.apply(br#"{"ip":"localhost"}"#).unwrap_err().contains("not an IP address"));
        assert!(m.apply(br#"{"ip":7}"#).unwrap_err().contains("not a string"));
        assert!(m.apply(br#"{}"#).unwrap_err().contains("missing"));
    }
}
