//! The cache knob (Cache-Control, ETag, Last-Modified, 304) and mixture delays, through sockets.

use std::time::{Duration, Instant, SystemTime};

use hyper::{Method, StatusCode};

use crate::support::*;

fn has(a: &Answer, name: &str) -> bool {
    a.headers.contains_key(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_cache_form_gives_its_header_and_unset_gives_none() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let c = http1();
    for (query, header, validators) in [
        ("/?cache=60s", "public, max-age=60", true),
        ("/?cache=public,60s", "public, max-age=60", true),
        ("/?cache=private,60s", "private, max-age=60", true),
        ("/?cache=private,5m", "private, max-age=300", true),
        ("/?cache=no-store", "no-store", false),
    ] {
        let a = send(&c, Method::GET, &s.url(query), &[], "").await;
        assert_eq!(a.status, StatusCode::OK, "{query}");
        assert_eq!(a.header("cache-control"), header, "{query}");
        assert_eq!(has(&a, "etag"), validators, "{query}: ETag");
        assert_eq!(has(&a, "last-modified"), validators, "{query}: Last-Modified");
    }
    let by_header = send(&c, Method::GET, &s.url("/h"), &[("x-echo-cache", "private,10s")], "").await;
    assert_eq!(by_header.header("cache-control"), "private, max-age=10");
    let plain = get(&s.url("/")).await;
    for name in ["cache-control", "etag", "last-modified"] {
        assert!(!has(&plain, name), "{name} without a cache policy");
    }
    let defaulted = TestServer::start(&["--delay", "0", "--cache", "30s"]).await;
    assert_eq!(get(&defaulted.url("/")).await.header("cache-control"), "public, max-age=30");
    let j = get(&defaulted.url("/config")).await.json();
    assert_eq!(j["defaults"]["cache"], "30s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etag_is_the_same_for_the_same_request_and_differs_for_another() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let c = http1();
    let etag = |method: Method, path: &'static str, body: &'static str| {
        let (c, url) = (c.clone(), s.url(path));
        async move {
            let a = send(&c, method, &url, &[], body).await;
            assert_eq!(a.status, StatusCode::OK);
            let lm = humantime::parse_rfc3339_weak(a.header("x-instance-start")).unwrap();
            let last_modified = httpdate::parse_http_date(a.header("last-modified")).unwrap();
            let off = last_modified.duration_since(lm).unwrap_or_else(|e| e.duration());
            assert!(off < Duration::from_secs(1), "Last-Modified is the instance start");
            assert!(last_modified <= SystemTime::now());
            a.header("etag").to_owned()
        }
    };
    let first = etag(Method::GET, "/a?cache=60s&size=10B", "").await;
    assert!(first.starts_with('"') && first.ends_with('"') && !first.starts_with("W/"), "strong: {first}");
    assert_eq!(etag(Method::GET, "/a?cache=60s&size=10B", "").await, first, "same request, same ETag");
    assert_eq!(etag(Method::HEAD, "/a?cache=60s&size=10B", "").await, first, "HEAD carries GET's validators");
    for (method, path, body) in [
        (Method::GET, "/b?cache=60s&size=10B", ""),
        (Method::GET, "/a?cache=60s&size=11B", ""),
        (Method::POST, "/a?cache=60s&size=10B", ""),
        (Method::POST, "/a?cache=60s&size=10B", "a body"),
    ] {
        assert_ne!(etag(method.clone(), path, body).await, first, "{method} {path} {body:?}");
    }
    let post = etag(Method::POST, "/p?cache=60s", "one").await;
    assert_eq!(etag(Method::POST, "/p?cache=60s", "one").await, post);
    assert_ne!(etag(Method::POST, "/p?cache=60s", "two").await, post, "the body is part of it");
    // Draws are part of it: a seeded range draws the same, another seed (almost surely) not.
    let seeded = etag(Method::GET, "/s?cache=60s&size=1B..4KiB&seed=7", "").await;
    assert_eq!(etag(Method::GET, "/s?cache=60s&size=1B..4KiB&seed=7", "").await, seeded);
    assert_ne!(etag(Method::GET, "/s?cache=60s&size=1B..4KiB&seed=8", "").await, seeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matching_if_none_match_gets_304_without_a_body_after_the_delay() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let c = http1();
    let url = s.url("/r?cache=60s&delay=120ms&size=100B");
    let full = send(&c, Method::GET, &url, &[], "").await;
    assert_eq!(full.body.len(), 100);
    let etag = full.header("etag").to_owned();
    for inm in [etag.clone(), format!("\"other\", W/{etag}"), "*".to_owned()] {
        let t = Instant::now();
        let a = send(&c, Method::GET, &url, &[("if-none-match", &inm)], "").await;
        assert_eq!(a.status, StatusCode::NOT_MODIFIED, "If-None-Match: {inm}");
        assert!(a.body.is_empty(), "a 304 has no body");
        assert!(t.elapsed() >= Duration::from_millis(120), "answered before the delay");
        assert!(a.timing("sleep") >= 120.0);
        assert_eq!(a.header("etag"), etag);
        assert_eq!(a.header("cache-control"), "public, max-age=60");
    }
    let other = send(&c, Method::GET, &url, &[("if-none-match", "\"0000000000000000\"")], "").await;
    assert_eq!((other.status, other.body.len()), (StatusCode::OK, 100), "no match, full answer");
    let post = send(&c, Method::POST, &url, &[("if-none-match", "*")], "").await;
    assert_eq!(post.status, StatusCode::OK, "only GET and HEAD are revalidated");
    let failing = send(&c, Method::GET, &s.url("/r?cache=60s&status=503"), &[("if-none-match", "*")], "").await;
    assert_eq!(failing.status, StatusCode::SERVICE_UNAVAILABLE, "a 304 stands only for a 2xx");
    let uncached = send(&c, Method::GET, &s.url("/r?size=1B"), &[("if-none-match", "*")], "").await;
    assert_eq!(uncached.status, StatusCode::OK, "no validators without a cache policy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_cache_values_get_400_with_what_is_allowed() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let c = http1();
    for q in ["/?cache=60", "/?cache=1.5s", "/?cache=shared,60s", "/?cache=400d", "/?cache=no-cache"] {
        let a = send(&c, Method::GET, &s.url(q), &[], "").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{q}");
        let j = a.json();
        assert_eq!(j["param"], "cache", "{q}");
        assert!(j["allowed"].as_str().unwrap().contains("no-store"), "{q}: {j}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_delay-echo"))
        .args(["--cache", "forever"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DELAY_ECHO_CACHE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixture_delays_draw_their_shares_and_reproduce_from_a_seed() {
    let s = TestServer::start(&["--delay", "0"]).await;
    let c = http1();
    let (mut fast, n) = (0, 200);
    for _ in 0..n {
        let a = send(&c, Method::GET, &s.url("/?delay=0:80,lognormal(1ms,3ms):20&format=json"), &[], "").await;
        assert_eq!(a.status, StatusCode::OK);
        if a.json()["knobs"]["delay"] == "0" {
            fast += 1;
        }
    }
    // 80 % expected; binomial spread over 200 draws is about 2.8 %.
    assert!((136..=184).contains(&fast), "{fast}/{n} draws from the 0 entry");
    let q = "/?delay=1ms:50,1ms..5ms:30,lognormal(2ms,4ms):20&seed=99&format=json";
    let knobs = |a: Answer| a.json()["knobs"].clone();
    let first = knobs(send(&c, Method::GET, &s.url(q), &[], "").await);
    for _ in 0..5 {
        assert_eq!(knobs(send(&c, Method::GET, &s.url(q), &[], "").await), first);
    }
    for bad in ["0:90,lognormal(40ms,200ms:10", "lognormal(1ms,2ms:50)", "1ms:50:50", "1ms:50,2ms"] {
        let a = send(&c, Method::GET, &s.url(&format!("/?delay={bad}")), &[], "").await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        let j = a.json();
        assert_eq!(j["param"], "delay");
        assert!(j["allowed"].as_str().unwrap().contains("does not nest"), "{bad}: {j}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_config_sets_and_clears_the_default_cache_policy() {
    let token = "cache-token-0123456789";
    let s = TestServer::start(&["--delay", "0", "--control-token", token]).await;
    let c = http1();
    let auth = format!("Bearer {token}");
    let put = |body: &'static str| {
        let (c, url, auth) = (c.clone(), s.url("/config"), auth.clone());
        async move { send(&c, Method::PUT, &url, &[("authorization", &auth)], body).await }
    };
    assert_eq!(put(r#"{"cache":"private,5s"}"#).await.json()["defaults"]["cache"], "private,5s");
    assert_eq!(get(&s.url("/")).await.header("cache-control"), "private, max-age=5");
    let bad = put(r#"{"cache":"sometimes"}"#).await;
    assert_eq!((bad.status, bad.json()["param"].as_str()), (StatusCode::BAD_REQUEST, Some("cache")));
    put(r#"{"cache":null}"#).await;
    assert!(!has(&get(&s.url("/")).await, "cache-control"), "null removes the policy");
}
