//! Relay hops: an echo request may ask to be forwarded on to named peers (`hop=eu,ap`), so one
//! request measures the network time of every leg of a chain (the region-mesh study).
//!
//! Why it is shaped this way:
//! - **An allow-list, never an open proxy.** Peers are configured (`--peer NAME=URL`,
//!   `DELAY_ECHO_PEERS=name=url,name=url`); a request names peers, never URLs. An unknown name or
//!   anything that looks like a URL is a 400 naming the allowed peers.
//! - **Bounded.** `X-Echo-Hops` carries the number of hops a request has already taken; a request
//!   whose chain would take more than `--max-hops` (default 8) in all is answered 508 at once, so a
//!   loop between misconfigured peers ends. A peer that refuses or fails is a 502, one silent past
//!   `--peer-timeout` (default 10 s) a 504, both naming the peer. When the client goes away hyper
//!   drops the handler's future, which drops the upstream request: its connection is closed and
//!   the peer counts a cancellation.
//! - **One HTTP stack.** The forwarding client is hyper-util's pooled client over the same hyper,
//!   HTTP/1.1 with keep-alive and `TCP_NODELAY`, so a leg costs one round trip once warm.
//! - **`http://` and `https://` peers.** Deployed peers are HTTPS only (App Runner and ECS
//!   Express Mode service URLs), so the connector is hyper-rustls around the same `HttpConnector`:
//!   TLS only, HTTP/1.1 inside it (ALPN `http/1.1`; a leg is one request at a time, h2 would buy
//!   nothing). Crypto is rustls' `ring` provider: measured, a 2 MB smaller binary and a shorter
//!   build than aws-lc-rs (ARCHITECTURE.md "Relay hops"). Trust: Mozilla's roots compiled in (`webpki-roots`; the
//!   image is `scratch`, with no CA files to read), plus the CAs of `--peer-ca FILE` for peers
//!   behind a private CA. A certificate that does not verify is a 502 saying so.
//!
//! What a round trip costs. The first request to a peer pays the TCP handshake (one round trip)
//! and, over `https://`, the TLS 1.3 handshake (one more; TLS 1.2 two) before its own; later ones
//! reuse the pooled connection and cost one round trip. So the first leg to each peer reads high:
//! discard a warm-up request, as `make mesh` does by measuring over a duration. Over TLS a warm
//! leg's `network_ms` also includes encrypting and decrypting the request and the answer at both
//! ends (microseconds for echo-sized messages).
//!
//! Forwarding: the instance does its own work first (queue, delay, cpu), then sends the request to
//! the first peer with the same method, path, body and query, `hop` shortened by that name (in the
//! query, or in `X-Echo-Hop` when it came as a header), the knob headers (`X-Echo-*`), `Accept` and
//! `Content-Type`, and `X-Echo-Hops` one higher. It answers with the peer's status, content
//! type and body under its own headers (the peer's other headers, cache validators included,
//! stay with the peer). Errors: 400 `{"error","param","allowed"}` (allowed names the peers),
//! 508 the same plus `"reason": "max_hops"`, 502/504 `{"error","param": "hop","peer"}`; a
//! later instance's refusal comes back as it is, with its status.
//!
//! Timing per leg. `round trip` is measured here, from sending the request to the peer's response
//! head; the peer's `total` (its arrival to its answer, read from its `Server-Timing`) is inside
//! it. `network_ms = round_trip_ms − peer_total_ms`: the point-to-point network time of the leg,
//! both directions, plus both ends' HTTP parsing (microseconds on loopback).
//!
//! `Server-Timing` gains, after the instance's own `queue, sleep, cpu, total`, two entries per leg,
//! in chain order (a relaying instance copies its peer's leg entries after its own):
//! `hop;desc="eu>ap";dur=<round trip ms>, peer-total;desc="ap";dur=<peer's total ms>`. The name
//! left of `>` is the sender's `--region`, else its instance id.
//!
//! `format=json` answers (the last instance's echo description) carry `chain`, one element per
//! instance in order; an answer without hops has one element with `"next": null`:
//!
//! ```json
//! "chain": [
//!   { "instance": "a-1f2e3d", "region": "eu-west-1",
//!     "arrival": "2026-12-02T06:01:02.123456Z", "server_ms": 25.112,
//!     "next": { "peer": "ap", "round_trip_ms": 24.950, "peer_total_ms": 0.412, "network_ms": 24.538 } },
//!   { "instance": "b-4c5d6e", "region": "ap-southeast-2",
//!     "arrival": "2026-12-02T06:01:02.135700Z", "server_ms": 0.412, "next": null }
//! ]
//! ```
//!
//! `arrival` is the instance's wall clock at arrival, RFC 3339 UTC with microseconds (clocks of
//! different hosts differ: compare arrivals only within one host). `server_ms` is the instance's
//! own total (arrival to answer, including its onward leg). `region` is `null` when unset.
//! `peer_total_ms` and `network_ms` are `null` when the peer did not report a total.

