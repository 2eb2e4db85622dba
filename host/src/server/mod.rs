//! `/metrics`, `/healthz`, `/readyz` and the status page (`/`, `/api/status`) over HTTP: a
//! small axum server on its own thread with a single-threaded tokio runtime, so scrapes
//! never take time from the flow's threads. Nothing it serves changes anything.
//!
//! Reachable by anyone who reaches the port, so bounded: a request's headers must come
//! within `HEADER_TIME`, a connection lasts `CONNECTION_TIME` at most, and one peer holds
//! `PER_PEER` connections at most (`CONNECTIONS` in all) — a client that opens many and
//! sends nothing cannot starve the probes. The page answers only to IP addresses,
//! `localhost` and the configured names (a DNS-rebinding page cannot read it), and shows
//! records only where the config says so (by default: on a loopback address).

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use weir_core::ops::Ops;

mod board;
mod exposition;

pub use board::topic_roles;
use board::Board;

/// How long a client may take to send a request's headers.
pub const HEADER_TIME: Duration = Duration::from_secs(5);
/// How long one connection may stay open, keep-alive included.
pub const CONNECTION_TIME: Duration = Duration::from_secs(60);
/// Connections open at once, from one peer address and in all; beyond, new ones are closed.
pub const PER_PEER: usize = 16;
pub const CONNECTIONS: usize = 256;

/// What the status page shows, and to which host names it answers.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Dead letters' keys and values, and their reasons unmasked; `None`: only when the
    /// server listens on a loopback address.
    pub show_records: Option<bool>,
    pub hosts: Vec<String>,
    /// The flow's topics with their roles, input first ([`topic_roles`]); none for a flow
    /// that is not the pipeline's (repair, redrive).
    pub topics: Vec<(String, String)>,
}

impl Page {
    pub fn of(config: &weir_core::config::MetricsConfig, topics: Vec<(String, String)>) -> Page {
        Page { show_records: config.show_records, hosts: config.page_hosts.clone(), topics }
    }
}

#[derive(Clone)]
struct Served {
    ops: Ops,
    board: Board,
    show_records: bool,
    hosts: Arc<Vec<String>>,
}

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
    serve_page(addr, ops, Page::default())
}

/// As [`serve`], with the status page's settings.
pub fn serve_page(addr: &str, ops: Ops, page: Page) -> anyhow::Result<Server> {
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!("cannot serve metrics on {addr}: {e}. Pick another address with --metrics (or [metrics] listen)")
    })?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let board = Board::default();
    board.topics(page.topics);
    ops.metrics.events().watch(Arc::new(board.clone()));
    let (counted, sampled) = (ops.metrics.clone(), board.clone());
    let show_records = page.show_records.unwrap_or(bound.ip().is_loopback());
    let served = Served { ops, board, show_records, hosts: Arc::new(page.hosts) };
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/", get(status_page))
        .route("/status.js", get(script))
        .route("/api/status", get(status))
        .with_state(served);
    let thread = std::thread::Builder::new().name("weir-ops".into()).spawn(move || {
        runtime.block_on(async move {
            // The counters once a second: the page's rates.
            tokio::spawn(async move {
                let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    every.tick().await;
                    sampled.sample(&counted.encode());
                }
            });
            let listener = match tokio::net::TcpListener::from_std(listener) {
                Ok(listener) => listener,
                Err(e) => return tracing::error!("metrics server: {e}"),
            };
            accept(listener, app, stopped).await;
        })
    })?;
    tracing::info!("metrics at http://{bound}/metrics, the status page at http://{bound}/, probes at /healthz and /readyz");
    Ok(Server { addr: bound, shutdown: Some(shutdown), thread: Some(thread) })
}

/// Serves each connection under the bounds above until `stopped`.
async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stopped: oneshot::Receiver<()>,
) {
    let open: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!("metrics server: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stopped => return,
        };
        let Some(slot) = Slot::take(&open, peer.ip()) else { continue };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIME);
            let connection = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIME, connection).await;
            drop(slot);
        });
    }
}

