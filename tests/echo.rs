//! Echo behaviour: delay, body, knobs, errors, headers, JSON description.

use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_and_method_echoes_after_the_default_delay() {
    let s = TestServer::start(&[]).await;
    let c = http1();
    for (method, path) in
        [(Method::GET, "/"), (Method::POST, "/api/test"), (Method::PUT, "/a/b?x=1"), (Method::DELETE, "/z")]
    {
        let t = Instant::now();
        let a = send(&c, method.clone(), &s.url(path), &[("content-type", "text/x-test")], "hello").await;
        assert!(t.elapsed() >= Duration::from_millis(80), "{method} {path} answered early");
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(&a.body[..], b"hello", "{method} {path}");
        assert_eq!(a.header("content-type"), "text/x-test");
        assert!(a.timing("sleep") >= 80.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delay_is_never_shorter_than_asked() {
    let s = TestServer::start(&["--delay", "20ms"]).await;
    let c = http1();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let (c, url) = (c.clone(), s.url(if i % 2 == 0 { "/" } else { "/?delay=7ms" }));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let a = send(&c, Method::GET, &url, &[], "").await;
            (i, t.elapsed(), a.timing("sleep"))
        }));
    }
    for t in tasks {
        let (i, took, slept) = t.await.unwrap();
        let asked = if i % 2 == 0 { 20.0 } else { 7.0 };
        assert!(slept >= asked, "request {i}: slept {slept} ms < {asked} ms");
        assert!(took.as_secs_f64() * 1e3 >= asked, "request {i}: answered after {took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knobs_come_from_query_or_headers_and_the_query_wins() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let c = http1();
    let a = send(&c, Method::GET, &s.url("/?status=418&size=1KiB"), &[], "").await;
    assert_eq!(a.status.as_u16(), 418);
    assert_eq!(a.body.len(), 1024);
    let a = send(&c, Method::GET, &s.url("/"), &[("x-echo-status", "201"), ("x-echo-size", "10B")], "").await;
    assert_eq!(a.status.as_u16(), 201);
    assert_eq!(a.body.len(), 10);
    let a = send(&c, Method::GET, &s.url("/?status=202"), &[("x-echo-status", "201")], "").await;
    assert_eq!(a.status.as_u16(), 202, "query wins over header");
    let t = Instant::now();
    let a = send(&c, Method::GET, &s.url("/"), &[("x-echo-delay", "150ms")], "").await;
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert!(a.timing("sleep") >= 150.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_status_and_the_same_seed_give_the_same_answer() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let c = http1();
    let mut fails = 0;
    for _ in 0..200 {
        if send(&c, Method::GET, &s.url("/?status=503:50"), &[], "").await.status == 503 {
            fails += 1;
        }
    }
    assert!((40..=160).contains(&fails), "503:50 gave {fails}/200 503s");
    let q = "/?delay=1ms..30ms&status=500:50&size=10B..2KiB&seed=1234&format=json";
    let first = send(&c, Method::GET, &s.url(q), &[], "").await;
    for _ in 0..5 {
        let again = send(&c, Method::GET, &s.url(q), &[], "").await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.json()["knobs"], first.json()["knobs"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_values_get_400_naming_the_parameter_and_what_is_allowed() {
    let s = TestServer::start(&["--max-delay", "1s"]).await;
    let c = http1();
    for (q, param) in [
        ("/?delay=2s", "delay"),
        ("/?delay=80", "delay"),
        ("/?cpu=5s", "cpu"),
        ("/?status=700", "status"),
        ("/?status=503:70,500:40", "status"),
        ("/?size=11MiB", "size"),
        ("/?seed=-1", "seed"),
        ("/?delay=lognormal(1ms)", "delay"),
    ] {
        let a = send(&c, Method::GET, &s.url(q), &[], "").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
        let j = a.json();
        assert_eq!(j["param"], param, "{q}: {j}");
        assert!(j["error"].as_str().unwrap().len() > 3 && j["allowed"].as_str().unwrap().len() > 3, "{j}");
    }
    let j = send(&c, Method::GET, &s.url("/?delay=2s"), &[], "").await.json();
    assert!(j["error"].as_str().unwrap().contains("--max-delay"), "{j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_max_body_get_413() {
    let s = TestServer::start(&["--delay", "0", "--max-body", "1KiB"]).await;
    let c = http1();
    let ok = send(&c, Method::POST, &s.url("/"), &[], vec![b'x'; 1024]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body.len(), 1024);
    let big = send(&c, Method::POST, &s.url("/"), &[], vec![b'x'; 1025]).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.json()["param"], "body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_overrides_ignores_client_knobs() {
    let s = TestServer::start(&["--delay", "5ms", "--no-overrides"]).await;
    let a =
        send(&http1(), Method::GET, &s.url("/?status=500&delay=2s&size=1KiB"), &[("x-echo-status", "502")], "hi").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(&a.body[..], b"hi");
    assert!(a.timing("sleep") < 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_say_which_instance_and_where_the_time_went() {
    let s = TestServer::start(&["--delay", "10ms", "--instance-id", "replica-a"]).await;
    let c = http1();
    let a = send(&c, Method::GET, &s.url("/x"), &[], "").await;
    let b = send(&c, Method::GET, &s.url("/x"), &[], "").await;
    assert_eq!(a.header("x-instance-id"), "replica-a");
    assert!(humantime::parse_rfc3339(a.header("x-instance-start")).is_ok());
    let (sa, sb): (u64, u64) = (a.header("x-request-seq").parse().unwrap(), b.header("x-request-seq").parse().unwrap());
    assert_eq!(sb, sa + 1);
    assert_eq!(a.header("x-in-flight"), "0");
    for part in ["queue", "sleep", "cpu", "total"] {
        assert!(a.timing(part) >= 0.0);
    }
    assert!(a.timing("total") >= a.timing("sleep"));

    let generated = TestServer::start(&["--delay", "0"]).await;
    let id = get(&generated.url("/")).await.header("x-instance-id").to_owned();
    assert!(id.starts_with("test-host-") && id.len() > "test-host-".len(), "{id}");
    assert_eq!(get(&generated.url("/")).await.header("x-instance-id"), id, "stable for the process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_on_arrival_counts_the_others() {
    let s = TestServer::start(&["--delay", "300ms"]).await;
    let c = http1();
    let first = tokio::spawn({
        let (c, u) = (c.clone(), s.url("/"));
        async move { send(&c, Method::GET, &u, &[], "").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = send(&c, Method::GET, &s.url("/?delay=0"), &[], "").await;
    assert_eq!(second.header("x-in-flight"), "1");
    assert_eq!(first.await.unwrap().header("x-in-flight"), "0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_format_describes_the_request_and_what_was_done() {
    let s = TestServer::start(&["--delay", "3ms", "--instance-id", "i-json"]).await;
    let c = http1();
    let a = send(&c, Method::POST, &s.url("/p/q?format=json&status=201&k=v"), &[("x-custom", "yes")], "body").await;
    assert_eq!(a.status.as_u16(), 201);
    assert_eq!(a.header("content-type"), "application/json");
    let j = a.json();
    assert_eq!(j["method"], "POST");
    assert_eq!(j["path"], "/p/q");
    assert_eq!(j["query"], "format=json&status=201&k=v");
    assert_eq!(j["headers"]["x-custom"], "yes");
    assert_eq!(j["instance"]["id"], "i-json");
    assert_eq!(j["knobs"]["delay"], "3ms");
    assert_eq!(j["knobs"]["status"], 201);
    assert!(j["timings"]["sleep_ms"].as_f64().unwrap() >= 3.0);
    let via_accept = send(&c, Method::GET, &s.url("/"), &[("accept", "application/json")], "").await;
    assert_eq!(via_accept.json()["path"], "/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_burns_real_cpu_time_and_probes_still_answer() {
    let s = TestServer::start(&["--delay", "0", "--max-cpu", "2s"]).await;
    let c = http1();
    let before = process_cpu_time();
    // Four 300 ms burns at once on two cores: the cores are saturated for a while.
    let burns: Vec<_> = (0..4)
        .map(|_| {
            let (c, u) = (c.clone(), s.url("/?cpu=300ms"));
            tokio::spawn(async move { send(&c, Method::GET, &u, &[], "").await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..5 {
        assert_eq!(get(&s.url("/healthz")).await.status, StatusCode::OK, "probe answered during the burn");
        assert_eq!(get(&s.url("/readyz")).await.status, StatusCode::OK);
    }
    for b in burns {
        let a = b.await.unwrap();
        assert_eq!(a.status, StatusCode::OK);
        assert!(a.timing("cpu") >= 300.0, "cpu timing {}", a.timing("cpu"));
    }
    let used = process_cpu_time() - before;
    assert!(used >= Duration::from_millis(1200), "process used only {used:?} of CPU for 4 x 300 ms");
    let too_much = get(&s.url("/?cpu=3s")).await;
    assert_eq!(too_much.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_says_which_instance_answered_and_errors_share_one_shape() {
    let s = TestServer::start(&["--delay", "0", "--instance-id", "i-all", "--metrics-listen", "127.0.0.1:0"]).await;
    let own = s.metrics_addr.unwrap();
    let c = http1();
    for url in [s.url("/"), s.url("/healthz"), s.url("/readyz"), s.url("/config"), format!("http://{own}/metrics")] {
        assert_eq!(get(&url).await.header("x-instance-id"), "i-all", "{url}");
    }
    let errors = [
        send(&c, Method::GET, &s.url("/?delay=soon"), &[], "").await,
        send(&c, Method::DELETE, &s.url("/config"), &[], "").await,
        send(&c, Method::PUT, &s.url("/config"), &[], "{}").await,
        get(&format!("http://{own}/elsewhere")).await,
    ];
    for e in errors {
        assert_eq!(e.header("x-instance-id"), "i-all");
        assert_eq!(e.header("content-type"), "application/json");
        let j = e.json();
        for field in ["error", "param", "allowed"] {
            assert!(j[field].as_str().is_some_and(|v| !v.is_empty()), "{} without {field}: {j}", e.status);
        }
    }
}
