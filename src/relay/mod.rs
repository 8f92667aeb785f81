//! Relay hops: an echo request may ask to be forwarded on to named peers (`hop=eu,ap`), so one
//! request measures the network time of every leg of a chain (the region-mesh study). The
//! contract a client sees (knob, errors, headers, chain) is in docs/api.md.
//!
//! The instance does its own work first (queue, delay, cpu), then forwards to the first named
//! peer and answers with the peer's status, content type and body under its own headers. The
//! parts, each in its file:
//! - `peers`: the allow-list (`--peer NAME=URL`; a request names peers, never URLs), the region,
//!   `--peer-ca` and the client's TLS settings;
//! - `hops`: a request's `hop` list checked on arrival (400 for a bad or unknown name, 508 past
//!   `--max-hops`) and what the forwarded request carries;
//! - `client`: the pooled client, one leg under `--peer-timeout` (502 when the peer fails, 504
//!   when it is silent), and the per-peer metrics;
//! - `timing`: the legs' Server-Timing entries; `chain`: the `format=json` answer's `chain`.
//!
//! What a round trip costs: the first request to a peer pays the TCP handshake (one round trip)
//! and, over `https://`, the TLS handshake before its own; later ones reuse the pooled connection
//! and cost one round trip. So the first leg to each peer reads high: discard a warm-up request,
//! as `make mesh` does by measuring over a duration.

mod chain;
mod client;
mod hops;
pub mod peers;
mod timing;

use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Limited};
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};
use hyper::http::request::Parts;

pub use self::chain::own_chain;
use self::chain::{Next, chain_element, prepend_to_chain};
pub use self::client::LegError;
use self::client::{Forwarder, Leg};
pub use self::hops::{Forward, Hop, HopError, X_ECHO_HOP, X_ECHO_HOPS};
pub use self::peers::{Peer, Settings};
pub use self::timing::with_legs;
use crate::body::Body;
use crate::instance::Instance;
use crate::metrics::Families;

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
    /// The leg's figures, for the access log's record.
    pub leg: LegFigures,
}

/// What a leg that got an answer measured (Copy: nothing is allocated for the record).
#[derive(Debug, Clone, Copy)]
pub struct LegFigures {
    /// Index into the configured peers (`Relay::peer_name`).
    pub peer: usize,
    pub status: StatusCode,
    pub round_trip: Duration,
    pub peer_total: Option<Duration>,
}

/// The most of a peer's JSON answer read to extend its chain (a description, never filler).
const JSON_ANSWER_MAX: usize = 1 << 20;

/// The relay: the peers, the forwarding side, and what this instance calls itself in a leg.
pub struct Relay {
    forwarder: Forwarder,
    peers: Vec<Peer>,
    max_hops: u32,
    /// Left of `>` in Server-Timing's `desc`: the region, else the instance id.
    own_name: String,
}

