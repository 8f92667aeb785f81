//! The echo endpoint: every path that is not reserved, every method.
//!
//! `prepare` (inside hyper's `Service::call`) reads the knobs (400 on a bad one), draws their
//! values from the defaults in force on arrival and lets the request head go; `Echo::run` then
//! takes six steps: count the arrival → admission (503/429 when full) → sleep → burn CPU →
//! relay to the next peer when `hop` asks (`relay`) → answer with the echo, filler, a JSON
//! description or the peer's answer, plus the instance and timing headers.

mod access;
mod describe;
mod headers;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};

use self::access::{Logged, Outcome};
use crate::app::App;
use crate::body::Body;
use crate::cache::{self, Validator};
use crate::knobs::{self, Drawn};
use crate::records::{self, Leg};
use crate::relay::{self, Forward};
use crate::{response, work};

static X_INSTANCE_START: HeaderName = HeaderName::from_static("x-instance-start");
static X_REQUEST_SEQ: HeaderName = HeaderName::from_static("x-request-seq");
static X_IN_FLIGHT: HeaderName = HeaderName::from_static("x-in-flight");
static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// An echo request whose head has been read and let go: what the answer needs from it, and
/// its body.
pub struct Echo {
    app: Arc<App>,
    arrived: Instant,
    /// Drawn on arrival, from the defaults in force then.
    drawn: Drawn,
    json: bool,
    seed: Option<u64>,
    declared_len: Option<u64>,
    /// The request's header map, emptied: the answer's headers go into it, and hyper keeps the
    /// allocation for the next request's head (no header map is allocated per request).
    headers: HeaderMap,
    /// Echoed back with the body; copied, since a clone would share the head's buffer.
    content_type: Option<HeaderValue>,
    /// The request as the JSON answer describes it (only with `format=json`).
    described: Option<Box<serde_json::Map<String, serde_json::Value>>>,
    /// Method and path for the access log's record (only with --access-log).
    logged: Option<Box<Logged>>,
    /// The ETag begun from the head (only for an answer that may be cached).
    validator: Option<Box<Validator>>,
    /// Where to forward the request once its own work is done (the `hop` knob).
    forward: Option<Box<Forward>>,
    body: Option<Incoming>,
}

/// Reads the knobs and takes what the answer needs from the request head, then drops the head
/// (why here: the crate docs, "Memory per connection"). Bad input is answered at once (`Err`),
/// without counting the request or taking a slot. `arrived`: when the router took the request
/// (one clock read serves both).
pub fn prepare(app: &Arc<App>, req: Request<Incoming>, arrived: Instant) -> Result<Echo, Box<Response<Body>>> {
    let cfg = &app.config;
    let (parts, body) = req.into_parts();
    // A request refused here is not counted (no seq) but still has its record.
    let refuse = |resp: Response<Body>| {
        if cfg.access_log {
            let logged = Logged { method: parts.method.clone(), path: parts.uri.path().into(), seq: None };
            let total = arrived.elapsed();
            let timings = [Duration::ZERO, Duration::ZERO, Duration::ZERO, total];
            access::log(app, Some(Box::new(logged)), arrived, Outcome::plain(resp.status(), None, timings));
        }
        Box::new(resp)
    };
    let asked = knobs::read(parts.uri.query(), &parts.headers, &cfg.caps, !cfg.no_overrides).map_err(|b| {
        refuse(response::error(&app.instance, StatusCode::BAD_REQUEST, &b.err.error, b.param, &b.err.allowed))
    })?;
    let declared_len =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > cfg.caps.max_body.0) {
        return Err(refuse(response::too_large(&app.instance, cfg.caps.max_body.0)));
    }
    let forward = (app.relay.plan(asked.values.hop.as_deref(), &parts))
        .map_err(|e| refuse(response::json(&app.instance, e.status(), &e.doc())))?;
    let drawn = knobs::draw(&asked.values, &app.defaults.load());
    let described = asked.json.then(|| Box::new(describe::request(&parts)));
    let logged = cfg
        .access_log
        .then(|| Box::new(Logged { method: parts.method.clone(), path: parts.uri.path().into(), seq: None }));
    // A relayed answer is the peer's: this instance validates nothing of it.
    let validator = (drawn.cache.filter(|p| p.may_store()).is_some() && forward.is_none())
        .then(|| Box::new(Validator::begin(&parts, asked.json, &drawn)));
    let mut headers = parts.headers;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    headers.clear();
    Ok(Echo {
        app: app.clone(),
        arrived,
        drawn,
        json: asked.json,
        seed: asked.values.seed,
        declared_len,
        headers,
        content_type,
        described,
        logged,
        validator,
        forward,
        body: Some(body),
    })
}

