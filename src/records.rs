//! The records of `--access-log`: one JSON object per line on stderr for every echo request
//! answered and for each step of the lifecycle (start, ready, drain), in the versioned shape of
//! docs/records.schema.json (docs/records.md is the guide). A log stream (CloudWatch Logs, a
//! run folder's logs) becomes a table with no agent in the service.
//!
//! Written straight to stderr, not through tracing: the shape is a contract, the same whatever
//! `--log-format` says, and a leg is a nested object (tracing's fields are flat). Each line is
//! formatted into a buffer kept per thread and written with one `write_all` under stderr's lock,
//! so lines never interleave with each other or with tracing's and a request costs no allocation.
//! Nothing here runs without `--access-log`: the callers ask first.
//!
//! A leaf beside `instance`: the handlers and the server call it, and it reads only `Instance`.

use std::cell::RefCell;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::instance::Instance;

/// The schema's version (`"v"`): a new field is a minor change readers ignore; a renamed or
/// removed field, or a changed meaning, bumps it.
pub const VERSION: u32 = 1;

/// An echo request, answered (or refused), as its record says it.
pub struct Request<'a> {
    /// When its head was read.
    pub arrived: SystemTime,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    /// `None`: refused before it was counted (a bad knob, a body over --max-body, a bad hop).
    pub seq: Option<u64>,
    pub queue: Duration,
    pub sleep: Duration,
    pub cpu: Duration,
    pub total: Duration,
    /// The cache status the answer carried (`cache_status`).
    pub cache: Option<&'static str>,
    /// The leg this instance made, when it relayed.
    pub leg: Option<Leg<'a>>,
}

/// One relay leg; `None`s where the leg failed before the figure existed.
pub struct Leg<'a> {
    pub peer: &'a str,
    pub status: Option<u16>,
    pub round_trip: Option<Duration>,
    pub peer_total: Option<Duration>,
}

/// The `cache` field: null without a policy; a storable answer sent in full is a `miss` for
/// any cache in front, a 304 a `revalidated`.
pub fn cache_status(policy: Option<bool>, not_modified: bool) -> Option<&'static str> {
    match policy {
        None => None,
        Some(false) => Some("no-store"),
        Some(true) if not_modified => Some("revalidated"),
        Some(true) => Some("miss"),
    }
}

pub fn request(instance: &Instance, r: &Request<'_>) {
    emit(instance, "request", r.arrived, |b| {
        b.extend_from_slice(b",\"method\":");
        string(b, r.method);
        b.extend_from_slice(b",\"path\":");
        string(b, r.path);
        let _ = write!(b, ",\"status\":{},\"seq\":", r.status);
        match r.seq {
            Some(s) => {
                let _ = write!(b, "{s}");
            }
            None => b.extend_from_slice(b"null"),
        }
        for (name, d) in [("queue_ms", r.queue), ("sleep_ms", r.sleep), ("cpu_ms", r.cpu), ("total_ms", r.total)] {
            let _ = write!(b, ",\"{name}\":");
            ms(b, Some(d));
        }
        b.extend_from_slice(b",\"cache\":");
        match r.cache {
            Some(c) => string(b, c),
            None => b.extend_from_slice(b"null"),
        }
        b.extend_from_slice(b",\"legs\":[");
        if let Some(leg) = &r.leg {
            b.extend_from_slice(b"{\"peer\":");
            string(b, leg.peer);
            b.extend_from_slice(b",\"status\":");
            match leg.status {
                Some(s) => {
                    let _ = write!(b, "{s}");
                }
                None => b.extend_from_slice(b"null"),
            }
            b.extend_from_slice(b",\"rtt_ms\":");
            ms(b, leg.round_trip);
            b.extend_from_slice(b",\"peer_total_ms\":");
            ms(b, leg.peer_total);
            b.extend_from_slice(b",\"network_ms\":");
            match (leg.round_trip, leg.peer_total) {
                // In microseconds, as the two figures are written, so the three agree exactly.
                (Some(rtt), Some(peer)) => {
                    let us = rtt.as_micros() as i128 - peer.as_micros() as i128;
                    let _ = write!(b, "{:.3}", us as f64 / 1e3);
                }
                _ => b.extend_from_slice(b"null"),
            }
            b.push(b'}');
        }
        b.push(b']');
    });
}

