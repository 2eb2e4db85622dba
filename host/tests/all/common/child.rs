//! Children the tests start are killed when the test ends, pass or fail: a panicking
//! test unwinds through `Guarded::drop`, which SIGKILLs and reaps its process. Nothing a
//! test starts outlives the test binary.
//!
//! A piped stderr is read as it comes, so a test can wait for a log line (a condition)
//! instead of sleeping, and still gets the whole stderr at the end.

use std::io::Read;
use std::ops::{Deref, DerefMut};
use std::process::{Child, Output};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Guarded {
    child: Option<Child>,
    stderr: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Guarded {
    pub fn new(mut child: Child) -> Guarded {
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let reader = child.stderr.take().map(|mut pipe| {
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = pipe.read(&mut chunk) {
                    stderr.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            })
        });
        Guarded { child: Some(child), stderr, reader }
    }

    /// Waits for the process to end and collects its output; the guard is spent.
    pub fn wait_with_output(mut self) -> std::io::Result<Output> {
        let mut output = self.child.take().expect("a guarded child").wait_with_output()?;
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        output.stderr.extend(std::mem::take(&mut *self.stderr.lock().unwrap()));
        Ok(output)
    }

    /// What the process wrote to stderr so far (when it was piped).
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Returns once stderr holds `text`; panics with what it holds after `timeout`, or
    /// if the process ended first.
    pub fn wait_for_log(&mut self, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr_so_far().contains(text) {
            if let Ok(Some(status)) = self.try_wait() {
                if let Some(reader) = self.reader.take() {
                    reader.join().unwrap(); // its last chunk
                }
                assert!(
                    self.stderr_so_far().contains(text),
                    "exited ({status}) before logging {text:?}:\n{}",
                    self.stderr_so_far()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{text:?} not logged within {timeout:?}:\n{}",
                self.stderr_so_far()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The most memory the process has held resident so far, in KiB: its VmHWM, which
    /// counts from its exec. (Not wait4's `ru_maxrss`: that keeps the forking parent's
    /// high-water mark, so a child of a big test process would read as big as it.)
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("a live process");
        line["VmHWM:".len()..].trim().trim_end_matches("kB").trim().parse().unwrap()
    }

    /// Sends `signal` (e.g. "TERM", "INT", "HUP") and returns once the process has taken
    /// it: no longer pending in /proc (its handler ran, or it ended).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", self.id());
        let number: u32 = String::from_utf8(
            std::process::Command::new("kill").args(["-l", signal]).output().unwrap().stdout,
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pending_signals(self.id()) & (1 << (number - 1)) != 0 {
            assert!(Instant::now() < deadline, "SIG{signal} still pending after 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The signals pending for process `pid` as a whole (`ShdPnd`); none once it is gone.
fn pending_signals(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("ShdPnd:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .unwrap_or(0)
}

impl Deref for Guarded {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.child.as_ref().expect("a guarded child")
    }
}

impl DerefMut for Guarded {
    fn deref_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("a guarded child")
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    fn alive(pid: u32) -> bool {
        // Reaped processes leave /proc; a zombie would still show, and count as alive.
        Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn a_guarded_child_is_killed_when_its_test_panics() {
        let child = Guarded::new(Command::new("sleep").arg("600").spawn().unwrap());
        let pid = child.id();
        assert!(alive(pid));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _held = child;
            panic!("a failing test");
        }));
        assert!(unwound.is_err());
        assert!(!alive(pid), "the child outlived the panicking test");
    }

    #[test]
    fn a_log_line_is_waited_for_and_the_whole_stderr_kept() {
        let mut command = Command::new("sh");
        command
            .args(["-c", "echo one >&2; sleep 0.3; echo two >&2"])
            .stderr(std::process::Stdio::piped());
        let mut child = Guarded::new(command.spawn().unwrap());
        child.wait_for_log("two", Duration::from_secs(10));
        let out = child.wait_with_output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), "one\ntwo\n");
    }

    #[test]
    fn a_guarded_child_that_ended_is_only_reaped() {
        let mut child = Guarded::new(Command::new("true").spawn().unwrap());
        assert!(child.wait().unwrap().success());
        drop(child); // killing an ended child is not an error
    }
}
