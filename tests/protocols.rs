//! Protocols and connection limits: HTTP/2 prior knowledge, keep-alive, header-read and idle
//! timeouts, the connection cap, and hostile input.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_works() {
    let s = TestServer::start(&["--delay", "5ms"]).await;
    let c = http2();
    // One request first: the pool opens a second HTTP/2 connection when requests arrive while
    // the first is still handshaking, so concurrent first requests would make the count racy.
    let first = send(&c, Method::POST, &s.url("/h2/first?format=json"), &[], "x").await;
    assert_eq!(first.status, StatusCode::OK);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (c, u) = (c.clone(), s.url(&format!("/h2/{i}?format=json")));
        tasks.push(tokio::spawn(async move { send(&c, Method::POST, &u, &[], "x").await }));
    }
    for t in tasks {
        let a = t.await.unwrap();
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.json()["version"], format!("{:?}", Version::HTTP_2));
    }
    let m = scrape(&s).await;
    assert_eq!(sample(&m, "delay_echo_connections_total"), 2.0, "one h2 connection for 21 requests, plus the scrape");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_reuses_one_connection() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    for _ in 0..3 {
        conn.write_all(b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = conn.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    }
    let m = scrape(&s).await;
    assert_eq!(sample(&m, "delay_echo_connections_total"), 2.0);
}

/// Reads until the server closes the connection; returns how long that took.
async fn closed_after(mut conn: TcpStream, limit: Duration) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(t.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_request_line_is_closed_after_the_header_read_timeout() {
    let s = TestServer::start(&["--header-read-timeout", "300ms", "--idle-timeout", "10s"]).await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /slowlor").await.unwrap();
    let took = closed_after(conn, Duration::from_secs(5)).await.expect("closed by the server");
    assert!(took >= Duration::from_millis(250), "closed too early: {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_close_after_the_idle_timeout_not_before() {
    let s = TestServer::start(&["--delay", "0", "--header-read-timeout", "200ms", "--idle-timeout", "800ms"]).await;
    let mut conn = TcpStream::connect(s.addr).await.unwrap();
    conn.write_all(b"GET /i HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    assert!(conn.read(&mut buf).await.unwrap() > 0);
    // Idle longer than the header-read timeout: still open (that timeout is for started heads).
    let took = closed_after(conn, Duration::from_secs(5)).await.expect("closed when idle");
    assert!(took >= Duration::from_millis(700), "idle connection closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let s = TestServer::start(&["--delay", "0", "--max-connections", "1"]).await;
    let first = TcpStream::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(s.addr).await.unwrap(); // sits in the backlog
    second.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let early = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
    assert!(early.is_err(), "second connection was served while the cap was reached");
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_an_answer_not_a_panic() {
    let s = TestServer::start(&["--delay", "0", "--max-header-size", "4KiB"]).await;
    let huge = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(8000));
    let cases: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02garbage\r\n\r\n".to_vec(),
        b"GET /?delay=%FF%FE&status=%00 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /?delay=99999999999999999999s HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Echo-Delay: \xff\xfe\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n".to_vec(),
        huge.into_bytes(),
    ];
    for case in cases {
        let mut conn = TcpStream::connect(s.addr).await.unwrap();
        conn.write_all(&case).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.read(&mut buf)).await;
    }
    assert_eq!(get(&s.url("/healthz")).await.status, StatusCode::OK, "still serving");
    let a = get(&s.url("/?delay=99999999999999999999s")).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_backlog_is_what_we_asked_for_within_somaxconn() {
    let s = TestServer::start(&[]).await;
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    let want = somaxconn.min(delay_echo::server::LISTEN_BACKLOG as u32);
    // `ss` shows a listener's backlog in Send-Q.
    let out = std::process::Command::new("ss").args(["-ltnH", &format!("sport = :{}", s.addr.port())]).output();
    let Ok(out) = out else { panic!("ss (iproute2) is needed") };
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let send_q: u32 = line.split_whitespace().nth(2).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{line}"));
    assert_eq!(send_q, want, "backlog {send_q}, expected min(somaxconn {somaxconn}, 16384)");
}
