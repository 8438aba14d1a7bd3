//! Latency samples and the summary every scenario prints: one JSON line for machines, one
//! sentence for people. Errors are counted next to the samples, never dropped from them.

use std::time::Duration;

use serde_json::{Value, json};

/// Samples of one kind of operation.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    latencies: Vec<Duration>,
    /// Operations that failed (error status, transport error, timeout).
    pub errors: u64,
}

impl Samples {
    /// Records one successful operation.
    pub fn record(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    /// Merges another set of samples into this one.
    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    /// Successful operations.
    pub fn count(&self) -> usize {
        self.latencies.len()
    }

    /// The `q` quantile (0..=1) in milliseconds, nearest-rank; 0 without samples.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        quantile(&self.sorted(), q)
    }

    fn sorted(&self) -> Vec<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        sorted
    }

    /// One line for people: `<label>: N done, E errors, R <unit>/s, p50 …, p99 …`.
    pub fn line(&self, label: &str, per_second: f64, unit: &str) -> String {
        format!(
            "{label}: {} done, {} errors, {per_second} {unit}/s, p50 {} ms, p99 {} ms",
            self.count(),
            self.errors,
            round(self.quantile_ms(0.5)),
            round(self.quantile_ms(0.99))
        )
    }

    /// `{"count", "errors", "p50", "p95", "p99", "max"}` with latencies in milliseconds.
    pub fn summary(&self) -> Value {
        let sorted = self.sorted();
        json!({
            "count": self.count(),
            "errors": self.errors,
            "p50_ms": round(quantile(&sorted, 0.50)),
            "p95_ms": round(quantile(&sorted, 0.95)),
            "p99_ms": round(quantile(&sorted, 0.99)),
            "max_ms": round(quantile(&sorted, 1.0)),
        })
    }
}

/// Nearest-rank quantile of sorted samples, in milliseconds.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// Rounds to microseconds, so the JSON stays readable.
pub fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let mut samples = Samples::default();
        for ms in 1..=100 {
            samples.record(Duration::from_millis(ms));
        }
        assert_eq!(samples.quantile_ms(0.5), 50.0);
        assert_eq!(samples.quantile_ms(0.99), 99.0);
        assert_eq!(samples.quantile_ms(1.0), 100.0);
        assert_eq!(Samples::default().quantile_ms(0.5), 0.0);
    }
}
