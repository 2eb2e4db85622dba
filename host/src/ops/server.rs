//! `/metrics`, `/healthz`, `/readyz` and the status page (`/`, `/api/status`) over HTTP: a
//! small axum server on its own thread with a single-threaded tokio runtime, so scrapes
//! never take time from the flow's threads. Nothing it serves changes anything.

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
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let sampled = ops.clone();
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(page))
        .route("/status.js", get(script))
        .route("/api/status", get(status))
        .with_state(ops);
    let thread = std::thread::Builder::new().name("weir-ops".into()).spawn(move || {
        runtime.block_on(async move {
            // The counters once a second: the page's rates.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    every.tick().await;
                    sampled.metrics.board().sample(&sampled.metrics.encode());
                }
            });
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
    tracing::info!("metrics at http://{bound}/metrics, the status page at http://{bound}/, probes at /healthz and /readyz");
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

/// The page's own script only (`script-src 'self'`): markup a record smuggled in could not
/// run even if it reached the DOM as markup, which the script never lets it.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'";

/// What loading the page costs once: its HTML and script (`/api/status` then, each second).
pub const PAGE_BYTES: usize = include_str!("status.html").len() + include_str!("status.js").len();

async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CONTENT_SECURITY_POLICY, PAGE_POLICY), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")],
        include_str!("status.html"),
    )
}

async fn script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], include_str!("status.js"))
}

async fn status(State(ops): State<Ops>) -> impl IntoResponse {
    let status = ops.metrics.board().status(&ops.metrics.encode(), ops.health.ready());
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], status.to_string())
}