/// One open connection, counted against its peer and the total while it lives.
struct Slot {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
    peer: IpAddr,
}

impl Slot {
    fn take(open: &Arc<Mutex<HashMap<IpAddr, usize>>>, peer: IpAddr) -> Option<Slot> {
        let mut counts = open.lock().unwrap();
        let total: usize = counts.values().sum();
        let mine = counts.entry(peer).or_default();
        if *mine >= PER_PEER || total >= CONNECTIONS {
            return None;
        }
        *mine += 1;
        Some(Slot { open: open.clone(), peer })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.lock().unwrap();
        if let Some(n) = counts.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.peer);
            }
        }
    }
}

/// Whether the page may answer a request naming `Host`: an IP address, `localhost`,
/// or a configured name (any port). No `Host` at all is not a browser's request.
fn host_allowed(headers: &HeaderMap, hosts: &[String]) -> bool {
    let Some(host) = headers.get(header::HOST) else { return true };
    let Ok(host) = host.to_str() else { return false };
    if host.starts_with('[') {
        return host
            .split(']')
            .next()
            .is_some_and(|ip| ip[1..].parse::<std::net::Ipv6Addr>().is_ok());
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
}

fn misdirected(hosts: &[String]) -> Response {
    let names = if hosts.is_empty() { "none".to_string() } else { hosts.join(", ") };
    let said = format!("this status page answers to IP addresses, localhost and [metrics] page_hosts (now: {names})\n");
    (StatusCode::MISDIRECTED_REQUEST, said).into_response()
}

async fn metrics(State(Served { ops, .. }): State<Served>) -> impl IntoResponse {
    ops.metrics.ready.set(i64::from(ops.health.ready().is_ok()));
    (
        [(header::CONTENT_TYPE, prometheus_client::encoding::prometheus_text::CONTENT_TYPE)],
        ops.metrics.encode(),
    )
}

async fn healthz(State(Served { ops, .. }): State<Served>) -> impl IntoResponse {
    match ops.health.live() {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}

async fn readyz(State(Served { ops, .. }): State<Served>) -> impl IntoResponse {
    match ops.health.ready() {
        Ok(()) => (StatusCode::OK, "ready\n".to_string()),
        Err(missing) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {}\n", missing.join("; ")))
        }
    }
}

/// The page's own script only (`script-src 'self'`): markup a record smuggled in could not
/// run even if it reached the DOM as markup, which the script never lets it.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'";

/// What loading the page costs once: its HTML and script (`/api/status` then, each second).
pub const PAGE_BYTES: usize = include_str!("status.html").len() + include_str!("status.js").len();

async fn status_page(State(served): State<Served>, headers: HeaderMap) -> Response {
    if !host_allowed(&headers, &served.hosts) {
        return misdirected(&served.hosts);
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("status.html"),
    )
        .into_response()
}

async fn script(State(served): State<Served>, headers: HeaderMap) -> Response {
    if !host_allowed(&headers, &served.hosts) {
        return misdirected(&served.hosts);
    }
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        include_str!("status.js"),
    )
        .into_response()
}

async fn status(State(served): State<Served>, headers: HeaderMap) -> Response {
    if !host_allowed(&headers, &served.hosts) {
        return misdirected(&served.hosts);
    }
    let ops = &served.ops;
    let mut status = served.board.status(&ops.metrics.encode(), ops.health.ready());
    if !served.show_records {
        hide_records(&mut status);
    }
    (
        [(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")],
        status.to_string(),
    )
        .into_response()
}

/// Dead letters without their keys and values, their reasons masked as the grouped
/// rows are (values a plugin quoted in a reason are records too).
fn hide_records(status: &mut serde_json::Value) {
    status["dead_letters"]["hidden"] = true.into();
    for card in status["dead_letters"]["recent"].as_array_mut().into_iter().flatten() {
        let masked = weir_core::text::normalised(card["reason"].as_str().unwrap_or_default());
        card["reason"] = masked.into();
        card["key"] = serde_json::Value::Null;
        card["value"] = serde_json::Value::Null;
    }
}
