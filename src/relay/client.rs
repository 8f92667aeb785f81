//! The forwarding client and its metrics: one pooled hyper-util client for every peer, a leg
//! sent through it under `--peer-timeout`, and each leg counted once by its outcome.
//!
//! One HTTP stack: hyper-util's legacy `Client` over the same hyper, HTTP/1.1 with keep-alive
//! and `TCP_NODELAY`, so a warm leg costs one round trip; `https://` peers go through rustls
//! around the same `HttpConnector`. When the client goes away hyper drops the handler's future,
//! which drops the upstream request (its connection is closed, the peer counts a cancellation)
//! and the leg's `Pending` guard, which counts it here as cancelled.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::metrics::Families;
use rustls_pki_types::CertificateDer;
use serde_json::{Value, json};

use super::hops::Outgoing;
use super::peers::{Peer, Settings, tls_config};
use super::timing::own_total;
use crate::body::Body;

/// A leg that got an answer.
pub(super) struct Leg {
    pub(super) response: Response<Incoming>,
    pub(super) round_trip: Duration,
    /// The peer's own `total` from its Server-Timing.
    pub(super) peer_total: Option<Duration>,
}

/// A leg that did not: a 502 or a 504, naming the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegError {
    Failed { peer: String, reason: String },
    Timeout { peer: String, after: Duration },
}

impl LegError {
    /// The peer's name.
    pub fn peer(&self) -> &str {
        match self {
            LegError::Failed { peer, .. } | LegError::Timeout { peer, .. } => peer,
        }
    }

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

impl PeerMetrics {
    /// Registers the two metric families and resolves the handles of each peer.
    fn register(peers: &[Peer], registry: &Families) -> Vec<PeerMetrics> {
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
        let requests = registry.register(requests);
        let round_trips = registry.register(round_trips);
        peers
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
            .collect()
    }
}

/// How a leg ended, counted once.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// The peer's response head arrived after this round trip.
    Answered(Duration),
    Failed,
    Timeout,
}

/// A leg in flight. `finish` counts its outcome; dropped unfinished (hyper drops the handler's
/// future, and this with it, when the client goes away), it counts as cancelled.
struct Pending<'a> {
    /// `None` once finished.
    metrics: Option<&'a PeerMetrics>,
}

