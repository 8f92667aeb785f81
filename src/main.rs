//! The doorway: parse flags, validate them, start the runtime, serve until SIGTERM; or run the
//! `healthcheck` subcommand. Exit codes: 0 clean, 1 unhealthy/runtime error, 2 bad configuration.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use delay_echo::cli::{Cli, Command};
use delay_echo::{Config, Server, healthcheck, shutdown, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Link(args)) = &cli.command {
        return delay_echo::link::main(args);
    }
    if let Some(Command::Healthcheck(h)) = cli.command {
        let url = h.url.unwrap_or_else(|| {
            healthcheck::default_url(
                std::env::var("DELAY_ECHO_LISTEN").ok().as_deref(),
                std::env::var("PORT").ok().as_deref(),
            )
        });
        let timeout = delay_echo::config::duration("timeout", &h.timeout).unwrap_or(Duration::from_secs(2));
        return match healthcheck::probe(&url, timeout) {
            Ok(200) => ExitCode::SUCCESS,
            Ok(code) => {
                eprintln!("healthcheck: {url} answered {code}");
                ExitCode::FAILURE
            }
            Err(e) => {
                eprintln!("healthcheck: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let host = hostname();
    let config = match Config::from_args(&cli.serve, std::env::var("PORT").ok().as_deref(), &host) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("delay-echo: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    let workers =
        if config.workers > 0 { config.workers } else { std::thread::available_parallelism().map_or(1, |n| n.get()) };
    // On one core (a 0.25-vCPU task, or a pinned benchmark) the single-threaded scheduler does
    // the same work with less bookkeeping than a one-worker multi-threaded one.
    let mut rt = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("delay-echo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        let app = delay_echo::build_app(config);
        Server::bind(app)?.run(shutdown::signal_received()).await
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "delay-echo stopped");
            eprintln!("delay-echo: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The host name (containers set it to the task or pod id), for the default instance id.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_owned()))
        .unwrap_or_default()
}
