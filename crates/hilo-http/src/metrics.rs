//! Prometheus metrics, in a registry owned by the app (no process-global recorder), so two
//! servers in one test process keep separate counts.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The server's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
    messages_stored: Counter,
    open_streams: Gauge,
    commit_batch: Histogram,
    commit_seconds: Histogram,
    write_queue: Gauge,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hilo");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let messages_stored = Counter::default();
        let open_streams = Gauge::default();
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        let commit_seconds = latency_histogram();
        let write_queue = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and method",
            latency.clone(),
        );
        registry.register(
            "messages_stored",
            "Messages durably stored by this node",
            messages_stored.clone(),
        );
        registry.register(
            "event_streams_open",
            "Event streams (WebSocket and long poll) open on this node",
            open_streams.clone(),
        );
        registry.register(
            "store_commit_batch_size",
            "Writes committed together in one transaction (group commit)",
            commit_batch.clone(),
        );
        registry.register(
            "store_commit_duration_seconds",
            "Time to run and commit one write batch, fsync included",
            commit_seconds.clone(),
        );
        registry.register(
            "store_write_queue_depth",
            "Writes waiting for the writer after the last commit",
            write_queue.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            messages_stored,
            open_streams,
            commit_batch,
            commit_seconds,
            write_queue,
        }
    }

    /// Records one finished request.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let route = route.to_owned();
        self.requests
            .get_or_create(&vec![
                ("route", route.clone()),
                ("method", method.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("route", route), ("method", method.to_owned())])
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a newly stored message.
    pub fn message_stored(&self) {
        self.messages_stored.inc();
    }

    /// The text exposition, with the open-streams gauge set to `open_streams`.
    pub fn render(&self, open_streams: usize) -> String {
        self.open_streams
            .set(i64::try_from(open_streams).unwrap_or(i64::MAX));
        let mut text = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if encode(&mut text, &registry).is_err() {
            text.clear();
        }
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl hilo_store::CommitObserver for Metrics {
    fn on_commit(&self, batch_size: usize, queue_depth: usize, elapsed: Duration) {
        self.commit_batch.observe(batch_size as f64);
        self.commit_seconds.observe(elapsed.as_secs_f64());
        self.write_queue
            .set(i64::try_from(queue_depth).unwrap_or(i64::MAX));
    }
}
