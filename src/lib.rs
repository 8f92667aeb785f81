//! delay-echo: an HTTP target whose latency, failures, payload and CPU cost you control, for
//! measuring how autoscaling platforms react to load.
//!
//! The request path: `server` accepts a connection (with `conn`'s header-read and idle
//! timeouts) → `router` picks a handler → `handlers::echo` reads the knobs (`knobs`), takes an
//! `admission` slot, sleeps (`timer`), burns CPU (`work`) and answers with a `body` and headers
//! saying which instance answered and where the time went. `config` is built once from `cli`;
//! `app` holds what handlers share; `metrics` is one registry passed in.

pub mod admission;
pub mod app;
pub mod body;
pub mod cli;
pub mod config;
pub mod conn;
pub mod handlers;
pub mod healthcheck;
pub mod knobs;
pub mod link;
pub mod memory;
pub mod metrics;
pub mod relay;
pub mod router;
pub mod server;
pub mod shutdown;
pub mod telemetry;
pub mod timer;
pub mod work;

use std::sync::Arc;

pub use app::App;
pub use config::Config;
pub use server::{Server, ShutdownReport};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds the shared state for a validated configuration, with a fresh metrics registry.
pub fn build_app(config: Config) -> Arc<App> {
    let metrics = Arc::new(metrics::Metrics::new(VERSION));
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        metrics.watch_runtime(&handle);
    }
    App::new(config, metrics)
}