use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

use std::path::Path;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use crate::body::Body;
use crate::instance::Instance;

/// The remaining chain, shortened at every hop.
pub static X_ECHO_HOP: HeaderName = HeaderName::from_static("x-echo-hop");
/// Hops a request has taken so far (absent = 0).
pub static X_ECHO_HOPS: HeaderName = HeaderName::from_static("x-echo-hops");

/// A name for peers and regions: it appears in Server-Timing `desc` and in metric labels.
const NAME_MAX: usize = 64;

/// One configured peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `http://host:port` or `https://host:port`, without a trailing slash.
    origin: String,
    /// A path prefix put before the request's path (`""` for none).
    prefix: String,
}

impl Peer {
    pub fn url(&self) -> String {
        format!("{}{}", self.origin, if self.prefix.is_empty() { "/" } else { &self.prefix })
    }
}

/// The relay settings: the peers, this instance's region, the hop cap and timeout, extra CAs.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub peers: Vec<Peer>,
    pub region: Option<String>,
    pub max_hops: u32,
    pub peer_timeout: Duration,
    /// Extra trust roots for `https://` peers (`--peer-ca`), on top of Mozilla's.
    pub peer_ca: Vec<CertificateDer<'static>>,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= NAME_MAX
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

const NAME_ALLOWED: &str = "letters, digits, '-', '_' and '.', at most 64";

/// Parses the `--peer` values (`NAME=URL`, each once; the env twin is split at commas by clap).
pub fn parse_peers(values: &[String]) -> Result<Vec<Peer>, String> {
    let mut peers: Vec<Peer> = Vec::with_capacity(values.len());
    for v in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let (name, url) = v
            .split_once('=')
            .ok_or_else(|| format!("{v:?} is not NAME=URL; allowed: e.g. --peer ap=https://ap.example (repeatable)"))?;
        let name = name.trim();
        if !valid_name(name) {
            return Err(format!("peer name {name:?} is not allowed; allowed: {NAME_ALLOWED}"));
        }
        if peers.iter().any(|p| p.name == name) {
            return Err(format!("peer {name:?} is given twice; allowed: each name once"));
        }
        let (origin, prefix) = parse_url(url.trim()).map_err(|e| format!("peer {name:?}: {e}"))?;
        peers.push(Peer { name: name.to_owned(), origin, prefix });
    }
    Ok(peers)
}

fn parse_url(url: &str) -> Result<(String, String), String> {
    const ALLOWED: &str =
        "allowed: http:// or https://HOST[:PORT][/PREFIX], e.g. https://ap.example or http://10.0.2.15:8080";
    let uri: Uri = url.parse().map_err(|_| format!("{url:?} is not a URL; {ALLOWED}"))?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err(format!("{url:?} is neither an http:// nor an https:// URL; {ALLOWED}")),
    };
    let authority = uri.authority().ok_or_else(|| format!("{url:?} has no host; {ALLOWED}"))?;
    if authority.as_str().contains('@') {
        return Err(format!("{url:?} carries credentials; {ALLOWED}"));
    }
    if uri.query().is_some() {
        return Err(format!("{url:?} has a query; {ALLOWED}"));
    }
    let prefix = uri.path().trim_end_matches('/').to_owned();
    Ok((format!("{scheme}://{authority}"), prefix))
}

/// Reads `--peer-ca`: a PEM file of one or more CA certificates that `https://` peers may chain
/// to, for peers behind a private CA (Mozilla's roots are always trusted too).
pub fn load_peer_ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    const ALLOWED: &str = "allowed: a PEM file of one or more CA certificates (-----BEGIN CERTIFICATE-----)";
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}; {ALLOWED}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{} is not valid PEM ({e}); {ALLOWED}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} holds no certificate; {ALLOWED}", path.display()));
    }
    // Parse them now so a bad file stops the start, not the first hop.
    let mut store = RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|e| {
            format!("certificate {} of {} is not usable as a CA ({e}); {ALLOWED}", i + 1, path.display())
        })?;
    }
    Ok(certs)
}

