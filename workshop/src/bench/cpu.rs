//! What else the machine did while a measurement ran: the share of its CPU time that other
//! processes used, and the share the hypervisor stole. A latency tail on a 2-core machine
//! is as often a neighbour as weir; the bench prints which it was.

use serde::{Deserialize, Serialize};

/// Shares of the machine's CPU time (all cores) over one measurement, 0 to 1.
#[derive(Debug, Serialize, Deserialize, Default, Clone, Copy, PartialEq)]
pub struct CpuShare {
    /// Used by processes other than this one.
    pub others: f64,
    /// Taken by the hypervisor for other machines (`steal` in /proc/stat).
    pub stolen: f64,
}

/// The counters at one instant, in clock ticks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    total: u64,
    busy: u64,
    steal: u64,
    own: u64,
}

impl Sample {
    /// Now, or zeros where /proc cannot be read (the shares then read 0).
    pub fn now() -> Sample {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        Sample::parse(&stat, &own)
    }

    fn parse(stat: &str, own: &str) -> Sample {
        // cpu  user nice system idle iowait irq softirq steal guest guest_nice
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .filter(|line| line.starts_with("cpu "))
            .map(|line| line.split_whitespace().skip(1).map(|f| f.parse().unwrap_or(0)).collect())
            .unwrap_or_default();
        let field = |i: usize| fields.get(i).copied().unwrap_or(0);
        // guest time is already counted in user time.
        let total: u64 = (0..8).map(field).sum();
        let idle = field(3) + field(4);
        let steal = field(7);
        // pid (comm) state … utime stime: fields 14 and 15, counted after the `)` that
        // ends a command name which may itself hold spaces.
        let after_name = own.rsplit_once(')').map_or("", |(_, rest)| rest);
        let times: Vec<u64> = after_name
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        Sample { total, busy: total.saturating_sub(idle + steal), steal, own: times.iter().sum() }
    }

    /// The shares from `self` until `later`.
    pub fn until(&self, later: &Sample) -> CpuShare {
        let total = later.total.saturating_sub(self.total);
        if total == 0 {
            return CpuShare::default();
        }
        let busy = later.busy.saturating_sub(self.busy);
        let own = later.own.saturating_sub(self.own);
        CpuShare {
            others: busy.saturating_sub(own) as f64 / total as f64,
            stolen: later.steal.saturating_sub(self.steal) as f64 / total as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_come_from_the_deltas_of_the_counters() {
        let own = |u: u64, s: u64| format!("42 (weir bench) S 1 2 3 4 5 6 7 8 9 10 {u} {s} 0 0");
        let before = Sample::parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n", &own(30, 10));
        // 200 ticks pass: 120 busy (60 of them this process's), 20 stolen, 60 idle.
        let after = Sample::parse("cpu  200 0 70 850 60 0 0 20 0 0\n", &own(80, 20));
        let share = before.until(&after);
        assert!((share.others - 60.0 / 200.0).abs() < 1e-9, "{share:?}");
        assert!((share.stolen - 20.0 / 200.0).abs() < 1e-9, "{share:?}");
        // Unreadable or unchanged counters read as nothing, never a division by zero.
        assert_eq!(Sample::parse("", "").until(&Sample::parse("", "")), CpuShare::default());
        assert_eq!(before.until(&before), CpuShare::default());
    }
}
