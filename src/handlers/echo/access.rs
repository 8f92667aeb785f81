//! The access log line of an echo request (only with `--access-log`; probes are never logged).

use std::time::Duration;

use hyper::{Method, StatusCode};

/// One line per echo request, with where its time went, in milliseconds.
pub(super) fn log(method: &Method, path: &str, status: StatusCode, seq: u64, timings: [(&str, Duration); 4]) {
    let [queue, sleep, cpu, total] = timings.map(|(_, d)| d.as_secs_f64() * 1e3);
    tracing::info!(
        target: "delay_echo::access",
        method = %method,
        path,
        status = status.as_u16(),
        seq,
        queue_ms = queue,
        sleep_ms = sleep,
        cpu_ms = cpu,
        total_ms = total,
        "echo"
    );
}
