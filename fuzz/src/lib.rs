//! The fuzz targets' properties: one function per target, taking the fuzzer's bytes through the
//! service's own parser and panicking when a property fails. The targets (fuzz_targets/) are one
//! line each; tests/fuzz_corpus.rs replays every file of corpus/ through the same functions in
//! plain `cargo test`, so what the fuzzer once found stays a regression test without libFuzzer.
//!
//! Inputs are text where the parser reads text, so the seeds are the examples of docs/api.md as
//! they are written there.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use delay_echo::App;
use delay_echo::knobs::{self, CachePolicy, Caps, Id, Size, Values};
use delay_echo::relay::fuzzing as relay;
use delay_echo::relay::{HopError, Peer, X_ECHO_HOP, X_ECHO_HOPS};
use delay_echo::router::{self, Listener};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value as Json, json};

/// The service's default caps.
const WIDE: Caps = Caps {
    max_delay: Duration::from_secs(30),
    max_cpu: Duration::from_secs(1),
    max_size: Size(10 << 20),
    max_body: Size(10 << 20),
};

/// Caps below the built-in defaults (80 ms), where a draw that falls through to a built-in would
/// show.
const TIGHT: Caps = Caps {
    max_delay: Duration::from_millis(10),
    max_cpu: Duration::from_millis(1),
    max_size: Size(1024),
    max_body: Size(1024),
};

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// A seed taken from the input, so the draws differ between inputs but not between runs.
fn seed_of(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// A server's defaults as flags within `caps` would give them.
fn server_defaults(caps: &Caps) -> Values {
    let mut v = Values::default();
    for (name, text) in [("delay", "1ms"), ("cpu", "0"), ("status", "200")] {
        v.set(knobs::named(name).expect("a knob"), Some(text), caps).expect("within every cap here");
    }
    v
}

fn assert_within(drawn: &knobs::Drawn, caps: &Caps, what: &str) {
    assert!(drawn.delay <= caps.max_delay, "{what}: delay {:?} over the cap {:?}", drawn.delay, caps.max_delay);
    assert!(drawn.cpu <= caps.max_cpu, "{what}: cpu {:?} over the cap {:?}", drawn.cpu, caps.max_cpu);
    assert!(drawn.size.is_none_or(|s| s <= caps.max_size.0), "{what}: size {:?} over the cap", drawn.size);
    assert!((200..=599).contains(&drawn.status), "{what}: status {}", drawn.status);
}

/// Every knob value the grammar reads (delay, cpu, status, size, seed, cache), under the default
/// caps and under caps below the built-ins: an accepted value shows (`Display`, what GET /config
/// shows) as text that parses back to the same value; a refusal names its knob and says what is
/// allowed; no draw, as a request's value or as a server default, exceeds its cap.
pub fn knobs(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let seed = seed_of(data);
    for caps in [WIDE, TIGHT] {
        let defaults = server_defaults(&caps);
        for knob in knobs::ALL.iter().filter(|k| k.id != Id::Hop) {
            let mut asked = Values::default();
            if let Err(bad) = asked.set(knob, Some(text), &caps) {
                assert_eq!(bad.param, knob.name);
                assert!(!bad.err.error.is_empty() && !bad.err.allowed.is_empty(), "{bad:?}");
                continue;
            }
            let shown = asked.show(knob).expect("a value given is shown");
            let mut again = Values::default();
            if let Err(bad) = again.set(knob, Some(&shown), &caps) {
                panic!("{}={text:?} shows as {shown:?}, which is refused: {bad:?}", knob.name);
            }
            assert_eq!(again, asked, "{}={text:?} shows as {shown:?}, which parses to another value", knob.name);
            for s in 0..4 {
                let mut request = asked.clone();
                request.seed = request.seed.or(Some(seed.wrapping_add(s)));
                assert_within(&knobs::draw(&request, &defaults), &caps, &format!("{}={text:?} asked", knob.name));
                // As a server default (a flag or PUT /config), which may still refuse it.
                if let Ok(server) = defaults.apply(&[(knob, Some(text))], &caps) {
                    let plain = Values { seed: Some(seed.wrapping_add(s)), ..Values::default() };
                    let what = format!("{}={text:?} as the default", knob.name);
                    assert_within(&knobs::draw(&plain, &server), &caps, &what);
                }
            }
        }
    }
}

/// The cache knob: an accepted policy shows as text that parses back to it, and its
/// `Cache-Control` is one of the three documented forms with a max-age of at most a year.
pub fn cache_policy(data: &[u8]) {
    let Some(text) = text(data) else { return };
    match CachePolicy::parse(text) {
        Ok(p) => {
            let shown = p.to_string();
            assert_eq!(CachePolicy::parse(&shown), Ok(p), "{text:?} shows as {shown:?}");
            let header = p.header();
            let header = header.to_str().expect("ASCII");
            let age = match p {
                CachePolicy::NoStore => {
                    assert_eq!(header, "no-store");
                    return;
                }
                CachePolicy::Store { private: true, .. } => header.strip_prefix("private, max-age="),
                CachePolicy::Store { private: false, .. } => header.strip_prefix("public, max-age="),
            };
            let age: u64 = age.and_then(|a| a.parse().ok()).unwrap_or_else(|| panic!("{text:?}: {header:?}"));
            assert!(age <= 365 * 24 * 3600, "{text:?}: {header:?}");
        }
        Err(e) => assert!(!e.error.is_empty() && e.allowed.contains("no-store"), "{e:?}"),
    }
}

fn peers() -> &'static [Peer] {
    static PEERS: OnceLock<Vec<Peer>> = OnceLock::new();
    PEERS.get_or_init(|| {
        let list = ["eu=http://10.0.0.1:8080", "ap=https://ap.example/prefix", "us-east-1.b_2=http://u:1"];
        delay_echo::relay::peers::parse_peers(&list.map(String::from)).expect("valid peers")
    })
}

