//! Logs through tracing-subscriber: text or JSON, level from RUST_LOG (info by default).
//!
//! RUST_LOG is read as a list of targets and levels (`info`, `warn,delay_echo=debug`) with
//! `Targets`, not `EnvFilter`: the same syntax for what a service needs, without a regex engine
//! in the binary or in memory.

use std::str::FromStr;

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init(format: LogFormat) {
    let default = || Targets::new().with_default(Level::INFO);
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => Targets::from_str(&spec).unwrap_or_else(|e| {
            eprintln!("delay-echo: RUST_LOG={spec:?} is not understood ({e}); logging at info");
            default()
        }),
        _ => default(),
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    // A second init (tests start several servers in one process) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(fmt.json().flatten_event(true).with_current_span(false).with_span_list(false))
            .with(filter)
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry().with(fmt.with_ansi(false)).with(filter).try_init(),
    };
}