/// The client's TLS settings: Mozilla's roots and `extra`, HTTP/1.1 offered by ALPN.
fn tls_config(extra: &[CertificateDer<'static>]) -> rustls::ClientConfig {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    // Checked by `load_peer_ca`; one that fails here anyway is left out rather than trusted.
    roots.add_parsable_certificates(extra.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// `--region`, else `AWS_REGION` (as AWS sets it in tasks and functions); both may be unset.
pub fn parse_region(region: Option<&str>, aws_region: Option<&str>) -> Result<Option<String>, String> {
    let chosen = [region, aws_region].into_iter().flatten().map(str::trim).find(|r| !r.is_empty());
    match chosen {
        Some(r) if !valid_name(r) => Err(format!("{r:?} is not allowed; allowed: {NAME_ALLOWED}, e.g. eu-west-1")),
        other => Ok(other.map(str::to_owned)),
    }
}

/// A validated `hop` knob: where to go next, and what remains for the next instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// Index into the configured peers.
    pub peer: usize,
    /// The rest of the list, comma-separated (`""` when the next instance is the last).
    pub rest: String,
    /// Hops this request had taken on arrival (`X-Echo-Hops`).
    pub hops_in: u32,
}

/// Why a `hop` cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HopError {
    /// A 400: a bad name, a URL, an unknown peer, or a bad `X-Echo-Hops`.
    Bad { param: &'static str, error: String, allowed: String },
    /// A 508: the chain would exceed `--max-hops`.
    TooMany { hops: u64, max: u32 },
}

impl HopError {
    pub fn status(&self) -> StatusCode {
        match self {
            HopError::Bad { .. } => StatusCode::BAD_REQUEST,
            HopError::TooMany { .. } => StatusCode::LOOP_DETECTED,
        }
    }

    /// The JSON body: the usual `{"error","param","allowed"}`, plus `reason` for the hop cap.
    pub fn doc(&self) -> Value {
        match self {
            HopError::Bad { param, error, allowed } => json!({ "error": error, "param": param, "allowed": allowed }),
            HopError::TooMany { hops, max } => json!({
                "error": format!("the chain would take {hops} hops in all; at most {max} are allowed"),
                "reason": "max_hops",
                "param": "hop",
                "allowed": format!("at most {max} hops from the first instance to the last (--max-hops)"),
            }),
        }
    }
}

fn allowed_peers(peers: &[Peer]) -> String {
    if peers.is_empty() {
        "none: this instance has no --peer configured".to_owned()
    } else {
        let names: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
        format!("a comma list of configured peer names, never URLs: {}", names.join(", "))
    }
}

/// Checks a `hop` value against the peers and the hop cap. Every entry must be a name (the later
/// ones are checked by the instances they reach); the first must be one of ours. `None` for an
/// empty list.
fn plan(list: &str, hops_header: Option<&HeaderValue>, peers: &[Peer], max_hops: u32) -> Result<Option<Hop>, HopError> {
    let bad = |error: String| HopError::Bad { param: "hop", error, allowed: allowed_peers(peers) };
    let list = list.trim();
    if list.is_empty() {
        return Ok(None);
    }
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if let Some(n) = names.iter().find(|n| !valid_name(n)) {
        return Err(bad(if n.is_empty() {
            "an empty peer name".to_owned()
        } else {
            format!("{n:?} is not a peer name")
        }));
    }
    let peer =
        peers.iter().position(|p| p.name == names[0]).ok_or_else(|| bad(format!("unknown peer {:?}", names[0])))?;
    let hops_in = match hops_header {
        None => 0,
        Some(v) => v.to_str().ok().and_then(|s| s.trim().parse::<u32>().ok()).ok_or_else(|| HopError::Bad {
            param: "x-echo-hops",
            error: "the hop count is not a number".to_owned(),
            allowed: "a whole number (set by the relaying instance)".to_owned(),
        })?,
    };
    let hops = u64::from(hops_in) + names.len() as u64;
    if hops > u64::from(max_hops) {
        return Err(HopError::TooMany { hops, max: max_hops });
    }
    Ok(Some(Hop { peer, rest: names[1..].join(","), hops_in }))
}

/// The query with every `hop` pair replaced by one `hop=<rest>` (dropped when `rest` is empty)
/// at the first one's place; the other pairs are kept byte for byte.
fn shorten_query(query: &str, rest: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut placed = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let kept = if !is_hop_pair(pair) {
            Some(pair)
        } else if !placed && !rest.is_empty() {
            placed = true;
            None
        } else {
            continue;
        };
        if !out.is_empty() {
            out.push('&');
        }
        match kept {
            Some(p) => out.push_str(p),
            // Names are [A-Za-z0-9._-] joined by commas: nothing to escape.
            None => {
                out.push_str("hop=");
                out.push_str(rest);
            }
        }
    }
    out
}

fn is_hop_pair(pair: &str) -> bool {
    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
    form_urlencoded::parse(key.as_bytes()).next().is_some_and(|(k, _)| k == "hop")
}

/// What the forwarded request carries from the incoming one, taken while the head is at hand.
#[derive(Debug)]
struct Outgoing {
    method: Method,
    path_and_query: String,
    headers: HeaderMap,
}

impl Outgoing {
    fn new(hop: &Hop, method: &Method, uri: &Uri, headers: &HeaderMap) -> Outgoing {
        let mut path_and_query = uri.path().to_owned();
        let query = uri.query().unwrap_or("");
        // The shortened list goes back where it came from: the query (which wins over the
        // header when both are given), else `X-Echo-Hop`.
        let in_query = query.split('&').any(is_hop_pair);
        let query = if in_query { shorten_query(query, &hop.rest) } else { query.to_owned() };
        if !query.is_empty() {
            path_and_query.push('?');
            path_and_query.push_str(&query);
        }
        let mut out = HeaderMap::with_capacity(8);
        for (name, value) in headers {
            let forwarded = name == header::CONTENT_TYPE
                || name == header::ACCEPT
                || (name.as_str().starts_with("x-echo-") && name != X_ECHO_HOP && name != X_ECHO_HOPS);
            if forwarded {
                out.append(name.clone(), value.clone());
            }
        }
        if !in_query && !hop.rest.is_empty() {
            out.insert(X_ECHO_HOP.clone(), HeaderValue::from_str(&hop.rest).expect("names are ASCII"));
        }
        out.insert(X_ECHO_HOPS.clone(), HeaderValue::from(hop.hops_in + 1));
        Outgoing { method: method.clone(), path_and_query, headers: out }
    }
}

/// A leg that got an answer.
struct Leg {
    pub response: Response<Incoming>,
    pub round_trip: Duration,
    /// The peer's own `total` from its Server-Timing.
    pub peer_total: Option<Duration>,
}

/// A leg that did not: a 502 or a 504, naming the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegError {
    Failed { peer: String, reason: String },
    Timeout { peer: String, after: Duration },
}

