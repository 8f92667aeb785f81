//! The `chain` of a `format=json` answer: one element per instance of a relayed request, in
//! order, each instance putting its own first in its peer's answer on the way back.
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
//! An answer without hops has one element with `"next": null`. `arrival` is the instance's wall
//! clock at arrival, RFC 3339 UTC with microseconds (clocks of different hosts differ: compare
//! arrivals only within one host). `server_ms` is the instance's own total (arrival to answer,
//! including its onward leg). `region` is `null` when unset. `peer_total_ms` and `network_ms`
//! (`round_trip_ms − peer_total_ms`) are `null` when the peer did not report a total.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::instance::Instance;

/// The JSON answer's description of one leg.
pub(super) struct Next<'a> {
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

/// One element of the JSON `chain`.
pub(super) fn chain_element(
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
pub(super) fn prepend_to_chain(peer_body: &[u8], element: Value) -> Option<Vec<u8>> {
    let mut doc: Value = serde_json::from_slice(peer_body).ok()?;
    doc.get_mut("chain")?.as_array_mut()?.insert(0, element);
    serde_json::to_vec_pretty(&doc).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn an_answer_given_here_has_a_chain_of_one_without_next() {
        let instance = Instance::new("c-1", Some("ap"));
        let chain = own_chain(&instance, Duration::from_micros(1_500));
        let only = &chain.as_array().unwrap()[..];
        assert_eq!(only.len(), 1);
        assert_eq!((only[0]["instance"].as_str(), only[0]["region"].as_str()), (Some("c-1"), Some("ap")));
        assert!((only[0]["server_ms"].as_f64().unwrap() - 1.5).abs() < 1e-9);
        assert_eq!(only[0]["next"], Value::Null);
    }
}