impl<'a> Pending<'a> {
    fn new(metrics: &'a PeerMetrics) -> Pending<'a> {
        Pending { metrics: Some(metrics) }
    }

    fn finish(mut self, outcome: Outcome) {
        let Some(m) = self.metrics.take() else { return };
        match outcome {
            Outcome::Answered(round_trip) => {
                m.answered.inc();
                m.round_trip.observe(round_trip.as_secs_f64());
            }
            Outcome::Failed => m.failed.inc(),
            Outcome::Timeout => m.timeout.inc(),
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(m) = self.metrics {
            m.cancelled.inc();
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

/// The sending side of the relay: the pooled client, the peers' metrics and the timeout.
pub(super) struct Forwarder {
    /// None without peers: nothing can be forwarded then.
    client: Option<Client<HttpsConnector<HttpConnector>, Body>>,
    metrics: Vec<PeerMetrics>,
    pub(super) timeout: Duration,
}

impl Forwarder {
    pub(super) fn new(settings: &Settings, registry: &Families) -> Forwarder {
        // Only an instance with peers forwards: without them no client (nor TLS configuration) is
        // built, so an idle instance allocates nothing for relaying.
        let client = (!settings.peers.is_empty()).then(|| forwarding_client(&settings.peer_ca));
        let metrics = PeerMetrics::register(&settings.peers, registry);
        Forwarder { client, metrics, timeout: settings.peer_timeout }
    }

    /// Sends the request to peer number `index` and waits (at most `--peer-timeout`) for its
    /// head.
    pub(super) async fn send(&self, index: usize, peer: &Peer, out: Outgoing, body: Body) -> Result<Leg, LegError> {
        let pending = Pending::new(&self.metrics[index]);
        let uri = format!("{}{}{}", peer.origin, peer.prefix, out.path_and_query);
        let mut req = Request::new(body);
        *req.method_mut() = out.method;
        *req.headers_mut() = out.headers;
        *req.uri_mut() = match uri.parse() {
            Ok(u) => u,
            Err(e) => {
                pending.finish(Outcome::Failed);
                return Err(LegError::Failed { peer: peer.name.clone(), reason: format!("bad upstream URI: {e}") });
            }
        };
        let Some(client) = &self.client else {
            // Unreachable: `hops::plan` only lets through names of configured peers.
            pending.finish(Outcome::Failed);
            return Err(LegError::Failed { peer: peer.name.clone(), reason: "no peers are configured".into() });
        };
        let sent = Instant::now();
        let answer = tokio::time::timeout(self.timeout, client.request(req)).await;
        let round_trip = sent.elapsed();
        match answer {
            Ok(Ok(response)) => {
                pending.finish(Outcome::Answered(round_trip));
                let peer_total = response
                    .headers()
                    .get(header::HeaderName::from_static("server-timing"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(own_total);
                Ok(Leg { response, round_trip, peer_total })
            }
            Ok(Err(e)) => {
                pending.finish(Outcome::Failed);
                Err(LegError::Failed { peer: peer.name.clone(), reason: error_chain(&e) })
            }
            Err(_) => {
                pending.finish(Outcome::Timeout);
                Err(LegError::Timeout { peer: peer.name.clone(), after: self.timeout })
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn one_peer(registry: &Families) -> Vec<PeerMetrics> {
        let peers = crate::relay::peers::parse_peers(&["ap=http://10.0.0.2:8080".to_owned()]).unwrap();
        PeerMetrics::register(&peers, registry)
    }

    fn counts(m: &PeerMetrics) -> [u64; 5] {
        [m.answered.get(), m.failed.get(), m.timeout.get(), m.cancelled.get(), m.round_trip.get_sample_count()]
    }

    #[test]
    fn a_leg_counts_once_by_its_outcome_and_as_cancelled_when_dropped_unfinished() {
        let registry = Families::default();
        let metrics = one_peer(&registry);
        let m = &metrics[0];
        Pending::new(m).finish(Outcome::Answered(Duration::from_millis(3)));
        assert_eq!(counts(m), [1, 0, 0, 0, 1]);
        assert!((m.round_trip.get_sample_sum() - 0.003).abs() < 1e-9);
        Pending::new(m).finish(Outcome::Failed);
        Pending::new(m).finish(Outcome::Timeout);
        assert_eq!(counts(m), [1, 1, 1, 0, 1]);
        // The client went away: hyper dropped the future holding the guard.
        drop(Pending::new(m));
        assert_eq!(counts(m), [1, 1, 1, 1, 1]);
        let families: Vec<String> = registry.gather().iter().map(|f| f.name().to_owned()).collect();
        assert_eq!(families, ["delay_echo_peer_requests_total", "delay_echo_peer_round_trip_seconds"]);
    }

    #[test]
    fn leg_errors_are_502_or_504_naming_the_peer_and_the_cause() {
        let cause = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let outer = std::io::Error::other(cause);
        let failed = LegError::Failed { peer: "ap".into(), reason: error_chain(&outer) };
        assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
        let doc = failed.doc();
        assert_eq!((doc["param"].as_str(), doc["peer"].as_str()), (Some("hop"), Some("ap")));
        assert!(doc["error"].as_str().unwrap().contains("connection refused"), "{doc}");
        let timeout = LegError::Timeout { peer: "ap".into(), after: Duration::from_secs(10) };
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert!(timeout.doc()["error"].as_str().unwrap().contains("within 10s (--peer-timeout)"));
    }

    #[test]
    fn without_peers_no_client_is_built() {
        let settings = Settings {
            peers: Vec::new(),
            region: None,
            max_hops: 8,
            peer_timeout: Duration::from_secs(1),
            peer_ca: Vec::new(),
        };
        let forwarder = Forwarder::new(&settings, &Families::default());
        assert!(forwarder.client.is_none());
    }
}