impl LegError {
    pub fn status(&self) -> StatusCode {
        match self {
            LegError::Failed { .. } => StatusCode::BAD_GATEWAY,
            LegError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn doc(&self) -> Value {
        match self {
            LegError::Failed { peer, reason } => json!({
                "error": format!("peer {peer:?} failed: {reason}"),
                "param": "hop",
                "peer": peer,
            }),
            LegError::Timeout { peer, after } => json!({
                "error": format!(
                    "peer {peer:?} did not answer within {} (--peer-timeout)",
                    crate::knobs::format_duration(*after)
                ),
                "param": "hop",
                "peer": peer,
            }),
        }
    }
}

/// A request to forward once the instance's own work is done: taken from its head on arrival.
pub struct Forward {
    hop: Hop,
    out: Outgoing,
}

impl Forward {
    fn new(hop: Hop, method: &Method, uri: &Uri, headers: &HeaderMap) -> Forward {
        let out = Outgoing::new(&hop, method, uri, headers);
        Forward { hop, out }
    }
}

/// The peer's answer, ready to be sent on.
pub struct Relayed {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Body,
    /// This instance's total (arrival to the peer's answer): the `total` of its Server-Timing
    /// and the `server_ms` of its chain element, one figure for both.
    pub total: Duration,
    /// Server-Timing entries for the legs, to follow the instance's own.
    pub legs_timing: String,
}

/// The most of a peer's JSON answer read to extend its chain (a description, never filler).
const JSON_ANSWER_MAX: usize = 1 << 20;

/// Per-peer metric handles, resolved once (labels are bounded by the configured peers).
struct PeerMetrics {
    answered: IntCounter,
    failed: IntCounter,
    timeout: IntCounter,
    cancelled: IntCounter,
    round_trip: Histogram,
}

/// Round trips from loopback (tens of µs) to across the world (hundreds of ms), and timeouts.
const ROUND_TRIP_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The forwarding side: the pooled client, the peers and their metrics.
pub struct Relay {
    /// None without peers: nothing can be forwarded then.
    client: Option<Client<HttpsConnector<HttpConnector>, Body>>,
    peers: Vec<Peer>,
    metrics: Vec<PeerMetrics>,
    timeout: Duration,
    max_hops: u32,
    /// Left of `>` in Server-Timing's `desc`: the region, else the instance id.
    own_name: String,
}

/// Counts a leg as cancelled unless it finished: hyper drops the handler's future (and this with
/// it) when the client goes away.
struct Pending<'a> {
    metrics: &'a PeerMetrics,
    finished: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.metrics.cancelled.inc();
        }
    }
}

