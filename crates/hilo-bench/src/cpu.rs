//! Server CPU time over a scenario's measured window, read from `/proc/<pid>/stat` (the
//! server runs on this machine). Setup (registration, conversations) is outside the
//! window, so "CPU per message" is what the measured work cost and nothing else.
//!
//! With `--postgres-cpu`, every process named `postgres` counts too: a server whose
//! database is PostgreSQL spends part of each message there, and leaving it out would
//! flatter it.

use std::time::Duration;

use serde_json::{Value, json};

/// Which processes count as "the server".
#[derive(Debug, Clone, Default)]
pub struct CpuProbe {
    pids: Vec<u32>,
    postgres: bool,
}

/// Clock ticks per second for `/proc/<pid>/stat` times. Linux reports `USER_HZ`, which is
/// 100 on every architecture it runs on (the ABI fixes it; `getconf CLK_TCK` agrees).
const USER_HZ: f64 = 100.0;

/// utime + stime of one process, in seconds; `None` if it is gone.
fn process_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3 of the whole line, utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Process ids whose command name is `postgres` (the postmaster and its backends).
fn postgres_pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .collect()
}

impl CpuProbe {
    /// A probe over these server processes, plus PostgreSQL's when `postgres` is set.
    pub fn new(pids: Vec<u32>, postgres: bool) -> CpuProbe {
        CpuProbe { pids, postgres }
    }

    /// Starts a measured window.
    pub fn start(&self) -> CpuWindow {
        CpuWindow {
            probe: self.clone(),
            before: self.sample(),
        }
    }

    /// CPU seconds so far, per process (backends that come and go are tracked by pid).
    fn sample(&self) -> Vec<(u32, f64)> {
        let mut pids = self.pids.clone();
        if self.postgres {
            pids.extend(postgres_pids());
        }
        pids.into_iter()
            .filter_map(|pid| Some((pid, process_cpu(pid)?)))
            .collect()
    }
}

/// A measured window in progress.
pub struct CpuWindow {
    probe: CpuProbe,
    before: Vec<(u32, f64)>,
}

impl CpuWindow {
    /// Ends the window: `{"seconds", "ms_per_unit", "cores_busy"}`, or `null` when no
    /// process was given. A process that started during the window counts from zero; one
    /// that exited loses its share (PostgreSQL backends of a pool live for the whole run).
    pub fn finish(self, units: usize, elapsed: Duration) -> Value {
        if self.probe.pids.is_empty() && !self.probe.postgres {
            return Value::Null;
        }
        let after = self.probe.sample();
        let seconds: f64 = after
            .iter()
            .map(|(pid, now)| {
                let then = self
                    .before
                    .iter()
                    .find(|(p, _)| p == pid)
                    .map_or(0.0, |(_, t)| *t);
                (now - then).max(0.0)
            })
            .sum();
        json!({
            "seconds": crate::stats::round(seconds),
            "ms_per_unit": crate::stats::round(seconds * 1000.0 / units.max(1) as f64),
            "cores_busy": crate::stats::round(seconds / elapsed.as_secs_f64().max(1e-9)),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        let mut spin = 0u64;
        for i in 0..20_000_000u64 {
            spin = spin.wrapping_add(i * i);
        }
        assert!(spin > 0);
        assert!(super::process_cpu(pid).is_some_and(|s| s >= 0.0));
    }
}
