//! What an operator sees of a running `weir run` or `weir repair`: Prometheus metrics,
//! liveness and readiness (served over HTTP by the `weir` crate's `server`, which also draws the status page from
//! the metrics and the flow's `events`).

pub mod events;
pub(crate) mod health;
pub mod metrics;

pub use health::Health;
pub use metrics::Metrics;
use std::sync::Arc;

/// Shared by a flow's threads, its Kafka clients' callbacks and the HTTP server.
#[derive(Clone, Default)]
pub struct Ops {
    pub metrics: Metrics,
    pub health: Arc<Health>,
}