/// The pooled client that carries hops: keep-alive, no Nagle delay, `https://` through rustls.
fn forwarding_client(peer_ca: &[CertificateDer<'static>]) -> Client<HttpsConnector<HttpConnector>, Body> {
    let mut connector = HttpConnector::new();
    // Without it a small request body can wait for Nagle's delayed ACK (40 ms on Linux).
    connector.set_nodelay(true);
    // The TLS layer below hands it `https://` URIs too.
    connector.enforce_http(false);
    // `http://` peers go through in the clear, `https://` ones through rustls.
    let connector = HttpsConnector::from((connector, tls_config(peer_ca)));
    Client::builder(TokioExecutor::new())
        // Below the idle timeouts in front of a peer (delay-echo's --idle-timeout 75 s, an AWS
        // load balancer's 60 s), so the pool closes an idle connection before the peer side
        // does, not while a request is being written to it.
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_timer(TokioTimer::new())
        .build(connector)
}

impl Relay {
    pub fn new(config: &Settings, instance_id: &str, registry: &Registry) -> Relay {
        // Only an instance with peers forwards: without them no client (nor TLS configuration) is
        // built, so an idle instance allocates nothing for relaying (S4's anonymous memory).
        let client = (!config.peers.is_empty()).then(|| forwarding_client(&config.peer_ca));
        let requests = IntCounterVec::new(
            Opts::new(
                "delay_echo_peer_requests_total",
                "Requests forwarded to peers (relay hops), by peer and outcome (answered, failed, timeout, cancelled).",
            ),
            &["peer", "outcome"],
        )
        .expect("valid metric");
        let round_trips = HistogramVec::new(
            HistogramOpts::new(
                "delay_echo_peer_round_trip_seconds",
                "Round trip of answered relay hops, from sending the request to the peer's response head.",
            )
            .buckets(ROUND_TRIP_BUCKETS.to_vec()),
            &["peer"],
        )
        .expect("valid metric");
        if !config.peers.is_empty() {
            let peers: Vec<String> = config.peers.iter().map(|p| format!("{}={}", p.name, p.url())).collect();
            tracing::info!(peers = %peers.join(","), region = ?config.region, max_hops = config.max_hops, "relaying to peers");
        }
        registry.register(Box::new(requests.clone())).expect("metric names are unique");
        registry.register(Box::new(round_trips.clone())).expect("metric names are unique");
        let metrics = config
            .peers
            .iter()
            .map(|p| {
                let n = p.name.as_str();
                PeerMetrics {
                    answered: requests.with_label_values(&[n, "answered"]),
                    failed: requests.with_label_values(&[n, "failed"]),
                    timeout: requests.with_label_values(&[n, "timeout"]),
                    cancelled: requests.with_label_values(&[n, "cancelled"]),
                    round_trip: round_trips.with_label_values(&[n]),
                }
            })
            .collect();
        Relay {
            client,
            peers: config.peers.clone(),
            metrics,
            timeout: config.peer_timeout,
            max_hops: config.max_hops,
            // An instance id may hold any visible character; `desc` is a quoted string.
            own_name: config.region.clone().unwrap_or_else(|| {
                instance_id
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' })
                    .collect()
            }),
        }
    }

    /// Checks a request's `hop` (if any) and takes what forwarding needs from its head.
    pub fn plan(&self, list: Option<&str>, head: &Parts) -> Result<Option<Box<Forward>>, HopError> {
        let Some(list) = list else { return Ok(None) };
        let hop = plan(list, head.headers.get(&X_ECHO_HOPS), &self.peers, self.max_hops)?;
        Ok(hop.map(|hop| Box::new(Forward::new(hop, &head.method, &head.uri, &head.headers))))
    }

    /// Forwards a request whose own work is done and turns the peer's answer into this
    /// instance's: the peer's status, content type and body, with this instance's element put
    /// first in a JSON answer's chain (`json`), and the legs' Server-Timing entries.
    pub async fn relay(
        &self,
        fwd: Forward,
        body: Body,
        arrived: Instant,
        json: Option<&Instance>,
    ) -> Result<Relayed, LegError> {
        let Forward { hop, out } = fwd;
        let leg = self.forward(&hop, out, body).await?;
        let legs_timing = self.timing_entries(&hop, &leg);
        let Leg { response, round_trip, peer_total } = leg;
        let (parts, incoming) = response.into_parts();
        let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
        let Some(me) = json else {
            return Ok(Relayed {
                status: parts.status,
                content_type,
                body: Body::Echo(incoming),
                total: arrived.elapsed(),
                legs_timing,
            });
        };
        let peer = &self.peers[hop.peer].name;
        let collected = tokio::time::timeout(self.timeout, Limited::new(incoming, JSON_ANSWER_MAX).collect()).await;
        let bytes = match collected {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(e)) => {
                return Err(LegError::Failed { peer: peer.clone(), reason: format!("reading its answer: {e}") });
            }
            Err(_) => return Err(LegError::Timeout { peer: peer.clone(), after: self.timeout }),
        };
        let total = arrived.elapsed();
        let element = chain_element(
            &me.id,
            me.region.as_deref(),
            SystemTime::now() - total,
            total,
            Some(Next { peer, round_trip, peer_total }),
        );
        let body = match prepend_to_chain(&bytes, element) {
            Some(extended) => Body::full(extended),
            None => Body::full(bytes),
        };
        Ok(Relayed { status: parts.status, content_type, body, total, legs_timing })
    }

    /// Sends the request to the hop's peer and waits (at most `--peer-timeout`) for its head.
    async fn forward(&self, hop: &Hop, out: Outgoing, body: Body) -> Result<Leg, LegError> {
        let peer = &self.peers[hop.peer];
        let metrics = &self.metrics[hop.peer];
        let mut pending = Pending { metrics, finished: false };
        let uri = format!("{}{}{}", peer.origin, peer.prefix, out.path_and_query);
        let mut req = Request::new(body);
        *req.method_mut() = out.method;
        *req.headers_mut() = out.headers;
        *req.uri_mut() = match uri.parse() {
            Ok(u) => u,
            Err(e) => {
                pending.finished = true;
                metrics.failed.inc();
                return Err(LegError::Failed { peer: peer.name.clone(), reason: format!("bad upstream URI: {e}") });
            }
        };
        let Some(client) = &self.client else {
            // Unreachable: `plan` only lets through names of configured peers.
            pending.finished = true;
            metrics.failed.inc();
            return Err(LegError::Failed { peer: peer.name.clone(), reason: "no peers are configured".into() });
        };
        let sent = Instant::now();
        let answer = tokio::time::timeout(self.timeout, client.request(req)).await;
        let round_trip = sent.elapsed();
        pending.finished = true;
        match answer {
            Ok(Ok(response)) => {
                metrics.answered.inc();
                metrics.round_trip.observe(round_trip.as_secs_f64());
                let peer_total = response
                    .headers()
                    .get(header::HeaderName::from_static("server-timing"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(own_total);
                Ok(Leg { response, round_trip, peer_total })
            }
            Ok(Err(e)) => {
                metrics.failed.inc();
                Err(LegError::Failed { peer: peer.name.clone(), reason: error_chain(&e) })
            }
            Err(_) => {
                metrics.timeout.inc();
                Err(LegError::Timeout { peer: peer.name.clone(), after: self.timeout })
            }
        }
    }

    /// The Server-Timing entries for a leg: this leg's two, then the peer's own leg entries.
    fn timing_entries(&self, hop: &Hop, leg: &Leg) -> String {
        let peer = &self.peers[hop.peer].name;
        let mut s = String::with_capacity(96);
        let _ = write!(s, "hop;desc=\"{}>{peer}\";dur={}", self.own_name, ms3(leg.round_trip));
        if let Some(t) = leg.peer_total {
            let _ = write!(s, ", peer-total;desc=\"{peer}\";dur={}", ms3(t));
        }
        if let Some(theirs) = leg.response.headers().get("server-timing").and_then(|v| v.to_str().ok()) {
            for entry in leg_entries(theirs) {
                s.push_str(", ");
                s.push_str(entry);
            }
        }
        s
    }
}

/// An error with its sources (hyper's "client error (Connect)" alone says little).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let _ = write!(s, ": {inner}");
        cur = inner.source();
    }
    s
}