const MAX_HOPS: u32 = 8;

/// The error shape of docs/api.md: `error`, `param` and `allowed`, strings, nothing else but the
/// `extra` keys.
fn assert_error_shape(doc: &Json, extra: &[&str]) {
    let obj = doc.as_object().unwrap_or_else(|| panic!("an error body is a JSON object: {doc}"));
    for key in ["error", "param", "allowed"] {
        assert!(obj.get(key).and_then(Json::as_str).is_some_and(|s| !s.is_empty()), "no {key} in {doc}");
    }
    for key in obj.keys() {
        assert!(["error", "param", "allowed"].contains(&key.as_str()) || extra.contains(&key.as_str()), "{doc}");
    }
}

/// The hop list, as `hop` (line 1), with `X-Echo-Hops` (line 2) and the rest of the query (line
/// 3): a planned hop goes to the configured peer the list names first, never elsewhere; every
/// name it passes on is a name, not a URL; the forwarded request carries exactly the rest of the
/// list, where the list came from, and one more hop; a refusal is a 400 in the error shape, or a
/// 508 past the hop cap.
pub fn hops(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut lines = text.splitn(3, '\n');
    let list = lines.next().unwrap_or("");
    let hops_in = lines.next();
    let query = lines.next().unwrap_or("");
    let mut head = Request::get("/echo").body(()).expect("a request").into_parts().0;
    if let Ok(uri) = format!("/echo?{query}").parse() {
        head.uri = uri;
    }
    let hops_header = hops_in.and_then(|h| HeaderValue::from_str(h).ok());
    if let Some(h) = &hops_header {
        head.headers.insert(X_ECHO_HOPS.clone(), h.clone());
    }
    if let Ok(h) = HeaderValue::from_str(list) {
        head.headers.insert(X_ECHO_HOP.clone(), h);
    }
    head.headers.insert(hyper::header::AUTHORIZATION, HeaderValue::from_static("Bearer secret"));
    let peers = peers();
    let names: Vec<&str> = list.trim().split(',').map(str::trim).collect();
    let all_names = names.iter().all(|n| relay::valid_name(n));
    let known = peers.iter().position(|p| p.name == names[0]);
    match relay::plan(list, &head, peers, MAX_HOPS) {
        Ok(None) => assert!(list.trim().is_empty(), "{list:?} planned no hop"),
        Ok(Some((hop, path_and_query, headers))) => {
            assert!(all_names, "{list:?} passed with a name that is not one");
            assert_eq!(Some(hop.peer), known, "{list:?} goes to {}", peers[hop.peer].name);
            assert_eq!(hop.rest, names[1..].join(","), "{list:?}");
            assert!(u64::from(hop.hops_in) + names.len() as u64 <= u64::from(MAX_HOPS));
            assert_eq!(headers.get(&X_ECHO_HOPS).and_then(|v| v.to_str().ok()), Some(&*(hop.hops_in + 1).to_string()));
            for name in headers.keys() {
                let s = name.as_str();
                assert!(s.starts_with("x-echo-") || s == "content-type" || s == "accept", "{s} forwarded");
            }
            let uri: hyper::Uri = path_and_query.parse().unwrap_or_else(|e| panic!("{path_and_query:?}: {e}"));
            assert_eq!(uri.path(), head.uri.path());
            let hop_pairs = |q: Option<&str>| -> Vec<String> {
                let pairs = q.map(form_pairs).unwrap_or_default();
                pairs.into_iter().filter(|(k, _)| k == "hop").map(|(_, v)| v).collect()
            };
            let rest = (!hop.rest.is_empty()).then(|| hop.rest.clone());
            if hop_pairs(head.uri.query()).is_empty() {
                let header = headers.get(&X_ECHO_HOP).map(|v| v.to_str().expect("names").to_owned());
                assert_eq!(header, rest, "{list:?}: the rest goes on in X-Echo-Hop");
                assert!(hop_pairs(uri.query()).is_empty());
            } else {
                assert_eq!(hop_pairs(uri.query()), Vec::from_iter(rest), "{list:?}: the rest goes on in the query");
                let others = |q: Option<&str>| form_pairs(q.unwrap_or("")).into_iter().filter(|(k, _)| k != "hop");
                assert!(others(head.uri.query()).eq(others(uri.query())), "{path_and_query:?}: other pairs changed");
            }
        }
        Err(e @ HopError::Bad { .. }) => {
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            assert_error_shape(&e.doc(), &[]);
            let HopError::Bad { param, .. } = &e else { unreachable!() };
            if *param == "hop" {
                assert!(!all_names || known.is_none(), "{list:?} refused: {e:?}");
            }
        }
        Err(e @ HopError::TooMany { .. }) => {
            assert_eq!(e.status(), StatusCode::LOOP_DETECTED);
            assert!(all_names && known.is_some(), "{list:?}");
            assert_error_shape(&e.doc(), &["reason"]);
        }
    }
}

