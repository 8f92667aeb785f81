//! The shutdown signal: SIGTERM (what platforms send at scale-in and deploys) or SIGINT.

use std::future::Future;

use tokio::signal::unix::{SignalKind, signal};

/// Resolves on the first SIGTERM or SIGINT, logging which. The handlers are installed when this
/// is called (inside the runtime), not when the future is first polled: the server polls it only
/// after it listens, and a signal that came in between would end the process undrained.
pub fn signal_received() -> impl Future<Output = ()> {
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutdown signal received");
    }
}
