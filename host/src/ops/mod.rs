//! What an operator sees of a running `weir run` or `weir repair`: Prometheus metrics,
//! liveness and readiness, and the HTTP server that serves them beside the flow.

pub mod health;
pub mod metrics;
pub mod server;
pub mod statistics;

pub use health::Health;
pub use metrics::Metrics;
use std::sync::Arc;

/// Shared by a flow's threads, its Kafka clients' callbacks and the HTTP server.
#[derive(Clone, Default)]
pub struct Ops {
    pub metrics: Metrics,
    pub health: Arc<Health>,
}