/// The query's pairs, decoded as the service decodes them.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// A peer's `Server-Timing`, as the relaying instance reads it: its `total` never becomes this
/// instance's own; the legs copied after this instance's are exactly the peer's `hop` and
/// `peer-total` entries, in order, and the header stays a valid header value; a total this
/// service wrote reads back to the microsecond.
pub fn server_timing(data: &[u8]) {
    let Some(theirs) = HeaderValue::from_bytes(data).ok() else { return };
    let Ok(theirs) = theirs.to_str() else { return };
    let peer_total = relay::own_total(theirs);
    let us = seed_of(data) % 10_000_000_000;
    let round_trip = Duration::from_micros(us);
    let legs = relay::leg_entries("eu", "ap", round_trip, peer_total, Some(theirs));
    let own = HeaderValue::from_static("queue;dur=0.000, sleep;dur=1.000, cpu;dur=0.000, total;dur=1.500");
    let joined = delay_echo::relay::with_legs(own.clone(), Some(legs.clone()));
    assert_ne!(joined, own, "the legs of {theirs:?} were dropped: {legs:?}");
    let joined = joined.to_str().expect("visible ASCII");
    assert_eq!(relay::own_total(joined), Some(Duration::from_micros(1_500)), "{theirs:?} changed our total");
    let entries: Vec<&str> = legs.split(',').map(str::trim).collect();
    assert!(entries[0].starts_with("hop;desc=\"eu>ap\";dur="), "{legs:?}");
    let copied = &entries[1 + usize::from(peer_total.is_some())..];
    let expected: Vec<&str> = theirs
        .split(',')
        .map(str::trim)
        .filter(|e| matches!(e.split(';').next().unwrap_or("").trim(), "hop" | "peer-total"))
        .collect();
    let copied: Vec<&str> = copied.iter().copied().filter(|e| !e.is_empty()).collect();
    let expected: Vec<&str> = expected.into_iter().filter(|e| !e.is_empty()).collect();
    assert_eq!(copied, expected, "{theirs:?}");
    let written = format!("queue;dur=0.001, total;dur={}.{:03}", us / 1000, us % 1000);
    let read = relay::own_total(&written).expect("a total");
    assert!(read.abs_diff(round_trip) < Duration::from_micros(1), "{written:?} read as {read:?}");
}

