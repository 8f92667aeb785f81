//! Listening, accepting and serving connections, and the shutdown sequence.
//!
//! `Server::bind` (or `from_listeners`, for tests that bind 127.0.0.1:0 themselves) owns the
//! sockets; `run` serves until the shutdown future resolves, then drains:
//! unready → drain delay (still serving) → stop accepting → finish in-flight requests within the
//! shutdown timeout → report what was drained and what was cut.

pub mod settings;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Response;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::app::App;
use crate::body::Body;
use crate::conn::{Activity, Busy, Watchdog, Watched};
use crate::knobs::format_duration;
use crate::memory;
use crate::records;
use crate::router::{self, Listener};
use crate::server::settings::Limits;

/// Requested listen backlog: room for a burst of 10,000 clients connecting at once. The kernel
/// caps it at net.core.somaxconn (4096 by default on Linux 5.4+); start-up warns when it does.
pub const LISTEN_BACKLOG: i32 = 16_384;

pub struct Server {
    app: Arc<App>,
    main: std::net::TcpListener,
    metrics: Option<std::net::TcpListener>,
}

/// What the drain did, for the log and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    pub in_flight_at_drain: usize,
    pub drained: usize,
    pub cut: usize,
}

/// Binds with the backlog we want (std's `bind` uses 128) and SO_REUSEADDR, so a restarted
/// instance can bind while old connections sit in TIME_WAIT.
pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn somaxconn() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn").ok()?.trim().parse().ok()
}

