//! delay-echo: an HTTP target whose latency, failures, payload and CPU cost you control, for
//! measuring how autoscaling platforms react to load.
//!
//! The request path: `server` accepts a connection (with `conn`'s header-read and idle
//! timeouts) → `router` picks a handler → `handlers::echo` reads the knobs (`knobs`), takes an
//! `admission` slot, sleeps (`timer`), burns CPU (`work`), forwards to a peer when `hop` asks
//! (`relay`) and answers with a `body` and headers saying which instance answered and where the
//! time went; every other answer is built by
//! `response`. `config` is built once from `cli`; `app` holds what handlers share; `metrics`
//! is one registry passed in. ARCHITECTURE.md has the map and the parts written by hand.
//!
//! # Memory per connection
//!
//! A connection that waits in an 80 ms sleep is what this service holds by the ten thousand, so
//! its cost is a budget, most of it hyper's read and write buffers (bench/hyper_floor.rs is the
//! floor a bare hyper server sets). What keeps it there (the figures are in bench/README.md,
//! "Memory per connection"):
//! - the echo reads what it needs from the request head inside `Service::call` and lets the
//!   head go (`router::route`, `echo::prepare`): a head held across the sleep makes hyper
//!   allocate a second read buffer per request;
//! - the echo future works on its state in place (`Echo::run(&mut self)`): moving the fields
//!   out makes the future hold them twice; for the same reason `router::route` returns an async
//!   block, not an async fn's future;
//! - rare paths are boxed so their state does not enlarge every request's future (the chunked
//!   body read, the CPU burn, the relay hop, the admission queue wait, `/config`, tokio's sleep
//!   where no timerfd can be made, and an HTTP/2 connection inside the connection task);
//! - knob values are drawn on arrival (not kept as parsed distributions), a delay is a small
//!   timerfd entry (`timer`), timeouts are one shared sweeper (`conn`), HTTP/2 is told apart by
//!   peeking (no rewind buffer), and the per-request header values share one allocation
//!   (`handlers::echo`'s `headers`);
//! - an echo answer's header map is reserved for exactly the headers it carries: hyper keeps it
//!   for the connection's next request, and `HeaderMap` rounds a reserve up to the next power of
//!   two;
//! - freed memory goes back to the system after many connections close (`memory`).

pub mod admission;
pub mod app;
pub mod body;
pub mod cache;
pub mod cli;
pub mod config;
pub mod conn;
pub mod handlers;
pub mod healthcheck;
pub mod instance;
pub mod knobs;
pub mod link;
pub mod memory;
pub mod metrics;
pub mod platform;
pub mod records;
pub mod relay;
pub mod response;
pub mod router;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod timer;
pub mod work;

use std::io;
use std::sync::Arc;

pub use app::App;
pub use config::Config;
pub use server::{Server, ShutdownReport};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the server until SIGTERM or SIGINT and the drain that follows: logs, a runtime sized by
/// `--workers`, its metrics registered, the listeners bound.
pub fn run(config: Config) -> io::Result<ShutdownReport> {
    telemetry::init(config.log_format);
    let workers =
        if config.workers > 0 { config.workers } else { std::thread::available_parallelism().map_or(1, |n| n.get()) };
    // On one core (a 0.25-vCPU task, or a pinned benchmark) the single-threaded scheduler does
    // the same work with less bookkeeping than a one-worker multi-threaded one.
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let rt =
        builder.enable_all().build().map_err(|e| io::Error::new(e.kind(), format!("cannot start the runtime: {e}")))?;
    let app = build_app(config, rt.handle());
    let result = rt.block_on(async move { Server::bind(app)?.run(shutdown::signal_received()).await });
    if let Err(e) = &result {
        tracing::error!(error = %e, "delay-echo stopped");
    }
    result
}

/// `--print-config`: the resolved configuration, and the paths a platform probes, as JSON.
pub fn print_config(config: &Config) -> String {
    let mut v = config.describe();
    v["probes"] = serde_json::json!({
        "liveness": router::HEALTHZ,
        "readiness": router::READYZ,
        "metrics": router::METRICS,
    });
    serde_json::to_string_pretty(&v).expect("a JSON value serializes")
}

/// `--list-metrics`: every family in the registry /metrics gathers, built as `run` builds it (the
/// runtime's and the peers' families included), listed before any has a series.
pub fn list_metrics(config: Config) -> io::Result<Vec<metrics::Family>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot start the runtime: {e}")))?;
    let app = rt.block_on(async { build_app(config, &tokio::runtime::Handle::current()) });
    Ok(app.metrics.registry().list())
}

/// The shared state for a validated configuration, with a fresh metrics registry that samples
/// `runtime` (the one the server runs on).
pub fn build_app(config: Config, runtime: &tokio::runtime::Handle) -> Arc<App> {
    let metrics = Arc::new(metrics::Metrics::new(VERSION));
    metrics.watch_runtime(runtime);
    App::new(config, metrics)
}