/// Numbers compare within a relative 1e-12: serde_json's default float parsing is best-effort in
/// the last bit, and the body is parsed and written again.
fn json_close(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => x == y,
        },
        (Json::Array(x), Json::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_close(x, y)),
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_close(v, w)))
        }
        _ => a == b,
    }
}

/// A peer's JSON answer, as the relaying instance extends it: when it is a JSON object with a
/// `chain` array, the answer is that document with this instance's element first in its chain
/// and nothing else changed; otherwise it is passed on untouched (`None`).
pub fn chain(data: &[u8]) {
    let us = seed_of(data) % 10_000_000_000;
    let (round_trip, peer_total) = (Duration::from_micros(us), Duration::from_micros(us / 3));
    let element = relay::chain_element("a-1", "ap", round_trip, Some(peer_total));
    let next = &element["next"];
    let network = next["network_ms"].as_f64().expect("a number");
    let (rt, pt) = (next["round_trip_ms"].as_f64().unwrap(), next["peer_total_ms"].as_f64().unwrap());
    assert!((network - (rt - pt)).abs() <= 1e-9 * rt.max(1.0) && network >= 0.0, "{element}");
    let parsed: Option<Json> = serde_json::from_slice(data).ok();
    let extendable = parsed.as_ref().and_then(|d| d.get("chain")).is_some_and(Json::is_array);
    match relay::prepend_to_chain(data, element.clone()) {
        None => assert!(!extendable, "{:?} has a chain but was not extended", String::from_utf8_lossy(data)),
        Some(out) => {
            let mut expected = parsed.expect("extended, so it parsed");
            expected["chain"].as_array_mut().expect("a chain").insert(0, element);
            let out: Json = serde_json::from_slice(&out).expect("the extended answer is JSON");
            assert!(json_close(&out, &expected), "{out} is not {expected}");
        }
    }
}

/// The service in memory: the app as `make run` would build it, with caps that keep every delay
/// and burn under 2 ms, peers that no request may reach (`--max-hops 0`), and a control token.
/// Requests go through the router over an in-memory duplex pipe: hyper's server connection on one
/// end, its client on the other, as the server's accept loop would serve them, with no socket.
struct Service {
    rt: tokio::runtime::Runtime,
    app: Arc<App>,
}

const TOKEN: &str = "fuzz-token-0123456789";

