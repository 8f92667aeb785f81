//! Relay hops through real sockets: chains of two and three instances on 127.0.0.1, their timing
//! fields, the allow-list, the hop cap, failing and silent peers, cancellation, and `https://`
//! peers behind a TLS front with certificates made here.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::{Method, StatusCode};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::AsyncWriteExt;

use crate::support::*;

/// An instance that forwards to `peers` (`(name, server)`), with these extra flags.
async fn relaying(peers: &[(&str, &TestServer)], extra: &[&str]) -> TestServer {
    let specs: Vec<String> = peers.iter().map(|(n, s)| format!("{n}={}", s.url(""))).collect();
    let mut args: Vec<&str> = extra.to_vec();
    for s in &specs {
        args.extend(["--peer", s]);
    }
    TestServer::start(&args).await
}

/// `name;desc="…";dur=…` entries of a Server-Timing value, as (desc, dur).
fn entries(a: &Answer, name: &str) -> Vec<(String, f64)> {
    a.header("server-timing")
        .split(", ")
        .filter_map(|e| e.strip_prefix(&format!("{name};desc=\"")))
        .map(|e| {
            let (desc, dur) = e.split_once("\";dur=").unwrap();
            (desc.to_owned(), dur.parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_three_reports_every_leg_in_order() {
    let c = TestServer::start(&["--delay", "0", "--region", "ap", "--instance-id", "c-1"]).await;
    let b = relaying(&[("c", &c)], &["--delay", "0", "--region", "us", "--instance-id", "b-1"]).await;
    let a = relaying(&[("b", &b)], &["--delay", "0", "--region", "eu", "--instance-id", "a-1"]).await;

    let r = get(&a.url("/x?hop=b,c&delay=2ms&format=json")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.header("x-instance-id"), "a-1");
    assert_eq!(r.header("x-instance-region"), "eu");
    let doc = r.json();
    assert_eq!(doc["path"], "/x", "the last instance saw the same path");
    let chain = doc["chain"].as_array().unwrap();
    let ids: Vec<&str> = chain.iter().map(|e| e["instance"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-1", "b-1", "c-1"]);
    let regions: Vec<&str> = chain.iter().map(|e| e["region"].as_str().unwrap()).collect();
    assert_eq!(regions, ["eu", "us", "ap"]);
    assert_eq!(chain[0]["next"]["peer"], "b");
    assert_eq!(chain[1]["next"]["peer"], "c");
    assert!(chain[2]["next"].is_null());
    for (i, e) in chain.iter().enumerate() {
        // Each did its own 2 ms of work: every instance's time covers it.
        assert!(e["server_ms"].as_f64().unwrap() >= 2.0, "{e}");
        humantime::parse_rfc3339(e["arrival"].as_str().unwrap()).expect("RFC 3339 arrival");
        if let Some(next) = e["next"].as_object() {
            let rt = next["round_trip_ms"].as_f64().unwrap();
            let peer_total = next["peer_total_ms"].as_f64().unwrap();
            let network = next["network_ms"].as_f64().unwrap();
            assert!(rt >= peer_total, "round trip {rt} < peer total {peer_total}");
            assert!(network >= 0.0, "{network}");
            assert!((network - (rt - peer_total)).abs() < 1e-6);
            // The peer's total as it reported it is that element's own time.
            let theirs = chain[i + 1]["server_ms"].as_f64().unwrap();
            assert!((peer_total - theirs).abs() < 0.01, "{peer_total} vs {theirs}");
            assert!(e["server_ms"].as_f64().unwrap() >= rt, "an instance's time includes its leg");
        }
    }

    let hops = entries(&r, "hop");
    assert_eq!(hops.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(), ["eu>b", "us>c"], "one entry per leg");
    let totals = entries(&r, "peer-total");
    assert_eq!(totals.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    for ((_, rt), (_, total)) in hops.iter().zip(&totals) {
        assert!(rt >= total, "{rt} < {total}");
    }
    assert!(r.timing("total") >= hops[0].1, "the instance's own total covers its leg");

    let m = scrape(&a).await;
    assert_eq!(sample(&m, "delay_echo_peer_requests_total{outcome=\"answered\",peer=\"b\"}"), 1.0);
    assert_eq!(sample(&m, "delay_echo_peer_round_trip_seconds_count{peer=\"b\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hop_forwards_method_body_and_status_and_the_header_form_works() {
    let b = TestServer::start(&["--delay", "0", "--instance-id", "b-1"]).await;
    let a = relaying(&[("b", &b)], &["--delay", "0", "--instance-id", "a-1"]).await;
    let r = send(
        &http1(),
        Method::PUT,
        &a.url("/p?status=418"),
        &[("x-echo-hop", "b"), ("content-type", "text/x-test")],
        "the body travels",
    )
    .await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT, "the peer's status");
    assert_eq!(&r.body[..], b"the body travels", "echoed by the peer, relayed back");
    assert_eq!(r.header("content-type"), "text/x-test");
    assert_eq!(r.header("x-instance-id"), "a-1");
    assert!(r.headers.get("x-instance-region").is_none(), "no region configured");
    assert_eq!(entries(&r, "hop").len(), 1);
    assert_eq!(entries(&r, "hop")[0].0, "a-1>b", "without a region the sender is named by its id");
    // The peer saw the request arrive after one hop, and answered it itself.
    let mb = scrape(&b).await;
    assert_eq!(sample(&mb, "delay_echo_requests_total{route=\"echo\",status=\"418\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_peers_and_urls_get_400_naming_the_allowed_peers() {
    let b = TestServer::start(&["--delay", "0"]).await;
    let a = relaying(&[("b", &b)], &["--delay", "0"]).await;
    let url_hop = format!("/?hop={}", b.url(""));
    for path in ["/?hop=zz", url_hop.as_str(), "/?hop=b,http://example.com"] {
        let r = get(&a.url(path)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        let doc = r.json();
        assert_eq!(doc["param"], "hop");
        assert!(doc["allowed"].as_str().unwrap().contains(": b"), "{doc}");
    }
    let m = scrape(&b).await;
    assert_eq!(sample(&m, "delay_echo_requests_total{route=\"echo\",status=\"200\"}"), 0.0, "nothing was forwarded");
    // A later name is checked by the instance it reaches; its refusal comes back as it is.
    let r = get(&a.url("/?hop=b,zz")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["allowed"].as_str().unwrap().contains("no --peer"), "b has no peers: {}", r.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hop_cap_answers_508_with_a_reason() {
    let b = TestServer::start(&["--delay", "0"]).await;
    let a = relaying(&[("b", &b)], &["--delay", "0", "--max-hops", "2"]).await;
    // Too many hops asked…
    let r = get(&a.url("/?hop=b,b,b")).await;
    assert_eq!(r.status, StatusCode::LOOP_DETECTED);
    assert_eq!(r.json()["reason"], "max_hops");
    // …or taken already.
    let r = send(&http1(), Method::GET, &a.url("/?hop=b"), &[("x-echo-hops", "2")], "").await;
    assert_eq!(r.status, StatusCode::LOOP_DETECTED);
    assert!(r.json()["error"].as_str().unwrap().contains('3'), "{}", r.json());
    assert_eq!(get(&a.url("/?hop=b")).await.status, StatusCode::OK, "within the cap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_refuses_is_a_502_naming_it() {
    // A port that was just ours and is now closed: connecting is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let down = format!("down=http://127.0.0.1:{port}");
    let a = TestServer::start(&["--delay", "0", "--peer", &down]).await;
    let r = get(&a.url("/?hop=down")).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY);
    let doc = r.json();
    assert_eq!(doc["peer"], "down");
    assert!(doc["error"].as_str().unwrap().contains("down"), "{doc}");
    let m = scrape(&a).await;
    assert_eq!(sample(&m, "delay_echo_peer_requests_total{outcome=\"failed\",peer=\"down\"}"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_a_504_after_the_peer_timeout() {
    // Accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = format!("mute=http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let a = TestServer::start(&["--delay", "0", "--peer", &peer, "--peer-timeout", "300ms"]).await;
    let started = std::time::Instant::now();
    let r = get(&a.url("/?hop=mute")).await;
    assert_eq!(r.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.json()["peer"], "mute");
    let m = scrape(&a).await;
    assert_eq!(sample(&m, "delay_echo_peer_requests_total{outcome=\"timeout\",peer=\"mute\"}"), 1.0);
    hold.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_cancels_the_upstream_request() {
    // The peer is slow by default; the relaying instance forwards at once.
    let b = TestServer::start(&["--delay", "5s"]).await;
    let a = relaying(&[("b", &b)], &["--delay", "0"]).await;
    let mut raw = tokio::net::TcpStream::connect(a.addr).await.unwrap();
    raw.write_all(b"GET /?hop=b HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut arrived = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if sample(&scrape(&b).await, "delay_echo_in_flight_requests") >= 1.0 {
            arrived = true;
            break;
        }
    }
    assert!(arrived, "the forwarded request never reached the peer");
    drop(raw);
    let mut cancelled = 0.0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        cancelled = sample(&scrape(&b).await, "delay_echo_cancelled_requests_total");
        if cancelled >= 1.0 {
            break;
        }
    }
    assert_eq!(cancelled, 1.0, "the peer saw its client (the relay) go away");
    let m = scrape(&a).await;
    assert_eq!(sample(&m, "delay_echo_peer_requests_total{outcome=\"cancelled\",peer=\"b\"}"), 1.0);
    assert_eq!(sample(&m, "delay_echo_cancelled_requests_total"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_overrides_also_disables_hop() {
    let b = TestServer::start(&["--delay", "0"]).await;
    let a = relaying(&[("b", &b)], &["--delay", "0", "--no-overrides", "--instance-id", "a-1"]).await;
    for r in [
        get(&a.url("/?hop=b&format=json")).await,
        send(&http1(), Method::GET, &a.url("/?format=json"), &[("x-echo-hop", "b")], "").await,
    ] {
        assert_eq!(r.status, StatusCode::OK);
        let chain = r.json()["chain"].as_array().unwrap().clone();
        assert_eq!(chain.len(), 1, "answered here");
        assert_eq!(chain[0]["instance"], "a-1");
        assert!(entries(&r, "hop").is_empty());
    }
    let m = scrape(&a).await;
    assert_eq!(sample(&m, "delay_echo_peer_requests_total{outcome=\"answered\",peer=\"b\"}"), 0.0);
}

/// A certificate authority made for one test.
fn test_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate for `names` (IP addresses or DNS names) issued by `ca`, with its chain.
fn server_cert(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    let chain = vec![cert.der().clone(), ca.der().clone()];
    (chain, PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

/// A PEM file holding `ca`'s certificate, removed on drop.
struct PemFile(PathBuf);

impl PemFile {
    fn of(ca: &CertifiedIssuer<'static, KeyPair>, name: &str) -> PemFile {
        let path = std::env::temp_dir().join(format!("delay-echo-relay-{}-{name}.pem", std::process::id()));
        std::fs::write(&path, ca.pem()).unwrap();
        PemFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for PemFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A TLS-terminating front on 127.0.0.1 for a delay-echo instance (which serves no TLS itself):
/// it completes the handshake with its certificate and pipes the bytes to the instance, as a
/// platform's load balancer does. It counts handshakes and records the ALPN protocol agreed.
/// Its connections end when it is dropped.
struct TlsFront {
    addr: SocketAddr,
    handshakes: Arc<AtomicUsize>,
    alpn: Arc<Mutex<Vec<Option<Vec<u8>>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    async fn start(cert: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), backend: SocketAddr) -> TlsFront {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.0, cert.1)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicUsize::new(0));
        let alpn = Arc::new(Mutex::new(Vec::new()));
        let (count, agreed) = (handshakes.clone(), alpn.clone());
        let task = tokio::spawn(async move {
            // Owned by this task, so aborting it (on drop) ends every connection too.
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, count, agreed) = (acceptor.clone(), count.clone(), agreed.clone());
                conns.spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    count.fetch_add(1, Ordering::SeqCst);
                    agreed.lock().unwrap().push(tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec));
                    let Ok(mut inner) = tokio::net::TcpStream::connect(backend).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
                });
            }
        });
        TlsFront { addr, handshakes, alpn, task }
    }

    fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_peer_is_relayed_to_over_one_pooled_tls_connection() {
    let ca = test_ca("delay-echo test CA");
    let ca_file = PemFile::of(&ca, "trusted");
    let b = TestServer::start(&["--delay", "0", "--region", "ap", "--instance-id", "b-1"]).await;
    let front = TlsFront::start(server_cert(&ca, &["127.0.0.1"]), b.addr).await;
    let peer = format!("b={}", front.url());
    let a = TestServer::start(&[
        "--delay",
        "0",
        "--region",
        "eu",
        "--instance-id",
        "a-1",
        "--peer",
        &peer,
        "--peer-ca",
        ca_file.path(),
    ])
    .await;

    for i in 0..3 {
        let r = get(&a.url("/x?hop=b&format=json")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let chain = r.json()["chain"].as_array().unwrap().clone();
        let ids: Vec<&str> = chain.iter().map(|e| e["instance"].as_str().unwrap()).collect();
        assert_eq!(ids, ["a-1", "b-1"], "answered by the instance behind TLS");
        let next = &chain[0]["next"];
        assert_eq!(next["peer"], "b");
        assert!(next["network_ms"].as_f64().unwrap() >= 0.0, "{next}");
        assert!(next["round_trip_ms"].as_f64().unwrap() >= next["peer_total_ms"].as_f64().unwrap(), "{next}");
        assert_eq!(entries(&r, "hop").iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(), ["eu>b"], "request {i}");
        // Lets the client's pool take the connection back before the next request.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The plain form (a streamed body, not a JSON chain) goes through too.
    let r = send(&http1(), Method::POST, &a.url("/?hop=b"), &[], "over TLS").await;
    assert_eq!((r.status, &r.body[..]), (StatusCode::OK, &b"over TLS"[..]));

    assert_eq!(front.handshakes.load(Ordering::SeqCst), 1, "the first leg paid the handshake, the others reused it");
    assert_eq!(*front.alpn.lock().unwrap(), [Some(b"http/1.1".to_vec())], "HTTP/1.1 agreed by ALPN");
    let m = scrape(&a).await;
    assert_eq!(sample(&m, "delay_echo_peer_requests_total{outcome=\"answered\",peer=\"b\"}"), 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_peer_whose_certificate_does_not_verify_is_a_502_naming_it() {
    let trusted = test_ca("trusted CA");
    let stranger = test_ca("unknown CA");
    let ca_file = PemFile::of(&trusted, "only-trusted");
    let b = TestServer::start(&["--delay", "0"]).await;
    // Issued by a CA nobody trusts, and issued by the trusted CA for another name.
    let unknown = TlsFront::start(server_cert(&stranger, &["127.0.0.1"]), b.addr).await;
    let misnamed = TlsFront::start(server_cert(&trusted, &["peer.example"]), b.addr).await;
    let peers = [format!("unknown={}", unknown.url()), format!("misnamed={}", misnamed.url())];
    let a = TestServer::start(&["--delay", "0", "--peer", &peers[0], "--peer", &peers[1], "--peer-ca", ca_file.path()])
        .await;

    for name in ["unknown", "misnamed"] {
        let r = get(&a.url(&format!("/?hop={name}"))).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{name}: {:?}", r.body);
        let doc = r.json();
        assert_eq!(doc["peer"], name);
        let error = doc["error"].as_str().unwrap();
        assert!(error.contains(name) && error.contains("certificate"), "{error}");
    }
    let m = scrape(&a).await;
    assert_eq!(sample(&m, "delay_echo_peer_requests_total{outcome=\"failed\",peer=\"unknown\"}"), 1.0);
    let mb = scrape(&b).await;
    assert_eq!(sample(&mb, "delay_echo_requests_total{route=\"echo\",status=\"200\"}"), 0.0, "nothing got through");
}

#[test]
fn peers_other_than_http_and_https_and_bad_ca_files_stop_the_start() {
    let bin = env!("CARGO_BIN_EXE_delay-echo");
    let run = |args: &[&str]| std::process::Command::new(bin).args(args).env_clear().output().unwrap();
    let out = run(&["--peer", "ap=ftp://ap.example"]);
    assert_eq!(out.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("--peer") && msg.contains("ftp://") && msg.contains("allowed: http:// or https://"), "{msg}");
    let out = run(&["--peer", "ap=https://ap.example", "--peer-ca", "/nonexistent/ca.pem"]);
    assert_eq!(out.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains("--peer-ca") && msg.contains("DELAY_ECHO_PEER_CA") && msg.contains("PEM"), "{msg}");
}