impl Server {
    pub fn bind(app: Arc<App>) -> io::Result<Server> {
        let main = bind(app.config.listen)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {}: {e}", app.config.listen)))?;
        let metrics = app
            .config
            .metrics_listen
            .map(|a| bind(a).map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {a} (metrics): {e}"))))
            .transpose()?;
        Ok(Server { app, main, metrics })
    }

    /// Serves on listeners bound by the caller (tests bind 127.0.0.1:0 and keep the port).
    pub fn from_listeners(
        app: Arc<App>,
        main: std::net::TcpListener,
        metrics: Option<std::net::TcpListener>,
    ) -> Server {
        Server { app, main, metrics }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.main.local_addr()
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<ShutdownReport> {
        let Server { app, main, metrics } = self;
        let cfg = &app.config;
        main.set_nonblocking(true)?;
        let main = TcpListener::from_std(main)?;
        let startup = &cfg.lifecycle.startup;
        // The drawn delay and its seed, so a platform can record (and draw again) this cold start.
        tracing::info!(
            address = %main.local_addr()?,
            instance = %app.instance.id,
            startup_delay = %format_duration(startup.drawn),
            startup_delay_spec = %startup.spec,
            startup_seed = startup.seed,
            "listening"
        );
        if cfg.access_log {
            records::start(&app.instance, main.local_addr()?, startup.drawn);
        }
        if let Some(cap) = somaxconn().filter(|c| *c < LISTEN_BACKLOG) {
            tracing::warn!(
                requested = LISTEN_BACKLOG,
                somaxconn = cap,
                "listen backlog capped by net.core.somaxconn; raise it (sysctl) for bursts of more connections"
            );
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let graceful = Arc::new(GracefulShutdown::new());
        let conn_slots = Arc::new(Semaphore::new(cfg.connections.max_connections));
        let watchdog = Watchdog::new(&cfg.timeouts);
        let sweeper = tokio::spawn(watchdog.clone().sweep());
        let trimmer = tokio::spawn(memory::trim_after_closing(app.metrics.clone()));
        let mut loops = vec![tokio::spawn(accept_loop(
            main,
            app.clone(),
            Listener::Main,
            stop_rx.clone(),
            graceful.clone(),
            conn_slots.clone(),
            watchdog.clone(),
        ))];
        if let Some(m) = metrics {
            m.set_nonblocking(true)?;
            let m = TcpListener::from_std(m)?;
            tracing::info!(address = %m.local_addr()?, "metrics listening");
            loops.push(tokio::spawn(accept_loop(
                m,
                app.clone(),
                Listener::Metrics,
                stop_rx,
                graceful.clone(),
                conn_slots,
                watchdog,
            )));
        }

        // Readiness after the one-time work (`App::warm_up`) and the (optional) simulated slow boot.
        let startup = {
            let app = app.clone();
            tokio::spawn(async move {
                app.warm_up().await;
                let delay = app.config.lifecycle.startup.drawn;
                tokio::time::sleep(delay).await;
                if !app.readiness.is_stopping() {
                    app.readiness.set_started();
                    tracing::info!(startup_delay = %format_duration(delay), instance = %app.instance.id, "ready");
                    if app.config.access_log {
                        records::ready(&app.instance, delay);
                    }
                }
            })
        };

        shutdown.await;
        startup.abort();
        app.readiness.set_stopping();
        tracing::info!(drain_delay = ?cfg.lifecycle.drain_delay, instance = %app.instance.id, "shutdown: unready; draining");
        if cfg.access_log {
            records::drain(&app.instance, cfg.lifecycle.drain_delay);
        }
        tokio::time::sleep(cfg.lifecycle.drain_delay).await;

        let _ = stop_tx.send(true);
        for l in loops {
            let _ = l.await;
        }
        let in_flight_at_drain = app.metrics.in_flight_now.load(Ordering::Relaxed);
        tracing::info!(
            in_flight = in_flight_at_drain,
            connections = app.metrics.open_connections.get(),
            timeout = ?cfg.lifecycle.shutdown_timeout,
            "shutdown: stopped accepting; finishing requests in flight"
        );
        let graceful = Arc::try_unwrap(graceful).unwrap_or_else(|_| unreachable!("accept loops have ended"));
        let finished = tokio::time::timeout(cfg.lifecycle.shutdown_timeout, graceful.shutdown()).await.is_ok();
        sweeper.abort();
        trimmer.abort();
        let cut = if finished { 0 } else { app.metrics.in_flight_now.load(Ordering::Relaxed) };
        let report = ShutdownReport { in_flight_at_drain, drained: in_flight_at_drain.saturating_sub(cut), cut };
        tracing::info!(drained = report.drained, cut = report.cut, "shutdown complete");
        Ok(report)
    }
}

/// HTTP/1.1 and HTTP/2 connection settings, built once per listener.
struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
}

impl Protocols {
    fn new(c: &Limits) -> Protocols {
        let mut h1 = http1::Builder::new();
        h1.timer(TokioTimer::new())
            // Our watchdog (conn.rs) times heads; hyper's would also close idle keep-alives.
            .header_read_timeout(None)
            .max_buf_size(c.max_header_size.max(8192))
            .keep_alive(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        h2.timer(TokioTimer::new()).max_header_list_size(c.max_header_size as u32);
        Protocols { http1: h1, http2: h2 }
    }
}

/// HTTP/2 with prior knowledge starts with this preface; no HTTP/1 request line can.
const H2_PREFACE_START: &[u8] = b"PRI ";

/// Tells HTTP/2 prior knowledge from HTTP/1 by peeking at the first bytes (nothing is consumed,
/// so hyper reads them again; hyper-util's auto-detection copies them into a rewind buffer and
/// costs about 4 KiB per connection). `None`: nothing conclusive within the header-read timeout.
async fn sniff_http2(stream: &TcpStream, timeout: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = [0u8; 4];
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        if buf[..n] != H2_PREFACE_START[..n] {
            return Some(false);
        }
        if n == H2_PREFACE_START.len() {
            return Some(true);
        }
        // A prefix of the preface so far: wait for more bytes (rare; peek would not block).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    app: Arc<App>,
    kind: Listener,
    mut stop: watch::Receiver<bool>,
    graceful: Arc<GracefulShutdown>,
    slots: Arc<Semaphore>,
    watchdog: Arc<Watchdog>,
) {
    let protocols = Arc::new(Protocols::new(&app.config.connections));
    loop {
        // Past --max-connections we stop accepting; new clients wait in the backlog.
        let permit = tokio::select! {
            biased;
            _ = stop.changed() => return,
            p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        let stream = tokio::select! {
            biased;
            _ = stop.changed() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        watchdog.watch(&activity);
        tokio::spawn(serve_connection(
            stream,
            app.clone(),
            kind,
            activity,
            protocols.clone(),
            graceful.watcher(),
            permit,
        ));
    }
}

/// Serves one connection until it closes, or until the watchdog expires it. `_slot` is its
/// place under --max-connections, held as long as the connection.
async fn serve_connection(
    stream: TcpStream,
    app: Arc<App>,
    kind: Listener,
    activity: Arc<Activity>,
    protocols: Arc<Protocols>,
    watcher: Watcher,
    _slot: OwnedSemaphorePermit,
) {
    let _open = OpenConnection::new(&app);
    let Some(is_http2) = sniff_http2(&stream, app.config.timeouts.header_read).await else { return };
    activity.set_http2(is_http2);
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let watched = activity.clone();
    let svc = service_fn(move |req| {
        let busy = activity.busy();
        Answering { answer: router::route(&app, kind, req), busy: Some(busy) }
    });
    let serve = async move {
        if is_http2 {
            Box::pin(watcher.watch(protocols.http2.serve_connection(io, svc))).await
        } else {
            watcher.watch(protocols.http1.serve_connection(io, svc)).await
        }
    };
    tokio::select! {
        biased;
        result = serve => if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        },
        // Expired by the watchdog: dropping the connection closes it.
        () = watched.expiry() => {}
    }
}

pin_project_lite::pin_project! {
    /// A request's answer, with its connection marked busy until the answer is ready. Polls the
    /// router's future where it lies: an async block awaiting it would hold it twice (its capture
    /// and its awaitee, rust-lang/rust#62958), and hyper keeps this future's box per connection.
    struct Answering<F> {
        #[pin]
        answer: F,
        busy: Option<Busy>,
    }
}

impl<F: Future<Output = Response<Body>>> Future for Answering<F> {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        this.answer.poll(cx).map(|resp| {
            *this.busy = None;
            Ok(resp)
        })
    }
}

/// Counts a connection open from accept to close (the gauge goes down in `Drop`, whatever path
/// the task takes).
struct OpenConnection(Arc<App>);

impl OpenConnection {
    fn new(app: &Arc<App>) -> Self {
        app.metrics.open_connections.inc();
        app.metrics.connections.inc();
        OpenConnection(app.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics.open_connections.dec();
    }
}
