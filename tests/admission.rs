//! Admission: concurrency limit, FIFO queue, rejections, and slots freed by clients that leave.

use std::time::Duration;

use hyper::{Method, StatusCode};
use tokio::io::AsyncWriteExt;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_two_queue_one_third_waits_fourth_is_rejected() {
    let s = TestServer::start(&["--delay", "400ms", "--max-concurrency", "2", "--max-queue", "1"]).await;
    let c = http1();
    let spawn = |path: &str| {
        let (c, u) = (c.clone(), s.url(path));
        tokio::spawn(async move { send(&c, Method::GET, &u, &[], "").await })
    };
    let first = spawn("/1");
    let second = spawn("/2");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = spawn("/3");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fourth = get(&s.url("/4")).await;
    assert_eq!(fourth.status, StatusCode::SERVICE_UNAVAILABLE, "4th rejected at once");
    assert_eq!(fourth.header("retry-after"), "1");
    assert_eq!(fourth.json()["reason"], "queue_full");
    for r in [first.await.unwrap(), second.await.unwrap()] {
        assert_eq!(r.status, StatusCode::OK);
    }
    let third = third.await.unwrap();
    assert_eq!(third.status, StatusCode::OK, "3rd waited, then was served");
    assert!(third.timing("queue") >= 150.0, "3rd queued {} ms", third.timing("queue"));
    let m = scrape(&s).await;
    assert_eq!(sample(&m, "delay_echo_rejected_requests_total{reason=\"queue_full\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_first_in_first_out() {
    let s = TestServer::start(&["--delay", "150ms", "--max-concurrency", "1", "--max-queue", "10"]).await;
    let c = http1();
    let blocker = {
        let (c, u) = (c.clone(), s.url("/"));
        tokio::spawn(async move { send(&c, Method::GET, &u, &[], "").await })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut waiters = Vec::new();
    for i in 0..5 {
        let (c, u) = (c.clone(), s.url(&format!("/?delay=20ms&i={i}")));
        waiters.push(tokio::spawn(async move {
            let a = send(&c, Method::GET, &u, &[], "").await;
            (a, std::time::Instant::now())
        }));
        // Arrival order is fixed by spacing the requests out.
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert_eq!(blocker.await.unwrap().status, StatusCode::OK);
    let mut done = Vec::new();
    for w in waiters {
        let (a, at) = w.await.unwrap();
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.timing("queue") > 0.0, "request waited in the queue");
        let seq: u64 = a.header("x-request-seq").parse().unwrap();
        done.push((seq, at));
    }
    // Served one at a time (20 ms each) in the order the server saw them arrive (X-Request-Seq):
    // in that order, each finished after the one before.
    done.sort_by_key(|(seq, _)| *seq);
    assert!(done.windows(2).all(|p| p[0].1 < p[1].1), "not FIFO");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_timeout_rejects_with_429_when_configured() {
    let s = TestServer::start(&[
        "--delay",
        "500ms",
        "--max-concurrency",
        "1",
        "--queue-timeout",
        "100ms",
        "--reject-status",
        "429",
    ])
    .await;
    let c = http1();
    let blocker = {
        let (c, u) = (c.clone(), s.url("/"));
        tokio::spawn(async move { send(&c, Method::GET, &u, &[], "").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let late = get(&s.url("/")).await;
    assert_eq!(late.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(late.json()["reason"], "queue_timeout");
    assert_eq!(blocker.await.unwrap().status, StatusCode::OK);
    let m = scrape(&s).await;
    assert_eq!(sample(&m, "delay_echo_rejected_requests_total{reason=\"queue_timeout\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_metrics_and_config_bypass_admission() {
    let s = TestServer::start(&["--delay", "1s", "--max-concurrency", "1", "--max-queue", "0"]).await;
    let hold = tokio::spawn({
        let u = s.url("/");
        async move { get(&u).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(get(&s.url("/")).await.status, StatusCode::SERVICE_UNAVAILABLE);
    for p in ["/healthz", "/readyz", "/metrics", "/config"] {
        assert_eq!(get(&s.url(p)).await.status, StatusCode::OK, "{p}");
    }
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_frees_its_slot_and_is_counted() {
    let s = TestServer::start(&["--delay", "5s", "--max-concurrency", "1", "--max-queue", "0"]).await;
    let mut raw = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    raw.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get(&s.url("/?delay=0")).await.status, StatusCode::SERVICE_UNAVAILABLE, "slot taken");
    drop(raw);
    // The slot comes back at once, long before the 5 s sleep would have ended.
    let mut freed = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if get(&s.url("/?delay=0")).await.status == StatusCode::OK {
            freed = true;
            break;
        }
    }
    assert!(freed, "slot not freed after the client left");
    let m = scrape(&s).await;
    assert_eq!(sample(&m, "delay_echo_cancelled_requests_total"), 1.0);
}