impl Relay {
    pub fn new(config: &Settings, instance_id: &str, registry: &Families) -> Relay {
        let forwarder = Forwarder::new(config, registry);
        if !config.peers.is_empty() {
            let peers: Vec<String> = config.peers.iter().map(|p| format!("{}={}", p.name, p.url())).collect();
            tracing::info!(peers = %peers.join(","), region = ?config.region, max_hops = config.max_hops, "relaying to peers");
        }
        Relay {
            forwarder,
            peers: config.peers.clone(),
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

    /// The name of peer number `index` (as `LegFigures::peer` gives it).
    pub fn peer_name(&self, index: usize) -> &str {
        &self.peers[index].name
    }

    /// Checks a request's `hop` (if any) and takes what forwarding needs from its head.
    pub fn plan(&self, list: Option<&str>, head: &Parts) -> Result<Option<Box<Forward>>, HopError> {
        let Some(list) = list else { return Ok(None) };
        let hop = hops::plan(list, head.headers.get(&X_ECHO_HOPS), &self.peers, self.max_hops)?;
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
        let peer = &self.peers[hop.peer];
        let leg = self.forwarder.send(hop.peer, peer, out, body).await?;
        let theirs = leg.response.headers().get("server-timing").and_then(|v| v.to_str().ok());
        let legs_timing = timing::entries(&self.own_name, &peer.name, leg.round_trip, leg.peer_total, theirs);
        let Leg { response, round_trip, peer_total } = leg;
        let (parts, incoming) = response.into_parts();
        let figures = LegFigures { peer: hop.peer, status: parts.status, round_trip, peer_total };
        let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
        let Some(me) = json else {
            return Ok(Relayed {
                status: parts.status,
                content_type,
                body: Body::Echo(incoming),
                total: arrived.elapsed(),
                legs_timing,
                leg: figures,
            });
        };
        let peer = &peer.name;
        let timeout = self.forwarder.timeout;
        let collected = tokio::time::timeout(timeout, Limited::new(incoming, JSON_ANSWER_MAX).collect()).await;
        let bytes = match collected {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(e)) => {
                return Err(LegError::Failed { peer: peer.clone(), reason: format!("reading its answer: {e}") });
            }
            Err(_) => return Err(LegError::Timeout { peer: peer.clone(), after: timeout }),
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
        Ok(Relayed { status: parts.status, content_type, body, total, legs_timing, leg: figures })
    }
}

/// What the relay decides from what a client or a peer sends, laid open for the fuzz targets and
/// their corpus replay (fuzz/, tests/fuzz_corpus.rs), which check it against properties; not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::time::{Duration, SystemTime};

    use hyper::header::HeaderMap;
    use hyper::http::request::Parts;
    use serde_json::Value;

    use crate::relay::{Forward, Hop, HopError, Next, Peer, X_ECHO_HOPS, chain, hops, peers, timing};

    /// A request's `hop` planned as `Relay::plan` plans it: the hop, and the forwarded request's
    /// path and query and headers.
    pub fn plan(
        list: &str,
        head: &Parts,
        peers: &[Peer],
        max_hops: u32,
    ) -> Result<Option<(Hop, String, HeaderMap)>, HopError> {
        let hop = hops::plan(list, head.headers.get(&X_ECHO_HOPS), peers, max_hops)?;
        Ok(hop.map(|hop| {
            let Forward { hop, out } = Forward::new(hop, &head.method, &head.uri, &head.headers);
            (hop, out.path_and_query, out.headers)
        }))
    }

    pub fn valid_name(s: &str) -> bool {
        peers::valid_name(s)
    }

    /// The peer's total read from its Server-Timing.
    pub fn own_total(server_timing: &str) -> Option<Duration> {
        timing::own_total(server_timing)
    }

    /// A leg's Server-Timing entries, the peer's own legs (`theirs`) copied after them.
    pub fn leg_entries(
        own_name: &str,
        peer: &str,
        round_trip: Duration,
        peer_total: Option<Duration>,
        theirs: Option<&str>,
    ) -> String {
        timing::entries(own_name, peer, round_trip, peer_total, theirs)
    }

    /// This instance's chain element for a leg to `peer`.
    pub fn chain_element(instance: &str, peer: &str, round_trip: Duration, peer_total: Option<Duration>) -> Value {
        let next = Next { peer, round_trip, peer_total };
        chain::chain_element(instance, None, SystemTime::UNIX_EPOCH, round_trip, Some(next))
    }

    /// The peer's JSON answer with `element` first in its chain; `None`: passed on as it came.
    pub fn prepend_to_chain(peer_body: &[u8], element: Value) -> Option<Vec<u8>> {
        chain::prepend_to_chain(peer_body, element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(region: Option<&str>) -> Settings {
        Settings {
            peers: peers::parse_peers(&["ap=http://10.0.0.2:8080".to_owned()]).unwrap(),
            region: region.map(str::to_owned),
            max_hops: 2,
            peer_timeout: Duration::from_secs(1),
            peer_ca: Vec::new(),
        }
    }

    fn head(uri: &str) -> Parts {
        hyper::Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn a_leg_is_named_by_the_region_else_by_the_instance_id_made_safe_for_a_quoted_desc() {
        let registry = Families::default();
        assert_eq!(Relay::new(&settings(Some("eu-west-1")), "a-1", &registry).own_name, "eu-west-1");
        let registry = Families::default();
        assert_eq!(Relay::new(&settings(None), "pod \"7\"/x", &registry).own_name, "pod__7__x");
    }

    #[test]
    fn only_a_request_that_asks_is_planned_and_its_head_is_taken_then() {
        let relay = Relay::new(&settings(None), "a-1", &Families::default());
        assert!(relay.plan(None, &head("/x?hop=ap")).unwrap().is_none(), "no hop knob, no plan");
        let fwd = relay.plan(Some("ap"), &head("/x?hop=ap&delay=1ms")).unwrap().unwrap();
        assert_eq!((fwd.hop.peer, fwd.out.path_and_query.as_str()), (0, "/x?delay=1ms"));
        assert_eq!(relay.plan(Some("ap,ap,ap"), &head("/")).err().map(|e| e.status()), Some(StatusCode::LOOP_DETECTED));
    }
}