fn service() -> std::sync::MutexGuard<'static, Service> {
    static SERVICE: OnceLock<Mutex<Service>> = OnceLock::new();
    let service = SERVICE.get_or_init(|| {
        let args = [
            "delay-echo",
            "--max-delay=2ms",
            "--max-cpu=1ms",
            "--delay=0",
            "--max-size=64KiB",
            "--max-body=64KiB",
            "--control-token",
            TOKEN,
            "--peer=eu=http://127.0.0.1:9",
            "--peer=ap=http://127.0.0.1:9",
            "--max-hops=0",
            "--instance-id=fuzz-1",
        ];
        let cli = delay_echo::cli::Cli::try_parse_from(args).expect("valid flags");
        let platform = delay_echo::platform::Platform::host("fuzz");
        let config = delay_echo::Config::from_args(&cli.serve, &platform).expect("valid config");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let app = rt.block_on(async { delay_echo::build_app(config, &tokio::runtime::Handle::current()) });
        Mutex::new(Service { rt, app })
    });
    // A property that failed in one corpus test leaves the lock poisoned; the state is reset
    // before every request anyway.
    let s = service.lock().unwrap_or_else(|p| p.into_inner());
    s.app.defaults.store(Arc::new(s.app.config.defaults.clone()));
    s.app.admission.set_limits(s.app.config.admission);
    s
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Service {
    /// The answer; `None` when hyper's client would not send the request (a method or target
    /// HTTP/1 cannot carry), while a server that panicked or broke off fails the property.
    fn try_send(&self, req: Request<Full<Bytes>>) -> Option<Answer> {
        let app = self.app.clone();
        self.rt.block_on(async move {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let service = hyper::service::service_fn(move |req| {
                let answer = router::route(&app, Listener::Main, req);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(server), service);
            let server = tokio::spawn(conn);
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(client)).await.expect("a handshake in memory");
            let client_conn = tokio::spawn(conn);
            let answer = match sender.send_request(req).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    body.collect().await.map(|b| Answer {
                        status: parts.status,
                        headers: parts.headers,
                        body: b.to_bytes(),
                    })
                }
                Err(e) => Err(e),
            };
            drop(sender);
            let _ = client_conn.await;
            if let Err(e) = server.await
                && e.is_panic()
            {
                std::panic::resume_unwind(e.into_panic());
            }
            match answer {
                Ok(a) => Some(a),
                Err(e) if e.is_user() => None,
                Err(e) => panic!("the service broke off without a whole answer: {e}"),
            }
        })
    }

    fn send(&self, req: Request<Full<Bytes>>) -> Answer {
        self.try_send(req).expect("a request the client sends")
    }

    fn config(&self) -> Json {
        let a = self.send(Request::get("/config").body(Full::default()).expect("a request"));
        assert_eq!(a.status, StatusCode::OK);
        serde_json::from_slice(&a.body).expect("GET /config is JSON")
    }

    fn put_config(&self, body: Vec<u8>) -> Answer {
        let req = Request::put("/config").header("authorization", format!("Bearer {TOKEN}"));
        self.send(req.body(Full::new(Bytes::from(body))).expect("a request"))
    }
}

/// A `PUT /config` body: a 400 leaves the configuration as it was (all or nothing) and has the
/// error shape; a 200 shows defaults that parse within the caps, and putting back what it shows
/// changes nothing (the defaults round-trip through their display).
pub fn config_body(data: &[u8]) {
    let s = service();
    let before = (s.app.defaults.load_full(), s.app.admission.limits());
    let answer = s.put_config(data.to_vec());
    match answer.status {
        StatusCode::OK => {
            let shown: Json = serde_json::from_slice(&answer.body).expect("the answer is JSON");
            assert_eq!(shown, s.config(), "the answer is the configuration in force");
            let defaults = shown["defaults"].as_object().expect("defaults");
            for (name, v) in defaults {
                let knob = knobs::named(name).expect("a knob");
                if let Some(text) = v.as_str() {
                    let mut values = Values::default();
                    values.set(knob, Some(text), &s.app.config.caps).expect("a shown default parses within the caps");
                }
            }
            let again = s.put_config(serde_json::to_vec(&json!({ "defaults": null })).unwrap());
            assert_eq!(again.status, StatusCode::BAD_REQUEST, "unknown fields are refused");
            let back = serde_json::to_vec(&shown["defaults"]).unwrap();
            let again = s.put_config(back);
            assert_eq!(again.status, StatusCode::OK, "{}", String::from_utf8_lossy(&again.body));
            let again: Json = serde_json::from_slice(&again.body).unwrap();
            assert_eq!(again["defaults"], shown["defaults"], "the shown defaults put back are others");
        }
        StatusCode::BAD_REQUEST => {
            assert_error_shape(&serde_json::from_slice(&answer.body).expect("a JSON error"), &[]);
            let after = (s.app.defaults.load_full(), s.app.admission.limits());
            assert_eq!(after, before, "a refused update changed the configuration");
        }
        other => panic!("PUT /config answered {other}: {}", String::from_utf8_lossy(&answer.body)),
    }
}

/// hyper's default for the header fields of one HTTP/1 head (server::conn::http1::Builder::max_headers),
/// which delay-echo keeps: setting any value makes hyper parse every head on the heap (its docs).
const HYPER_MAX_HEADERS: usize = 100;