/// Milliseconds with microsecond precision, as the rest of Server-Timing.
fn ms3(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// The `total` entry of a Server-Timing value (the instance's own, not a leg's).
fn own_total(server_timing: &str) -> Option<Duration> {
    server_timing.split(',').map(str::trim).find_map(|e| {
        let (name, params) = e.split_once(';')?;
        if name.trim() != "total" {
            return None;
        }
        let dur = params.split(';').find_map(|p| p.trim().strip_prefix("dur="))?;
        let ms: f64 = dur.parse().ok()?;
        (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1e3))
    })
}

/// The leg entries (`hop`, `peer-total`) of a Server-Timing value, in order.
fn leg_entries(server_timing: &str) -> impl Iterator<Item = &str> {
    server_timing.split(',').map(str::trim).filter(|e| {
        let name = e.split(';').next().unwrap_or("").trim();
        name == "hop" || name == "peer-total"
    })
}

/// The JSON answer's description of one leg.
struct Next<'a> {
    pub peer: &'a str,
    pub round_trip: Duration,
    pub peer_total: Option<Duration>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `chain` of an answer given here (the last instance's): this instance alone.
pub fn own_chain(instance: &Instance, total: Duration) -> Value {
    json!([chain_element(&instance.id, instance.region.as_deref(), SystemTime::now() - total, total, None)])
}

/// This instance's Server-Timing with the legs' entries after its own.
pub fn with_legs(own: HeaderValue, legs: Option<String>) -> HeaderValue {
    let Some(legs) = legs else { return own };
    let joined = format!("{}, {legs}", own.to_str().unwrap_or_default());
    HeaderValue::from_str(&joined).unwrap_or(own)
}

/// One element of the JSON `chain`.
fn chain_element(
    instance: &str,
    region: Option<&str>,
    arrival: SystemTime,
    server: Duration,
    next: Option<Next<'_>>,
) -> Value {
    let next = next.map(|n| {
        let peer_total = n.peer_total.map(ms);
        json!({
            "peer": n.peer,
            "round_trip_ms": ms(n.round_trip),
            "peer_total_ms": peer_total,
            "network_ms": peer_total.map(|t| ms(n.round_trip) - t),
        })
    });
    json!({
        "instance": instance,
        "region": region,
        "arrival": humantime::format_rfc3339_micros(arrival).to_string(),
        "server_ms": ms(server),
        "next": next,
    })
}

/// The peer's JSON answer with this instance's element put first in its `chain`; `None` when the
/// body is not a delay-echo JSON answer (an error, or not JSON), which is then passed on as is.
fn prepend_to_chain(peer_body: &[u8], element: Value) -> Option<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(peer_body).ok()?;
    doc.get_mut("chain")?.as_array_mut()?.insert(0, element);
    serde_json::to_vec_pretty(&doc).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(list: &[&str]) -> Vec<Peer> {
        parse_peers(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn peers_are_name_equals_http_or_https_url() {
        let p =
            peers(&["ap=http://10.0.2.15:8080", " us = http://us.example:80/base/ ", "eu=https://x.awsapprunner.com"]);
        assert_eq!(p[0].name, "ap");
        assert_eq!(p[0].url(), "http://10.0.2.15:8080/");
        assert_eq!(p[1].name, "us");
        assert_eq!(p[1].url(), "http://us.example:80/base");
        assert_eq!(p[2].url(), "https://x.awsapprunner.com/");
        assert!(parse_peers(&[]).unwrap().is_empty());
    }

    #[test]
    fn bad_peers_say_what_is_allowed() {
        let err = |v: &str| parse_peers(&[v.to_owned()]).unwrap_err();
        assert!(err("ap").contains("NAME=URL"));
        assert!(err("a p=http://x:1").contains("not allowed"));
        for other in ["ap=ftp://x", "ap=ws://x", "ap=HTTPS+unix://x"] {
            let e = err(other);
            assert!(e.contains("allowed: http:// or https://"), "{other}: {e}");
        }
        assert!(err("ap=https://u:p@x").contains("credentials"));
        assert!(err("ap=x:80").contains("allowed"));
        assert!(err("ap=http://u:p@x").contains("credentials"));
        assert!(err("ap=http://x/?a=1").contains("query"));
        let twice = parse_peers(&["a=http://x".into(), "a=http://y".into()]).unwrap_err();
        assert!(twice.contains("twice"), "{twice}");
    }

    #[test]
    fn peer_ca_files_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("delay-echo-peer-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = load_peer_ca(&dir.join("absent.pem")).unwrap_err();
        assert!(missing.contains("cannot read") && missing.contains("allowed: a PEM file"), "{missing}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        assert!(load_peer_ca(&empty).unwrap_err().contains("holds no certificate"));
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        assert!(load_peer_ca(&junk).unwrap_err().contains("not usable as a CA"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_client_offers_http1_and_trusts_mozilla_roots() {
        let c = tls_config(&[]);
        assert_eq!(c.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn region_prefers_the_flag_then_aws_region() {
        assert_eq!(parse_region(Some("eu-west-1"), Some("us-east-1")).unwrap().as_deref(), Some("eu-west-1"));
        assert_eq!(parse_region(None, Some("us-east-1")).unwrap().as_deref(), Some("us-east-1"));
        assert_eq!(parse_region(Some(""), None).unwrap(), None);
        assert!(parse_region(Some("eu west"), None).unwrap_err().contains("allowed"));
    }

    #[test]
    fn a_hop_names_a_configured_peer_and_keeps_the_rest() {
        let p = peers(&["eu=http://e:1", "ap=http://a:1"]);
        let hop = plan("ap, us,eu", None, &p, 8).unwrap().unwrap();
        assert_eq!(hop, Hop { peer: 1, rest: "us,eu".into(), hops_in: 0 });
        assert_eq!(plan(" ", None, &p, 8).unwrap(), None);
    }

    #[test]
    fn urls_and_unknown_names_are_refused_naming_the_peers() {
        let p = peers(&["eu=http://e:1", "ap=http://a:1"]);
        for list in ["http://evil.example", "us", "eu,,ap", "ap,evil.example:80", "10.0.0.1:80"] {
            match plan(list, None, &p, 8) {
                Err(HopError::Bad { param: "hop", allowed, .. }) => assert!(allowed.contains("eu, ap"), "{allowed}"),
                other => panic!("{list}: {other:?}"),
            }
        }
        match plan("eu", None, &[], 8) {
            Err(HopError::Bad { allowed, .. }) => assert!(allowed.contains("no --peer"), "{allowed}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_hop_cap_counts_hops_taken_and_hops_asked() {
        let p = peers(&["eu=http://e:1"]);
        let taken = |n: &str| HeaderValue::from_str(n).unwrap();
        assert_eq!(plan("eu", Some(&taken("7")), &p, 8).unwrap().unwrap().hops_in, 7);
        assert_eq!(plan("eu", Some(&taken("8")), &p, 8), Err(HopError::TooMany { hops: 9, max: 8 }));
        assert_eq!(plan("eu,eu,eu", None, &p, 2), Err(HopError::TooMany { hops: 3, max: 2 }));
        assert_eq!(plan("eu", None, &p, 0), Err(HopError::TooMany { hops: 1, max: 0 }));
        assert!(matches!(plan("eu", Some(&taken("x")), &p, 8), Err(HopError::Bad { param: "x-echo-hops", .. })));
    }

    #[test]
    fn the_query_keeps_everything_but_the_first_name() {
        assert_eq!(shorten_query("hop=eu,ap&delay=lognormal(8ms,40ms)", "ap"), "hop=ap&delay=lognormal(8ms,40ms)");
        assert_eq!(shorten_query("delay=0&hop=eu&format=json", ""), "delay=0&format=json");
        assert_eq!(shorten_query("hop=a&x=1&hop=b,c", "c"), "hop=c&x=1");
        assert_eq!(shorten_query("h%6Fp=a,b", "b"), "hop=b");
        assert_eq!(shorten_query("", ""), "");
    }

    #[test]
    fn the_outgoing_request_carries_knobs_and_one_more_hop() {
        let hop = Hop { peer: 0, rest: "c".into(), hops_in: 2 };
        let mut h = HeaderMap::new();
        h.insert("x-echo-delay", HeaderValue::from_static("5ms"));
        h.insert("x-echo-hop", HeaderValue::from_static("b,c"));
        h.insert("x-echo-hops", HeaderValue::from_static("2"));
        h.insert("authorization", HeaderValue::from_static("Bearer secret"));
        h.insert("content-type", HeaderValue::from_static("text/plain"));
        let uri: Uri = "/p/q?delay=1ms".parse().unwrap();
        let out = Outgoing::new(&hop, &Method::POST, &uri, &h);
        assert_eq!(out.method, Method::POST);
        assert_eq!(out.path_and_query, "/p/q?delay=1ms");
        assert_eq!(out.headers["x-echo-delay"], "5ms");
        assert_eq!(out.headers["x-echo-hop"], "c");
        assert_eq!(out.headers["x-echo-hops"], "3");
        assert_eq!(out.headers["content-type"], "text/plain");
        assert!(out.headers.get("authorization").is_none(), "only knob headers travel");
        let last = Hop { rest: String::new(), ..hop };
        let out = Outgoing::new(&last, &Method::GET, &"/?hop=b".parse().unwrap(), &h);
        assert_eq!(out.path_and_query, "/");
        assert!(out.headers.get("x-echo-hop").is_none());
    }

    #[test]
    fn server_timing_gives_the_own_total_and_the_leg_entries() {
        let st = "queue;dur=0.010, sleep;dur=0.000, cpu;dur=0.000, total;dur=12.345, \
                  hop;desc=\"b>c\";dur=11.000, peer-total;desc=\"c\";dur=0.300";
        assert_eq!(own_total(st), Some(Duration::from_micros(12_345)));
        assert_eq!(
            leg_entries(st).collect::<Vec<_>>(),
            ["hop;desc=\"b>c\";dur=11.000", "peer-total;desc=\"c\";dur=0.300"]
        );
        assert_eq!(own_total("hop;dur=1"), None);
        assert_eq!(ms3(Duration::from_nanos(1_234_567)), "1.234");
    }

    #[test]
    fn the_chain_grows_from_the_end_and_network_is_round_trip_minus_peer_total() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let last = chain_element("c-1", None, t, Duration::from_micros(400), None);
        assert_eq!(last["next"], Value::Null);
        assert_eq!(last["region"], Value::Null);
        assert!(last["arrival"].as_str().unwrap().ends_with('Z'));
        let body = serde_json::to_vec(&json!({ "method": "GET", "chain": [last] })).unwrap();
        let next =
            Next { peer: "c", round_trip: Duration::from_micros(2_400), peer_total: Some(Duration::from_micros(400)) };
        let first = chain_element("b-1", Some("eu"), t, Duration::from_micros(3_000), Some(next));
        let doc: Value = serde_json::from_slice(&prepend_to_chain(&body, first).unwrap()).unwrap();
        let chain = doc["chain"].as_array().unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0]["instance"], "b-1");
        assert_eq!(chain[0]["region"], "eu");
        assert_eq!(chain[0]["next"]["peer"], "c");
        assert!((chain[0]["next"]["network_ms"].as_f64().unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(chain[1]["instance"], "c-1");
        assert_eq!(doc["method"], "GET");
        assert!(prepend_to_chain(br#"{"error":"x"}"#, json!({})).is_none());
        assert!(prepend_to_chain(b"plain text", json!({})).is_none());
    }
}
