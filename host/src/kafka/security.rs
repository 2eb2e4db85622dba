//! TLS and SASL to the brokers: `[kafka.security]` as librdkafka settings, and what a
//! failed connection's error means, with the fix.

use crate::config::Config;
use rdkafka::config::ClientConfig;

/// Adds the config's `[kafka.security]` to `client`; reads the SASL password now, from
/// its environment variable or file. The password is never logged or printed.
pub fn apply(client: &mut ClientConfig, config: &Config) -> anyhow::Result<()> {
    let security = &config.kafka.security;
    let Some(protocol) = security.protocol else { return Ok(()) };
    client.set("security.protocol", protocol.as_str());
    let path = |p: &std::path::Path| config.resolve(p).to_string_lossy().into_owned();
    for (key, file) in [("ssl.ca.location", &security.ca), ("ssl.certificate.location", &security.cert), ("ssl.key.location", &security.key)] {
        if let Some(file) = file {
            let resolved = path(file);
            if !std::path::Path::new(&resolved).is_file() {
                anyhow::bail!("config {}: kafka.security: {resolved} does not exist (a PEM file is expected)", config.source.display());
            }
            client.set(key, resolved);
        }
    }
    if let Some(sasl) = &security.sasl {
        client.set("sasl.mechanisms", &sasl.mechanism);
        if let Some(username) = &sasl.username {
            client.set("sasl.username", username);
        }
        let file = sasl.password_file.as_ref().map(|p| config.resolve(p));
        client.set("sasl.password", crate::secret::read("kafka.security.sasl", sasl.password_env.as_deref(), file.as_deref())?);
    }
    Ok(())
}

/// What librdkafka's error about a failed connection means, and the fix; `None` when it
/// says nothing about TLS or SASL.
pub fn explain(error: &str) -> Option<&'static str> {
    let e = error.to_ascii_lowercase();
    let causes: [(&[&str], &str); 9] = [
        (&["hostname mismatch", "ip address mismatch"],
         "the broker's certificate is not for the address weir connects to: use the host name the certificate names in --brokers (and the broker's advertised listener)"),
        (&["certificate verify failed", "unable to get local issuer", "self-signed certificate", "self signed certificate"],
         "the broker's certificate is not signed by a CA weir trusts: set kafka.security.ca to the PEM file of the CA that signed it"),
        (&["certificate required", "handshake failure", "alert bad certificate", "peer did not return a certificate"],
         "the broker refused the TLS handshake: it may require a client certificate (kafka.security.cert and key) or one signed by a CA it trusts"),
        (&["ssl connection closed by peer"],
         "the broker closed the TLS connection after the handshake: it likely requires a client certificate (kafka.security.cert and key) signed by a CA it trusts"),
        (&["wrong version number", "packet length too long", "record layer failure", "unexpected eof while reading"],
         "TLS and plaintext do not match: check kafka.security.protocol against the broker's listener (SSL or SASL_SSL for a TLS port)"),
        (&["invalid credentials", "authentication failed", "sasl authentication error"],
         "the broker refused the SASL credentials: check kafka.security.sasl.username and the password's source"),
        (&["unsupported sasl mechanism", "no shared mechanism", "nosharedmechanism", "not supported by broker"],
         "the broker does not offer this SASL mechanism: set kafka.security.sasl.mechanism to one it offers"),
        (&["sasl handshake", "sasl"],
         "the SASL handshake failed: check kafka.security.protocol and the mechanism the broker offers"),
        (&["ssl handshake failed", "ssl"],
         "the TLS handshake failed: check kafka.security (protocol, ca, cert, key) against the broker's listener"),
    ];
    causes.iter().find(|(needles, _)| needles.iter().any(|n| e.contains(n))).map(|(_, fix)| *fix)
}

/// When librdkafka's reports say nothing telling: one TLS handshake of weir's own with
/// the first bootstrap broker, and one Kafka request over it, to name the cause. Only
/// without a client certificate (the case it tells apart: a broker that requires one).
pub fn diagnose(client: &ClientConfig) -> Option<&'static str> {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    if !client.get("security.protocol")?.ends_with("SSL") || client.get("ssl.certificate.location").is_some() {
        return None;
    }
    let first = client.get("bootstrap.servers")?.split(',').next()?.trim().to_string();
    let (host, _) = first.rsplit_once(':')?;
    let mut tls = native_tls::TlsConnector::builder();
    if let Some(ca) = client.get("ssl.ca.location") {
        tls.add_root_certificate(native_tls::Certificate::from_pem(&std::fs::read(ca).ok()?).ok()?);
    }
    let tls = tls.build().ok()?;
    let timeout = std::time::Duration::from_secs(3);
    let tcp = first.to_socket_addrs().ok()?.find_map(|a| std::net::TcpStream::connect_timeout(&a, timeout).ok())?;
    tcp.set_read_timeout(Some(timeout)).ok()?;
    let mut stream = match tls.connect(host, tcp) {
        Ok(stream) => stream,
        Err(e) => return explain(&e.to_string()),
    };
    // ApiVersions v0: size 14, api key 18, version 0, correlation id 1, client id "weir".
    let request = [0, 0, 0, 14, 0, 18, 0, 0, 0, 0, 0, 1, 0, 4, b'w', b'e', b'i', b'r'];
    let mut answer = [0u8; 4];
    match stream.write_all(&request).and_then(|()| stream.read(&mut answer)) {
        Ok(n) if n > 0 => None,
        _ => explain("ssl connection closed by peer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn librdkafka_errors_are_explained_by_cause() {
        let unknown_ca = "ssl://localhost:1/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified";
        assert!(explain(unknown_ca).unwrap().contains("kafka.security.ca"));
        assert!(explain("certificate verify failed: Hostname mismatch").unwrap().contains("host name"));
        assert!(explain("SSL handshake failed: ssl/record/rec_layer_s3.c:1605: error:0A00045C:SSL routines::tlsv13 alert certificate required").unwrap().contains("client certificate"));
        assert!(explain("Disconnected: SSL connection closed by peer (after 0ms in state APIVERSION_QUERY)").unwrap().contains("client certificate"));
        assert!(explain("SASL authentication error: Authentication failed: Invalid username or password").unwrap().contains("credentials"));
        assert!(explain("Connection refused").is_none());
    }
}
