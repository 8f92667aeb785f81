//! Hop planning: a request's `hop` list checked against the peers and the hop cap on arrival,
//! and what the forwarded request will carry, taken from the head before it is let go.
//!
//! A request whose chain would take more than `--max-hops` in all (counting `X-Echo-Hops`, the
//! hops already taken) is answered 508 at once, so a loop between misconfigured peers ends. The
//! forwarded request keeps the method, path and body, the knob headers (`X-Echo-*`), `Accept`
//! and `Content-Type`; `hop` loses its first name where it was given (the query, else
//! `X-Echo-Hop`), and the query's other pairs stay byte for byte, since re-encoding them would
//! change what the peer parses.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode, Uri};
use serde_json::{Value, json};

use super::peers::{Peer, valid_name};

/// The remaining chain, shortened at every hop.
pub static X_ECHO_HOP: HeaderName = HeaderName::from_static("x-echo-hop");
/// Hops a request has taken so far (absent = 0).
pub static X_ECHO_HOPS: HeaderName = HeaderName::from_static("x-echo-hops");

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
pub(super) fn plan(
    list: &str,
    hops_header: Option<&HeaderValue>,
    peers: &[Peer],
    max_hops: u32,
) -> Result<Option<Hop>, HopError> {
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
pub(super) struct Outgoing {
    pub(super) method: Method,
    pub(super) path_and_query: String,
    pub(super) headers: HeaderMap,
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

/// A request to forward once the instance's own work is done: taken from its head on arrival.
pub struct Forward {
    pub(super) hop: Hop,
    pub(super) out: Outgoing,
}

impl Forward {
    pub(super) fn new(hop: Hop, method: &Method, uri: &Uri, headers: &HeaderMap) -> Forward {
        let out = Outgoing::new(&hop, method, uri, headers);
        Forward { hop, out }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(list: &[&str]) -> Vec<Peer> {
        crate::relay::peers::parse_peers(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
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
}
