//! The server's own settings: how many connections it holds and how large a request head may
//! be, and the timing of its start-up and shutdown. Declared here and filled in by `config`, so
//! the configuration depends on the server's settings, never on the server.

use std::time::Duration;

/// Per-server connection limits (`--max-connections`, `--max-header-size`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_header_size: usize,
}

/// Start-up and shutdown timing (`--startup-delay`, `--drain-delay`, `--shutdown-timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Lifecycle {
    pub startup_delay: Duration,
    pub drain_delay: Duration,
    pub shutdown_timeout: Duration,
}
