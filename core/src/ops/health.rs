//! Liveness and readiness, as the threads of a flow report them.
//!
//! Live (`/healthz`): the plugin thread has not died and the I/O loop keeps turning.
//! Ready (`/readyz`): live, plugins loaded, the consumer group joined, a broker up.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The I/O loop turns every few milliseconds; this long without a turn, it is stuck.
const IO_STALL: Duration = Duration::from_secs(30);

pub struct Health {
    started: Instant,
    plugins_loaded: AtomicBool,
    group_joined: AtomicBool,
    broker_up: AtomicBool,
    /// Enrichment tables are being read to their end (`[tables]`), before processing.
    tables_pending: AtomicBool,
    /// Milliseconds since `started` at the I/O loop's last turn; 0 before the first.
    io_turned_ms: AtomicU64,
    /// Why the plugin thread died, once it has (a graceful end is not a death).
    plugin_thread_died: Mutex<Option<String>>,
}

impl Default for Health {
    fn default() -> Health {
        Health {
            started: Instant::now(),
            plugins_loaded: AtomicBool::new(false),
            group_joined: AtomicBool::new(false),
            broker_up: AtomicBool::new(false),
            tables_pending: AtomicBool::new(false),
            io_turned_ms: AtomicU64::new(0),
            plugin_thread_died: Mutex::new(None),
        }
    }
}

impl Health {
    pub fn plugins_loaded(&self) {
        self.plugins_loaded.store(true, Ordering::Relaxed);
    }

    pub fn group_joined(&self, joined: bool) {
        self.group_joined.store(joined, Ordering::Relaxed);
    }

    pub fn broker_up(&self, up: bool) {
        self.broker_up.store(up, Ordering::Relaxed);
    }

    /// Whether enrichment tables are still being read to their end.
    pub fn tables_pending(&self, pending: bool) {
        self.tables_pending.store(pending, Ordering::Relaxed);
    }

    pub fn io_turned(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.io_turned_ms.store(now.max(1), Ordering::Relaxed);
    }

    pub fn plugin_thread_died(&self, reason: String) {
        self.plugin_thread_died.lock().unwrap().get_or_insert(reason);
    }

    /// `Err` says what is wrong.
    pub fn live(&self) -> Result<(), String> {
        if let Some(reason) = self.plugin_thread_died.lock().unwrap().as_ref() {
            return Err(format!("the plugin thread has died: {reason}"));
        }
        let turned = self.io_turned_ms.load(Ordering::Relaxed);
        let since = Duration::from_millis(
            (self.started.elapsed().as_millis() as u64).saturating_sub(turned),
        );
        if turned > 0 && since > IO_STALL {
            return Err(format!("the I/O loop has not turned for {} s", since.as_secs()));
        }
        Ok(())
    }

    /// `Err` lists everything that is not ready yet.
    pub fn ready(&self) -> Result<(), Vec<String>> {
        let mut missing = Vec::new();
        if let Err(reason) = self.live() {
            missing.push(reason);
        }
        let checks = [
            (&self.plugins_loaded, "plugins are not loaded yet"),
            (&self.group_joined, "the consumer group is not joined yet"),
            (&self.broker_up, "no broker is reachable"),
        ];
        for (flag, reason) in checks {
            if !flag.load(Ordering::Relaxed) {
                missing.push(reason.to_string());
            }
        }
        if self.tables_pending.load(Ordering::Relaxed) {
            missing.push("the enrichment tables are not read to their end yet".to_string());
        }
        match missing.is_empty() {
            true => Ok(()),
            false => Err(missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_everything_is() {
        let health = Health::default();
        assert_eq!(health.ready().unwrap_err().len(), 3);
        health.plugins_loaded();
        health.broker_up(true);
        assert_eq!(
            health.ready().unwrap_err(),
            vec!["the consumer group is not joined yet".to_string()]
        );
        health.group_joined(true);
        health.io_turned();
        assert_eq!(health.ready(), Ok(()));
        health.tables_pending(true);
        assert_eq!(
            health.ready().unwrap_err(),
            vec!["the enrichment tables are not read to their end yet".to_string()]
        );
        health.tables_pending(false);
        assert_eq!(health.ready(), Ok(()));
        health.plugin_thread_died("plugin thread ended: boom".into());
        assert!(health.live().unwrap_err().contains("boom"));
        assert!(health.ready().is_err());
    }
}
