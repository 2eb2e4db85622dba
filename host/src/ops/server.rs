//! `/metrics`, `/healthz` and `/readyz` over HTTP: a small axum server on its own thread
//! with a single-threaded tokio runtime, so scrapes never take time from the flow's threads.

use super::Ops;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// The running server; dropped, it stops.
pub struct Server {
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Binds `addr` now (so a taken port fails at start, named) and serves from a thread.
pub fn serve(addr: &str, ops: Ops) -> anyhow::Result<Server> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!("cannot serve metrics on {addr}: {e}. Pick another address with --metrics (or [metrics] listen)")
    })?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ops);
    let thread = std::thread::Builder::new().name("weir-ops".into()).spawn(move || {
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => return tracing::error!("metrics server: {e}"),
            };
            let served = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = served.await {
                tracing::error!("metrics server stopped: {e}");
            }
        })
    })?;
    tracing::info!("metrics at http://{bound}/metrics, probes at /healthz and /readyz");
    Ok(Server { addr: bound, shutdown: Some(shutdown), thread: Some(thread) })
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    ops.metrics.ready.set(i64::from(ops.health.ready().is_ok()));
    ([(header::CONTENT_TYPE, prometheus_client::encoding::prometheus_text::CONTENT_TYPE)], ops.metrics.encode())
}

async fn healthz(State(ops): State<Ops>) -> impl IntoResponse {
    match ops.health.live() {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

async fn readyz(State(ops): State<Ops>) -> impl IntoResponse {
    match ops.health.ready() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(missing) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", missing.join("; "))),
    }
}
