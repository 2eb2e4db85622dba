//! TLS for the tests: certificates made with the `openssl` command, and a TLS terminator
//! (`host/tests/support/tls_terminator.py`, Python's standard library) in front of tansu.
#![allow(dead_code)]

use super::child::Guarded;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A CA and what it signed, as PEM files in `dir`.
pub struct Pki {
    pub dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Pki {
    /// A CA named `name` (`name.pem`, `name.key`).
    pub fn new(dir: &Path, name: &str) -> Pki {
        let key = format!("{name}.key");
        let pem = format!("{name}.pem");
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-new",
                "-key",
                &key,
                "-out",
                &pem,
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        Pki { dir: dir.to_path_buf() }
    }

    pub fn ca(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }

    /// A certificate `name.pem` / `name.key` signed by CA `ca`, for `san` (e.g.
    /// `DNS:localhost`), usable by servers and clients.
    pub fn issue(&self, ca: &str, name: &str, san: &str) -> (PathBuf, PathBuf) {
        let dir = &self.dir;
        let key = format!("{name}.key");
        openssl(dir, &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key]);
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &key,
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
        (dir.join(format!("{name}.pem")), dir.join(key))
    }
}

/// TLS on `listen`, forwarded to `target`; with `client_ca`, mutual TLS.
pub struct Terminator {
    _child: Guarded,
}

impl Terminator {
    pub fn start(
        listen: u16,
        target: u16,
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Terminator {
        let mut args =
            vec![listen.to_string().into(), target.to_string().into(), cert.into(), key.into()];
        args.extend(client_ca.map(Into::into));
        Terminator { _child: support_script("tls_terminator.py", &args) }
    }
}

/// A script of `host/tests/support/`, run with `args` until the guard drops; returns once
/// it printed "ready".
pub fn support_script(name: &str, args: &[std::ffi::OsString]) -> Guarded {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support").join(name);
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run python3");
    let mut ready = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready", "{name} did not start");
    Guarded::new(child)
}
