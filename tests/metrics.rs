//! /metrics: the exposition passes `promtool check metrics` and counts what happened.

use std::io::Write;
use std::process::{Command, Stdio};

use hyper::{Method, StatusCode};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposition_counts_requests_and_passes_promtool() {
    let s = TestServer::start(&["--delay", "1ms", "--max-concurrency", "100"]).await;
    let c = http1();
    for _ in 0..3 {
        send(&c, Method::GET, &s.url("/a?x=1"), &[], "").await;
    }
    send(&c, Method::GET, &s.url("/b?status=404"), &[], "").await;
    get(&s.url("/healthz")).await;
    let m = scrape(&s).await;
    assert_eq!(sample(&m, "delay_echo_requests_total{route=\"echo\",status=\"200\"}"), 3.0);
    assert_eq!(sample(&m, "delay_echo_requests_total{route=\"echo\",status=\"404\"}"), 1.0);
    assert_eq!(sample(&m, "delay_echo_requests_total{route=\"healthz\",status=\"200\"}"), 1.0);
    assert_eq!(sample(&m, "delay_echo_request_duration_seconds_count{route=\"echo\"}"), 4.0);
    assert_eq!(sample(&m, "delay_echo_concurrency_limit"), 100.0);
    assert_eq!(sample(&m, "delay_echo_ready"), 1.0);
    assert_eq!(sample(&m, "delay_echo_build_info{version=\"0.1.0\"}"), 1.0);
    assert!(sample(&m, "delay_echo_open_connections") >= 1.0);
    for name in [
        "delay_echo_in_flight_requests",
        "delay_echo_queued_requests",
        "delay_echo_queue_wait_seconds_count",
        "delay_echo_cancelled_requests_total",
        "delay_echo_connections_total",
        "delay_echo_tokio_workers",
        "delay_echo_tokio_busy_ratio",
        "delay_echo_tokio_parks_total",
        "delay_echo_tokio_polls_total",
        "delay_echo_tokio_steals_total",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ] {
        assert!(m.lines().any(|l| l.starts_with(name)), "{name} missing");
    }
    assert!(!m.contains("/a") && !m.contains("x=1"), "raw paths leaked into labels");
    promtool_check(&m);
}

/// Runs `promtool check metrics` (Debian package `prometheus`, installed by `make deps`).
fn promtool_check(exposition: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool on PATH (make deps installs the Debian package prometheus)");
    child.stdin.take().unwrap().write_all(exposition.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let complaints = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && complaints.trim().is_empty(), "promtool complained:\n{complaints}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_live_on_their_own_address() {
    let s = TestServer::start(&["--delay", "0", "--metrics-listen", "127.0.0.1:0"]).await;
    let own = s.metrics_addr.expect("metrics address");
    let m = get(&format!("http://{own}/metrics")).await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&m.body).contains("delay_echo_requests_total"));
    // On the main address /metrics is an ordinary echo path now.
    let main = get(&s.url("/metrics")).await;
    assert!(main.headers.contains_key("x-instance-id"));
    assert_eq!(get(&format!("http://{own}/other")).await.status, StatusCode::NOT_FOUND);
}
