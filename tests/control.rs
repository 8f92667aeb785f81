//! Run-time control through /config.

use hyper::{Method, StatusCode};

use crate::support::*;

const TOKEN: &str = "test-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_shows_defaults_and_limits() {
    let s = TestServer::start(&["--delay", "25ms", "--max-concurrency", "7", "--size", "1KiB"]).await;
    let j = get(&s.url("/config")).await.json();
    assert_eq!(j["defaults"]["delay"], "25ms");
    assert_eq!(j["defaults"]["size"], "1024B");
    assert_eq!(j["admission"]["max_concurrency"], 7);
    assert_eq!(j["limits"]["max_delay"], "30s");
    assert_eq!(j["writable"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_changes_defaults_and_the_limit_for_the_requests_that_follow() {
    let s = TestServer::start(&["--delay", "0", "--control-token", TOKEN]).await;
    let c = http1();
    let auth = format!("Bearer {TOKEN}");
    let a = send(
        &c,
        Method::PUT,
        &s.url("/config"),
        &[("authorization", &auth)],
        r#"{"delay":"120ms","status":"503:100","size":"3B","max_concurrency":1,"max_queue":0}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.json()["defaults"]["delay"], "120ms");
    let e = get(&s.url("/")).await;
    assert_eq!(e.status.as_u16(), 503);
    assert_eq!(e.body.len(), 3);
    assert!(e.timing("sleep") >= 120.0);
    // The new limit holds: one in service, no queue.
    let hold = tokio::spawn({
        let u = s.url("/?delay=600ms&status=200");
        async move { get(&u).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let rejected = get(&s.url("/?delay=0")).await;
    assert_eq!(rejected.json()["reason"], "queue_full");
    assert_eq!(hold.await.unwrap().status, StatusCode::OK);
    // Back to echoing with a null size.
    send(
        &c,
        Method::PUT,
        &s.url("/config"),
        &[("authorization", &auth)],
        r#"{"size":null,"status":"200","delay":"0"}"#,
    )
    .await;
    let echo = send(&c, Method::POST, &s.url("/"), &[], "abc").await;
    assert_eq!(&echo.body[..], b"abc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_the_token_and_valid_input() {
    let open = TestServer::start(&[]).await;
    let c = http1();
    let a = send(&c, Method::PUT, &open.url("/config"), &[("authorization", "Bearer anything")], "{}").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.json()["allowed"].as_str().unwrap().contains("--control-token"));

    let s = TestServer::start(&["--control-token", TOKEN]).await;
    let auth = format!("Bearer {TOKEN}");
    assert_eq!(send(&c, Method::PUT, &s.url("/config"), &[], "{}").await.status, StatusCode::UNAUTHORIZED);
    let wrong =
        send(&c, Method::PUT, &s.url("/config"), &[("authorization", "Bearer test-token-0123456788")], "{}").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    for (body, param) in [
        ("{not json", "body"),
        (r#"{"delay":"99s"}"#, "delay"),
        (r#"{"status":"999"}"#, "status"),
        (r#"{"bogus":1}"#, "body"),
        (r#"{"queue_timeout":"soon"}"#, "queue_timeout"),
    ] {
        let a = send(&c, Method::PUT, &s.url("/config"), &[("authorization", &auth)], body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(a.json()["param"], param, "{body}");
    }
    // Nothing changed after the failed attempts.
    assert_eq!(get(&s.url("/config")).await.json()["defaults"]["delay"], "80ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_changes_only_the_fields_given_and_null_goes_back_to_the_builtin() {
    let s = TestServer::start(&["--delay", "10ms..20ms", "--size", "1KiB", "--control-token", TOKEN]).await;
    let c = http1();
    let auth = format!("Bearer {TOKEN}");
    let put = |body: &'static str| {
        let (c, url, auth) = (c.clone(), s.url("/config"), auth.clone());
        async move { send(&c, Method::PUT, &url, &[("authorization", &auth)], body).await }
    };
    let a = put(r#"{"cpu":"1ms"}"#).await;
    assert_eq!(a.status, StatusCode::OK);
    let d = &a.json()["defaults"];
    assert_eq!(
        (d["delay"].as_str(), d["cpu"].as_str(), d["size"].as_str()),
        (Some("10ms..20ms"), Some("1ms"), Some("1024B"))
    );
    let d = put(r#"{"delay":null,"size":null}"#).await.json()["defaults"].clone();
    assert_eq!((d["delay"].as_str(), d["size"].as_str()), (Some("80ms"), None));
    for (body, param) in [(r#"{"delay":5}"#, "delay"), (r#"{"max_queue":-1}"#, "max_queue"), ("[1]", "body")] {
        let a = put(body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(a.json()["param"], param, "{body}");
    }
}
