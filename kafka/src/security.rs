//! TLS and SASL to the brokers: `[kafka.security]` as librdkafka settings, and what a
//! failed connection's error means, with the fix.

use rdkafka::config::ClientConfig;
use weir_core::config::Config;

/// Adds the config's `[kafka.security]` to `client`; reads the SASL password now, from
/// its environment variable or file. The password is never logged or printed.
pub fn apply(client: &mut ClientConfig, config: &Config) -> anyhow::Result<()> {
    let security = crate::settings::security(config)?;
    let Some(protocol) = security.protocol else { return Ok(()) };
    client.set("security.protocol", protocol.as_str());
    let path = |p: &std::path::Path| config.resolve(p).to_string_lossy().into_owned();
    for (key, file) in [
        ("ssl.ca.location", &security.ca),
        ("ssl.certificate.location", &security.cert),
        ("ssl.key.location", &security.key),
    ] {
        if let Some(file) = file {
            let resolved = path(file);
            if !std::path::Path::new(&resolved).is_file() {
                anyhow::bail!(
                    "config {}: kafka.security: {resolved} does not exist (a PEM file is expected)",
                    config.source.display()
                );
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
        client.set(
            "sasl.password",
            weir_core::secret::read(
                "kafka.security.sasl",
                sasl.password_env.as_deref(),
                file.as_deref(),
            )?,
        );
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

/// The first bootstrap broker as (host, "host:port"); an IPv6 address comes in
/// brackets (`[::1]:9092`), its host without them.
fn first_broker(client: &ClientConfig) -> Option<(String, String)> {
    let first = client.get("bootstrap.servers")?.split(',').next()?.trim().to_string();
    let (host, port) = first.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Some((host.to_string(), first))
}

/// A TLS handshake of weir's own with the first bootstrap broker, trusting what the
/// client trusts (its CA, else the system's); `check_host`: whether the certificate must
/// name the host. No Kafka request is sent: no credentials can leave.
fn handshake(
    client: &ClientConfig,
    check_host: bool,
) -> Option<
    Result<
        native_tls::TlsStream<std::net::TcpStream>,
        native_tls::HandshakeError<std::net::TcpStream>,
    >,
> {
    use std::net::ToSocketAddrs;
    let (host, address) = first_broker(client)?;
    let mut tls = native_tls::TlsConnector::builder();
    tls.danger_accept_invalid_hostnames(!check_host);
    if let Some(ca) = client.get("ssl.ca.location") {
        tls.add_root_certificate(native_tls::Certificate::from_pem(&std::fs::read(ca).ok()?).ok()?);
    }
    let tls = tls.build().ok()?;
    let timeout = std::time::Duration::from_secs(3);
    let tcp = address
        .to_socket_addrs()
        .ok()?
        .find_map(|a| std::net::TcpStream::connect_timeout(&a, timeout).ok())?;
    tcp.set_read_timeout(Some(timeout)).ok()?;
    Some(tls.connect(&host, tcp))
}

/// Whether the broker's certificate is trusted but names another host: a handshake
/// that checks the host name fails where one that does not succeeds.
pub fn host_name_mismatch(client: &ClientConfig) -> bool {
    matches!(handshake(client, true), Some(Err(_)))
        && matches!(handshake(client, false), Some(Ok(_)))
}

/// When librdkafka's reports say nothing telling: one TLS handshake of weir's own with
/// the first bootstrap broker, and one ApiVersions request over it (sent before any
/// authentication), to name the cause. Only without a client certificate (the case it
/// tells apart: a broker that requires one).
pub fn diagnose(client: &ClientConfig) -> Option<&'static str> {
    use std::io::{Read, Write};
    if !client.get("security.protocol")?.ends_with("SSL")
        || client.get("ssl.certificate.location").is_some()
    {
        return None;
    }
    let mut stream = match handshake(client, true)? {
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
        assert!(explain("certificate verify failed: Hostname mismatch")
            .unwrap()
            .contains("host name"));
        assert!(explain("SSL handshake failed: ssl/record/rec_layer_s3.c:1605: error:0A00045C:SSL routines::tlsv13 alert certificate required").unwrap().contains("client certificate"));
        assert!(explain(
            "Disconnected: SSL connection closed by peer (after 0ms in state APIVERSION_QUERY)"
        )
        .unwrap()
        .contains("client certificate"));
        assert!(explain(
            "SASL authentication error: Authentication failed: Invalid username or password"
        )
        .unwrap()
        .contains("credentials"));
        assert!(explain("Connection refused").is_none());
    }

    #[test]
    fn the_first_broker_is_split_into_host_and_address_ipv6_too() {
        let client = |brokers: &str| {
            let mut client = ClientConfig::new();
            client.set("bootstrap.servers", brokers);
            client
        };
        assert_eq!(
            first_broker(&client("[::1]:9092,b:1")),
            Some(("::1".into(), "[::1]:9092".into()))
        );
        assert_eq!(
            first_broker(&client("kafka.example.com:9093")),
            Some(("kafka.example.com".into(), "kafka.example.com:9093".into()))
        );
        assert_eq!(
            first_broker(&client(" localhost:9092 , other:1")),
            Some(("localhost".into(), "localhost:9092".into()))
        );
        assert_eq!(first_broker(&client("no-port")), None);
    }
}