/// The process listens (`address`); readiness follows after the drawn startup delay.
pub fn start(instance: &Instance, address: SocketAddr, startup_delay: Duration) {
    emit(instance, "start", SystemTime::now(), |b| {
        let _ = write!(b, ",\"address\":\"{address}\",\"version\":");
        string(b, env!("CARGO_PKG_VERSION"));
        b.extend_from_slice(b",\"startup_delay_ms\":");
        ms(b, Some(startup_delay));
    });
}

/// `/readyz` turned 200.
pub fn ready(instance: &Instance, startup_delay: Duration) {
    emit(instance, "ready", SystemTime::now(), |b| {
        b.extend_from_slice(b",\"startup_delay_ms\":");
        ms(b, Some(startup_delay));
    });
}

/// Shutdown began: unready, serving on for the drain delay, then draining.
pub fn drain(instance: &Instance, drain_delay: Duration) {
    emit(instance, "drain", SystemTime::now(), |b| {
        b.extend_from_slice(b",\"drain_delay_ms\":");
        ms(b, Some(drain_delay));
    });
}

thread_local! {
    // Grows to the longest line once per thread, then is reused.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

/// The common head (`v`, `event`, `ts`, `t_unix`, `instance`, `region`), the event's own fields
/// (`fields` writes them, each starting with a comma), one line to stderr.
fn emit(instance: &Instance, event: &str, at: SystemTime, fields: impl FnOnce(&mut Vec<u8>)) {
    LINE.with_borrow_mut(|b| {
        b.clear();
        let unix = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let _ = write!(
            b,
            "{{\"v\":{VERSION},\"event\":\"{event}\",\"ts\":\"{}\",\"t_unix\":{}.{:06},\"instance\":",
            humantime::format_rfc3339_micros(UNIX_EPOCH + Duration::from_micros(unix.as_micros() as u64)),
            unix.as_secs(),
            unix.subsec_micros()
        );
        string(b, &instance.id);
        b.extend_from_slice(b",\"region\":");
        match &instance.region {
            Some(r) => string(b, r),
            None => b.extend_from_slice(b"null"),
        }
        fields(b);
        b.extend_from_slice(b"}\n");
        // A closed or full stderr loses the line, never the answer.
        let _ = std::io::stderr().lock().write_all(b);
    });
}

/// A JSON string (serde_json's escaping, written into the buffer without allocating).
fn string(b: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *b, s);
}

/// Milliseconds with microsecond precision (as Server-Timing writes them), or null.
fn ms(b: &mut Vec<u8>, d: Option<Duration>) {
    match d {
        Some(d) => {
            let us = d.as_micros();
            let _ = write!(b, "{}.{:03}", us / 1000, us % 1000);
        }
        None => b.extend_from_slice(b"null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_status_names_what_the_answer_carried() {
        assert_eq!(cache_status(None, false), None);
        assert_eq!(cache_status(Some(false), false), Some("no-store"));
        assert_eq!(cache_status(Some(true), false), Some("miss"));
        assert_eq!(cache_status(Some(true), true), Some("revalidated"));
    }

    #[test]
    fn milliseconds_keep_microseconds_and_a_missing_figure_is_null() {
        let mut b = Vec::new();
        ms(&mut b, Some(Duration::from_nanos(12_345_678)));
        b.push(b' ');
        ms(&mut b, None);
        assert_eq!(String::from_utf8(b).unwrap(), "12.345 null");
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut b = Vec::new();
        string(&mut b, "a\"b\\c\n");
        assert_eq!(String::from_utf8(b).unwrap(), r#""a\"b\\c\n""#);
    }
}
