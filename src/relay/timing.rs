//! Server-Timing for relayed answers: each leg's two entries, and reading a peer's own.
//!
//! After the instance's own `queue, sleep, cpu, total`, two entries per leg, in chain order (a
//! relaying instance copies its peer's leg entries after its own):
//! `hop;desc="eu>ap";dur=<round trip ms>, peer-total;desc="ap";dur=<peer's total ms>`. The name
//! left of `>` is the sender's `--region`, else its instance id. The round trip is measured from
//! sending the request to the peer's response head, so the peer's `total` is inside it, and
//! round trip minus peer total is the leg's network time (both directions, plus both ends'
//! HTTP parsing).

use std::fmt::Write as _;
use std::time::Duration;

use hyper::header::HeaderValue;

/// A leg's entries: `hop` (`own>peer`, the round trip), `peer-total` when the peer reported
/// its total, then the peer's own leg entries (`theirs`, its Server-Timing).
pub(super) fn entries(
    own_name: &str,
    peer: &str,
    round_trip: Duration,
    peer_total: Option<Duration>,
    theirs: Option<&str>,
) -> String {
    let mut s = String::with_capacity(96);
    let _ = write!(s, "hop;desc=\"{own_name}>{peer}\";dur={}", ms3(round_trip));
    if let Some(t) = peer_total {
        let _ = write!(s, ", peer-total;desc=\"{peer}\";dur={}", ms3(t));
    }
    if let Some(theirs) = theirs {
        for entry in leg_entries(theirs) {
            s.push_str(", ");
            s.push_str(entry);
        }
    }
    s
}

/// Milliseconds with microsecond precision, as the rest of Server-Timing.
fn ms3(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// The `total` entry of a Server-Timing value (the instance's own, not a leg's).
pub(super) fn own_total(server_timing: &str) -> Option<Duration> {
    server_timing.split(',').map(str::trim).find_map(|e| {
        let (name, params) = e.split_once(';')?;
        if name.trim() != "total" {
            return None;
        }
        let dur = params.split(';').find_map(|p| p.trim().strip_prefix("dur="))?;
        let ms: f64 = dur.parse().ok()?;
        // A peer's figure: one too large for a Duration is no total, not a panic.
        Duration::try_from_secs_f64(ms / 1e3).ok()
    })
}

/// The leg entries (`hop`, `peer-total`) of a Server-Timing value, in order.
fn leg_entries(server_timing: &str) -> impl Iterator<Item = &str> {
    server_timing.split(',').map(str::trim).filter(|e| {
        let name = e.split(';').next().unwrap_or("").trim();
        name == "hop" || name == "peer-total"
    })
}

/// This instance's Server-Timing with the legs' entries after its own.
pub fn with_legs(own: HeaderValue, legs: Option<String>) -> HeaderValue {
    let Some(legs) = legs else { return own };
    let joined = format!("{}, {legs}", own.to_str().unwrap_or_default());
    HeaderValue::from_str(&joined).unwrap_or(own)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        for unusable in ["total;dur=1e30", "total;dur=-1", "total;dur=NaN", "total;dur=inf"] {
            assert_eq!(own_total(unusable), None, "{unusable}");
        }
        assert_eq!(ms3(Duration::from_nanos(1_234_567)), "1.234");
    }

    #[test]
    fn a_leg_is_its_hop_its_peer_total_then_the_peers_legs_and_follows_the_own_entries() {
        let theirs = "queue;dur=0.000, total;dur=0.300, hop;desc=\"b>c\";dur=0.200";
        let legs = entries("eu", "b", Duration::from_micros(2_500), Some(Duration::from_micros(300)), Some(theirs));
        assert_eq!(legs, "hop;desc=\"eu>b\";dur=2.500, peer-total;desc=\"b\";dur=0.300, hop;desc=\"b>c\";dur=0.200");
        assert_eq!(entries("eu", "b", Duration::from_micros(1), None, None), "hop;desc=\"eu>b\";dur=0.001");
        let own = HeaderValue::from_static("total;dur=3.000");
        assert_eq!(
            with_legs(own.clone(), Some(legs)).to_str().unwrap(),
            format!(
                "total;dur=3.000, hop;desc=\"eu>b\";dur=2.500, peer-total;desc=\"b\";dur=0.300, hop;desc=\"b>c\";dur=0.200"
            )
        );
        assert_eq!(with_legs(own.clone(), None), own);
    }
}