impl Echo {
    /// Counts the arrival, takes a slot, sleeps, burns and answers. Works on `self` in place
    /// (a future that moved the fields out would hold them twice); call it once.
    pub async fn run(&mut self) -> Response<Body> {
        let app = &self.app;
        let (arrived, drawn) = (self.arrived, &self.drawn);
        let incoming = self.body.take().expect("an echo runs once");

        // 1. Arrival: sequence number and the in-flight count seen on arrival.
        let seq = app.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let in_flight_before = app.metrics.in_flight_now.fetch_add(1, Ordering::Relaxed);
        let mut guard = InFlight { app, finished: false };
        if let Some(l) = &mut self.logged {
            l.seq = Some(seq);
        }

        // 2. Admission.
        let (_permit, queued) = match app.admission.acquire().await {
            Ok(p) => p,
            Err(rejection) => {
                guard.finished = true;
                app.metrics.reject(rejection.as_str());
                let status = StatusCode::from_u16(app.config.reject_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                if self.logged.is_some() {
                    // All of its time went to admission (a queue timeout waited in the queue).
                    let waited = arrived.elapsed();
                    let timings = [waited, Duration::ZERO, Duration::ZERO, waited];
                    access::log(app, self.logged.take(), arrived, Outcome::plain(status, Some(seq), timings));
                }
                return response::rejected(&app.instance, status, rejection.as_str());
            }
        };
        if !queued.is_zero() {
            app.metrics.queue_wait.observe(queued.as_secs_f64());
        }

        // 3. Sleep, from arrival (or from admission for a request that queued: reading the knobs
        // and taking the slot are inside the delay, not added to it). A chunked body (length
        // unknown), or any body of a cacheable answer (its ETag covers it), is read meanwhile,
        // bounded by --max-body. A relayed request forwards its body instead.
        let echo_body = self.forward.is_some() || (drawn.size.is_none() && !self.json);
        let slept_at = if queued.is_zero() { arrived } else { Instant::now() };
        let wake_at = slept_at + drawn.delay;
        let read_whole = self.validator.is_some() || (echo_body && self.declared_len.is_none());
        let body = if read_whole && !hyper::body::Body::is_end_stream(&incoming) {
            let limit = app.config.caps.max_body.0 as usize;
            let (collected, ()) = Box::pin(async {
                tokio::join!(Limited::new(incoming, limit).collect(), app.timer.sleep_until(wake_at))
            })
            .await;
            match collected {
                Ok(c) => {
                    let received = c.to_bytes();
                    if let Some(v) = &mut self.validator {
                        v.hash_body(&received);
                    }
                    if echo_body { Body::full(received) } else { Body::Empty }
                }
                Err(_) => {
                    guard.finished = true;
                    let timings = [queued, slept_at.elapsed(), Duration::ZERO, arrived.elapsed()];
                    let outcome = Outcome::plain(StatusCode::PAYLOAD_TOO_LARGE, Some(seq), timings);
                    access::log(app, self.logged.take(), arrived, outcome);
                    return response::too_large(&app.instance, app.config.caps.max_body.0);
                }
            }
        } else {
            // A delay of 0 (what a cost benchmark asks) reads no clock here.
            if !drawn.delay.is_zero() {
                app.timer.sleep_until(wake_at).await;
            }
            if echo_body { Body::Echo(incoming) } else { Body::Empty }
        };
        let slept = if drawn.delay.is_zero() { Duration::ZERO } else { slept_at.elapsed() };

        // 4. Burn CPU.
        let burnt = if drawn.cpu.is_zero() { Duration::ZERO } else { Box::pin(work::burn(drawn.cpu)).await };

        // 5. Relay: forward to the next peer; its answer becomes this one.
        let (status, total, body, legs, relayed_type, leg) = match self.forward.take() {
            None => {
                let status = StatusCode::from_u16(drawn.status).unwrap_or(StatusCode::OK);
                (status, arrived.elapsed(), body, None, None, None)
            }
            Some(fwd) => {
                // Boxed: a rare path whose state would otherwise enlarge every request's future.
                match Box::pin(app.relay.relay(*fwd, body, arrived, self.json.then_some(&app.instance))).await {
                    Ok(r) => (r.status, r.total, r.body, Some(r.legs_timing), Some(r.content_type), Some(r.leg)),
                    Err(e) => {
                        guard.finished = true;
                        let status = e.status();
                        let leg = Leg { peer: e.peer(), status: None, round_trip: None, peer_total: None };
                        let timings = [queued, slept, burnt, arrived.elapsed()];
                        // An error answer carries no caching headers.
                        let outcome = Outcome { status, seq: Some(seq), timings, cache: None, leg: Some(leg) };
                        access::log(app, self.logged.take(), arrived, outcome);
                        return response::json(&app.instance, status, &e.doc());
                    }
                }
            }
        };

        // 6. Answer (304 when a cacheable answer's ETag is one the client has).
        let timings = [("queue", queued), ("sleep", slept), ("cpu", burnt), ("total", total)];
        let validated = self.validator.take().map(|v| v.finish());
        let not_modified = validated.as_ref().is_some_and(|(_, hit)| *hit) && status.is_success();
        let (body, content_type) = if let Some(ct) = relayed_type {
            (body, ct)
        } else if not_modified {
            (Body::Empty, None)
        } else if let Some(doc) = self.described.take() {
            let done = describe::Done {
                instance: &app.instance,
                seq,
                in_flight: in_flight_before,
                drawn,
                seed: self.seed,
                timings,
            };
            (Body::full(describe::answer(*doc, done)), Some(HeaderValue::from_static("application/json")))
        } else if let Some(n) = drawn.size {
            (Body::Filler { remaining: n }, Some(HeaderValue::from_static("text/plain")))
        } else {
            (body, self.content_type.take())
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = if not_modified { StatusCode::NOT_MODIFIED } else { status };
        *resp.headers_mut() = std::mem::take(&mut self.headers);
        let h = resp.headers_mut();
        // Exactly what this answer carries: hyper keeps the map for the connection's next request,
        // so room for more stays allocated per connection (crate docs, "Memory per connection").
        let caching = drawn.cache.map_or(0, |_| if validated.is_some() { 3 } else { 1 });
        let carried = 4 + usize::from(content_type.is_some()) + response::stamped(&app.instance) + caching;
        h.reserve(carried);
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, ct);
        }
        response::stamp(h, &app.instance);
        h.insert(X_INSTANCE_START.clone(), app.instance.start_header.clone());
        let dynamic = headers::dynamic_headers(seq, in_flight_before, timings);
        h.insert(X_REQUEST_SEQ.clone(), dynamic.seq);
        h.insert(X_IN_FLIGHT.clone(), dynamic.in_flight);
        h.insert(SERVER_TIMING.clone(), relay::with_legs(dynamic.timing, legs));
        if let Some(policy) = drawn.cache {
            cache::stamp(h, policy, validated.map(|(etag, _)| etag), &app.instance.last_modified);
        }
        debug_assert_eq!(h.len(), carried, "the reserve must count every header of the answer");
        guard.finished = true;
        if self.logged.is_some() {
            let cache = records::cache_status(drawn.cache.map(|p| p.may_store()), not_modified);
            let leg = leg.map(|f| Leg {
                peer: app.relay.peer_name(f.peer),
                status: Some(f.status.as_u16()),
                round_trip: Some(f.round_trip),
                peer_total: f.peer_total,
            });
            let durations = timings.map(|(_, d)| d);
            access::log(
                app,
                self.logged.take(),
                arrived,
                Outcome { status: resp.status(), seq: Some(seq), timings: durations, cache, leg },
            );
        }
        resp
    }
}

/// A request whose client went away before its answer (hyper drops the handler's future, and
/// with it the echo) still has its record: status 499, the time it was held as its total. Every
/// answer took the record's state already, so this writes nothing for them.
impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(logged) = self.logged.take() {
            let seq = logged.seq;
            let timings = [Duration::ZERO, Duration::ZERO, Duration::ZERO, self.arrived.elapsed()];
            access::log(&self.app, Some(logged), self.arrived, Outcome::plain(access::client_closed(), seq, timings));
        }
    }
}

/// Counts the request in flight from arrival; a guard dropped before `finish` means the
/// client went away (hyper drops the handler future), which is counted as cancelled.
struct InFlight<'a> {
    app: &'a App,
    finished: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.app.metrics.in_flight_now.fetch_sub(1, Ordering::Relaxed);
        if !self.finished {
            self.app.metrics.cancelled.inc();
        }
    }
}