/// A whole request, written as HTTP/1 text: `METHOD TARGET`, header lines, an empty line, the
/// body. Every answer names its instance; a request whose knobs the parser refuses is a 400 in
/// the error shape naming that knob, and one it accepts is not refused for its knobs; every
/// answer that is no echo and no probe is an error in that shape; a `hop` never leaves the
/// instance (none may, here), so a planned one is a 508 and any other a 400.
pub fn request(data: &[u8]) {
    let Some((req, query, headers)) = parse_request(data) else { return };
    let path = req.uri().path().to_owned();
    let head = req.method() == Method::HEAD;
    let s = service();
    let fields = req.headers().len();
    let Some(answer) = s.try_send(req) else { return };
    // hyper refuses a head with more header fields than it parses (HYPER_MAX_HEADERS) itself,
    // before the router sees it: a bare 431 that cannot name the instance (docs/api.md says so).
    if answer.status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE && !answer.headers.contains_key("x-instance-id") {
        // >=: the client in memory may add a field of its own to the head it writes.
        assert!(fields >= HYPER_MAX_HEADERS, "{path}: hyper's 431 for {fields} header fields");
        assert!(answer.body.is_empty(), "{path}: hyper's 431 has no body");
        return;
    }
    assert!(
        answer.headers.contains_key("x-instance-id"),
        "{path}: no X-Instance-Id on a {} with {:?}",
        answer.status,
        answer.headers
    );
    let caps = s.app.config.caps;
    let echo = !matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics" | "/config");
    let ran = answer.headers.contains_key("x-request-seq");
    // An answer to HEAD has its headers and no body.
    let error = |extra: &[&str]| -> Json {
        if head {
            return Json::Null;
        }
        let doc = serde_json::from_slice(&answer.body).unwrap_or_else(|_| {
            panic!("{path}: {} is no JSON error: {:?}", answer.status, String::from_utf8_lossy(&answer.body))
        });
        assert_error_shape(&doc, extra);
        doc
    };
    if echo {
        match knobs::read(query.as_deref(), &headers, &caps, true) {
            Err(bad) => {
                assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad:?}");
                let doc = error(&[]);
                assert!(head || doc["param"] == bad.param, "{doc} for {bad:?}");
                return;
            }
            Ok(asked) => {
                if let Some(list) = asked.values.hop.as_deref().filter(|l| !l.trim().is_empty()) {
                    assert!(!ran, "{list:?}: relayed");
                    let status = answer.status;
                    let over = status == StatusCode::LOOP_DETECTED;
                    assert!(
                        over || status == StatusCode::BAD_REQUEST || status == StatusCode::PAYLOAD_TOO_LARGE,
                        "{list:?}: {status}"
                    );
                    error(if over { &["reason"] } else { &[] });
                    return;
                }
                if !ran {
                    assert_eq!(
                        answer.status,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "{}",
                        String::from_utf8_lossy(&answer.body)
                    );
                }
            }
        }
    }
    if !ran && answer.status.as_u16() >= 400 && !matches!(path.as_str(), "/readyz" | "/metrics") {
        error(&[]);
    }
}

type Parsed = (Request<Full<Bytes>>, Option<String>, HeaderMap);

/// The request the client sends, with its query and headers as the service receives them;
/// `None` for what hyper's client would not send.
fn parse_request(data: &[u8]) -> Option<Parsed> {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &b""[..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split('\n');
    let (method, target) = lines.next()?.split_once(' ')?;
    let method = Method::from_bytes(method.as_bytes()).ok()?;
    let uri: hyper::Uri = target.parse().ok()?;
    uri.path().starts_with('/').then_some(())?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        // hyper frames the body itself: a length or encoding of the input's own would be a
        // different request on the wire.
        if matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection" | "upgrade" | "host") {
            return None;
        }
        headers.append(name, HeaderValue::from_str(value.trim()).ok()?);
    }
    let query = uri.query().map(str::to_owned);
    let mut req = Request::builder().method(method).uri(uri);
    *req.headers_mut()? = headers.clone();
    let req = req.body(Full::new(Bytes::copy_from_slice(body))).ok()?;
    Some((req, query, headers))
}
