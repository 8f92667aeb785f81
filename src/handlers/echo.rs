//! The echo endpoint: every path that is not reserved, every method.
//!
//! The request path, top to bottom: read the knobs (400 on a bad one) and draw their values
//! from the defaults in force on arrival → count the arrival → admission (503/429 when full) →
//! sleep → burn CPU → answer with the echo, filler or a JSON description, plus the instance and
//! timing headers.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde_json::json;

use crate::app::App;
use crate::body::Body;
use crate::config::Defaults;
use crate::knobs::{self, Bytes as Size, Dist, KnobError, Status};
use crate::relay::{self, Forward, Myself, X_ECHO_HOP, X_ECHO_HOPS, X_INSTANCE_REGION};
use crate::work;

pub static X_INSTANCE_ID: HeaderName = HeaderName::from_static("x-instance-id");
static X_INSTANCE_START: HeaderName = HeaderName::from_static("x-instance-start");
static X_REQUEST_SEQ: HeaderName = HeaderName::from_static("x-request-seq");
static X_IN_FLIGHT: HeaderName = HeaderName::from_static("x-in-flight");
static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// Knobs a request asked for, already parsed against the caps.
#[derive(Default)]
struct Asked {
    delay: Option<Dist<Duration>>,
    cpu: Option<Dist<Duration>>,
    status: Option<Dist<Status>>,
    size: Option<Dist<Size>>,
    seed: Option<u64>,
    json: bool,
    /// The `hop` list, and whether it came in the query (else in `X-Echo-Hop`).
    hop: Option<(String, bool)>,
}

/// What was drawn for this request.
struct Drawn {
    delay: Duration,
    cpu: Duration,
    status: u16,
    /// `None` echoes the request body.
    size: Option<u64>,
}

/// A 400 answer naming the parameter.
pub struct BadKnob {
    pub param: &'static str,
    pub err: KnobError,
}

const KNOBS: [&str; 5] = ["delay", "cpu", "status", "size", "seed"];
const KNOB_HEADERS: [&str; 5] = ["x-echo-delay", "x-echo-cpu", "x-echo-status", "x-echo-size", "x-echo-seed"];

fn read_knobs(app: &App, query: Option<&str>, headers: &HeaderMap) -> Result<Asked, BadKnob> {
    let mut raw: [Option<Cow<'_, str>>; 5] = Default::default();
    let mut hop = None;
    let mut asked = Asked::default();
    if let Some(q) = query {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            if k == "format" {
                asked.json = v.eq_ignore_ascii_case("json");
            } else if k == "hop" {
                hop = Some(v);
            } else if let Some(i) = KNOBS.iter().position(|n| *n == k) {
                raw[i] = Some(v);
            }
        }
    }
    if !asked.json {
        asked.json =
            headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json"));
    }
    if app.config.no_overrides {
        return Ok(asked);
    }
    asked.hop = match (hop, headers.get(&X_ECHO_HOP)) {
        (Some(q), _) => Some((q.into_owned(), true)),
        (None, Some(h)) => Some((
            h.to_str()
                .map_err(|_| BadKnob {
                    param: "hop",
                    err: KnobError { error: "the header is not visible ASCII".into(), allowed: "ASCII text".into() },
                })?
                .to_owned(),
            false,
        )),
        (None, None) => None,
    };
    for (i, name) in KNOB_HEADERS.iter().enumerate() {
        if raw[i].is_none()
            && let Some(v) = headers.get(*name)
        {
            let v = v.to_str().map_err(|_| BadKnob {
                param: KNOBS[i],
                err: KnobError { error: "the header is not visible ASCII".into(), allowed: "ASCII text".into() },
            })?;
            raw[i] = Some(Cow::Borrowed(v));
        }
    }
    let caps = &app.config.caps;
    let [delay, cpu, status, size, seed] = raw;
    let wrap = |param| move |err| BadKnob { param, err };
    asked.delay =
        delay.map(|s| Dist::parse(&s, caps.max_delay, "--max-delay", false)).transpose().map_err(wrap("delay"))?;
    asked.cpu = cpu.map(|s| Dist::parse(&s, caps.max_cpu, "--max-cpu", false)).transpose().map_err(wrap("cpu"))?;
    asked.status = status.map(|s| Dist::parse(&s, Status(599), "", true)).transpose().map_err(wrap("status"))?;
    asked.size = size.map(|s| Dist::parse(&s, caps.max_size, "--max-size", false)).transpose().map_err(wrap("size"))?;
    asked.seed = seed.map(|s| knobs::parse_seed(&s)).transpose().map_err(wrap("seed"))?;
    Ok(asked)
}

/// Draws every value in a fixed order (delay, cpu, status, size), so one seed gives one answer.
fn draw(asked: &Asked, defaults: &Defaults) -> Drawn {
    fn pick<T: knobs::Value>(
        rng: &mut Option<SmallRng>,
        seed: Option<u64>,
        asked: Option<&Dist<T>>,
        default: Option<&Dist<T>>,
    ) -> Option<T> {
        // The RNG is made only when a distribution needs one: fixed values (the common case)
        // cost nothing.
        let mut one = |d: &Dist<T>| match d {
            Dist::Fixed(v) => Some(*v),
            _ => d.sample(rng.get_or_insert_with(|| match seed {
                Some(s) => SmallRng::seed_from_u64(s),
                None => SmallRng::from_rng(&mut rand::rng()),
            })),
        };
        asked.and_then(&mut one).or_else(|| default.and_then(&mut one))
    }
    let mut rng = None;
    let seed = asked.seed;
    Drawn {
        delay: pick(&mut rng, seed, asked.delay.as_ref(), Some(&defaults.delay)).unwrap_or(Duration::from_millis(80)),
        cpu: pick(&mut rng, seed, asked.cpu.as_ref(), Some(&defaults.cpu)).unwrap_or(Duration::ZERO),
        status: pick(&mut rng, seed, asked.status.as_ref(), Some(&defaults.status)).map_or(200, |s| s.0),
        size: pick(&mut rng, seed, asked.size.as_ref(), defaults.size.as_ref()).map(|s| s.0),
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The three per-request header values (sequence, in-flight, Server-Timing), written into one
/// fixed buffer and sliced, so they cost one allocation instead of three.
struct Dynamic {
    seq: HeaderValue,
    in_flight: HeaderValue,
    timing: HeaderValue,
}

/// The most the three values can take: two 20-digit integers, and four timings of at most
/// "total;dur=" + 23 digits + ".mmm" (a `Duration`'s whole range) joined by ", ": 194 bytes.
const DYNAMIC_MAX: usize = 256;

/// A buffer that `Bytes` owns: one allocation, and slices of it share that allocation (a `Vec`
/// turned into `Bytes` allocates a second time, for the shared count, when first sliced).
struct Written {
    buf: [u8; DYNAMIC_MAX],
    len: usize,
}

impl Written {
    fn put(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
}

impl AsRef<[u8]> for Written {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Server-Timing reads `queue;dur=0.012, sleep;dur=80.104, cpu;dur=0.000, total;dur=80.140`:
/// milliseconds with microsecond precision, written with integer formatting (float formatting
/// showed in profiles).
fn dynamic_headers(seq: u64, in_flight: usize, timings: [(&str, Duration); 4]) -> Dynamic {
    let mut out = Written { buf: [0; DYNAMIC_MAX], len: 0 };
    let mut int = itoa::Buffer::new();
    out.put(int.format(seq).as_bytes());
    let seq_end = out.len;
    out.put(int.format(in_flight).as_bytes());
    let in_flight_end = out.len;
    for (i, (name, d)) in timings.into_iter().enumerate() {
        if i > 0 {
            out.put(b", ");
        }
        let us = d.as_micros();
        out.put(name.as_bytes());
        out.put(b";dur=");
        out.put(int.format(us / 1000).as_bytes());
        let frac = (us % 1000) as u16;
        out.put(&[b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8]);
    }
    let end = out.len;
    let all = bytes::Bytes::from_owner(out);
    let value =
        |r: std::ops::Range<usize>| HeaderValue::from_maybe_shared(all.slice(r)).expect("ASCII digits and names");
    Dynamic { seq: value(0..seq_end), in_flight: value(seq_end..in_flight_end), timing: value(in_flight_end..end) }
}

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
    /// Method and path for the access log (only with --access-log).
    logged: Option<Box<(Method, Box<str>)>>,
    /// Where to forward the request once its own work is done (the `hop` knob).
    forward: Option<Box<Forward>>,
    body: Option<Incoming>,
}

/// Reads the knobs and takes what the answer needs from the request head, then drops the head.
///
/// This runs inside hyper's `Service::call`, before hyper reads on from the connection. The head's
/// header values and URI are slices of the connection's read buffer: held across the sleep, they
/// made hyper allocate a second 8 KiB read buffer for every request in flight (8 KiB × 10,000
/// connections); let go here, hyper reuses the one it has. Bad input is answered at once (`Err`),
/// without counting the request or taking a slot.
pub fn prepare(app: &Arc<App>, req: Request<Incoming>) -> Result<Echo, Box<Response<Body>>> {
    let arrived = Instant::now();
    let (parts, body) = req.into_parts();
    let asked = read_knobs(app, parts.uri.query(), &parts.headers).map_err(|bad| Box::new(bad_knob(app, bad)))?;
    let forward = match &asked.hop {
        None => None,
        Some((list, in_query)) => {
            let r = &app.config.relay;
            relay::plan(list, *in_query, parts.headers.get(&X_ECHO_HOPS), &r.peers, r.max_hops)
                .map_err(|e| Box::new(json_response(app, e.status(), e.doc())))?
                .map(|hop| Box::new(Forward::new(hop, &parts.method, &parts.uri, &parts.headers)))
        }
    };
    let declared_len =
        parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > app.config.caps.max_body.0) {
        return Err(Box::new(too_large(app)));
    }
    let drawn = draw(&asked, &app.defaults.load());
    let described = asked.json.then(|| Box::new(describe(&parts)));
    let logged = app.config.access_log.then(|| Box::new((parts.method.clone(), parts.uri.path().into())));
    let mut headers = parts.headers;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    headers.clear();
    Ok(Echo {
        app: app.clone(),
        arrived,
        drawn,
        json: asked.json,
        seed: asked.seed,
        declared_len,
        headers,
        content_type,
        described,
        logged,
        forward,
        body: Some(body),
    })
}

/// The request part of the JSON answer.
fn describe(parts: &hyper::http::request::Parts) -> serde_json::Map<String, serde_json::Value> {
    let headers: serde_json::Map<String, serde_json::Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    let doc = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "version": format!("{:?}", parts.version),
        "headers": headers,
    });
    match doc {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

impl Echo {
    /// Counts the arrival, takes a slot, sleeps, burns and answers. Works on `self` in place
    /// (a future that moved the fields out would hold them twice); call it once.
    pub async fn run(&mut self) -> Response<Body> {
        let app = &self.app;
        let (arrived, declared_len) = (self.arrived, self.declared_len);
        let incoming = self.body.take().expect("an echo runs once");

        // 1. Arrival: sequence number and the in-flight count seen on arrival.
        let seq = app.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let in_flight_before = app.metrics.in_flight_now.fetch_add(1, Ordering::Relaxed);
        let mut guard = InFlight { app, finished: false };

        // 2. Admission.
        let (_permit, queued) = match app.admission.acquire().await {
            Ok(p) => p,
            Err(rejection) => {
                guard.finished = true;
                app.metrics.reject(rejection.as_str());
                return rejected(app, rejection.as_str());
            }
        };
        if !queued.is_zero() {
            app.metrics.queue_wait.observe(queued.as_secs_f64());
        }

        let drawn = &self.drawn;
        // 3. Sleep; a chunked body (length unknown) is read meanwhile, bounded by --max-body.
        // A relayed request forwards its body instead.
        let echo_body = self.forward.is_some() || (drawn.size.is_none() && !self.json);
        // The delay runs from arrival, or from admission for a request that queued: the time
        // spent reading the knobs and taking the slot is inside it, not added to it.
        let slept_at = if queued.is_zero() { arrived } else { Instant::now() };
        let wake_at = slept_at + drawn.delay;
        let body = if echo_body && declared_len.is_none() && !hyper::body::Body::is_end_stream(&incoming) {
            let limit = app.config.caps.max_body.0 as usize;
            // Boxed: a rare path whose state would otherwise enlarge every request's future.
            let (collected, ()) = Box::pin(async {
                tokio::join!(Limited::new(incoming, limit).collect(), app.timer.sleep_until(wake_at))
            })
            .await;
            match collected {
                Ok(c) => Body::full(c.to_bytes()),
                Err(_) => {
                    guard.finished = true;
                    return too_large(app);
                }
            }
        } else {
            app.timer.sleep_until(wake_at).await;
            if echo_body { Body::Echo(incoming) } else { Body::Empty }
        };
        let slept = if drawn.delay.is_zero() { Duration::ZERO } else { slept_at.elapsed() };

        // 4. Burn CPU.
        let burnt = if drawn.cpu.is_zero() { Duration::ZERO } else { Box::pin(work::burn(drawn.cpu)).await };

        // 5. Relay: forward to the next peer; its answer becomes this one.
        let (status, total, body, legs_timing, relayed_type) = match self.forward.take() {
            None => (StatusCode::from_u16(drawn.status).unwrap_or(StatusCode::OK), arrived.elapsed(), body, None, None),
            Some(fwd) => {
                let me =
                    self.json.then(|| Myself { instance: &app.instance.id, region: app.instance.region.as_deref() });
                // Boxed: a rare path whose state would otherwise enlarge every request's future.
                match Box::pin(app.relay.relay(*fwd, body, arrived, me)).await {
                    Ok(r) => (r.status, r.total, r.body, Some(r.legs_timing), Some(r.content_type)),
                    Err(e) => {
                        guard.finished = true;
                        return json_response(app, e.status(), e.doc());
                    }
                }
            }
        };

        // 6. Answer.
        let mut dynamic = dynamic_headers(
            seq,
            in_flight_before,
            [("queue", queued), ("sleep", slept), ("cpu", burnt), ("total", total)],
        );
        if let Some(legs) = legs_timing {
            let joined = format!("{}, {legs}", dynamic.timing.to_str().unwrap_or_default());
            dynamic.timing = HeaderValue::from_str(&joined).unwrap_or(dynamic.timing);
        }
        let (body, content_type) = if let Some(ct) = relayed_type {
            (body, ct)
        } else if let Some(mut doc) = self.described.take() {
            doc.insert(
                "instance".into(),
                json!({
                    "id": app.instance.id,
                    "started": app.instance.started_rfc3339,
                    "region": app.instance.region,
                }),
            );
            doc.insert("seq".into(), seq.into());
            doc.insert("in_flight".into(), in_flight_before.into());
            doc.insert(
                "knobs".into(),
                json!({
                    "delay": knobs::format_duration(drawn.delay),
                    "cpu": knobs::format_duration(drawn.cpu),
                    "status": drawn.status,
                    "size": drawn.size,
                    "seed": self.seed,
                }),
            );
            doc.insert(
                "timings".into(),
                json!({ "queue_ms": ms(queued), "sleep_ms": ms(slept), "cpu_ms": ms(burnt), "total_ms": ms(total) }),
            );
            let arrival = std::time::SystemTime::now() - total;
            let me = relay::chain_element(&app.instance.id, app.instance.region.as_deref(), arrival, total, None);
            doc.insert("chain".into(), json!([me]));
            let bytes = serde_json::to_vec_pretty(&serde_json::Value::Object(*doc)).unwrap_or_default();
            (Body::full(bytes), Some(HeaderValue::from_static("application/json")))
        } else if let Some(n) = drawn.size {
            (Body::Filler { remaining: n }, Some(HeaderValue::from_static("text/plain")))
        } else {
            (body, self.content_type.take())
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        *resp.headers_mut() = std::mem::take(&mut self.headers);
        let h = resp.headers_mut();
        // Seven at most: a map sized for more would stay that size, cached by hyper per connection.
        h.reserve(7);
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, ct);
        }
        h.insert(X_INSTANCE_ID.clone(), app.instance.id_header.clone());
        h.insert(X_INSTANCE_START.clone(), app.instance.start_header.clone());
        if let Some(region) = &app.instance.region_header {
            h.insert(X_INSTANCE_REGION.clone(), region.clone());
        }
        h.insert(X_REQUEST_SEQ.clone(), dynamic.seq);
        h.insert(X_IN_FLIGHT.clone(), dynamic.in_flight);
        h.insert(SERVER_TIMING.clone(), dynamic.timing);
        guard.finished = true;
        if let Some(l) = self.logged.take() {
            tracing::info!(
                target: "delay_echo::access",
                method = %l.0,
                path = &*l.1,
                status = status.as_u16(),
                seq,
                queue_ms = ms(queued),
                sleep_ms = ms(slept),
                cpu_ms = ms(burnt),
                total_ms = ms(total),
                "echo"
            );
        }
        resp
    }
}

fn json_response(app: &App, status: StatusCode, doc: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::full(serde_json::to_vec(&doc).unwrap_or_default()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(X_INSTANCE_ID.clone(), app.instance.id_header.clone());
    if let Some(region) = &app.instance.region_header {
        h.insert(X_INSTANCE_REGION.clone(), region.clone());
    }
    r
}

pub fn bad_knob(app: &App, bad: BadKnob) -> Response<Body> {
    json_response(
        app,
        StatusCode::BAD_REQUEST,
        json!({ "error": bad.err.error, "param": bad.param, "allowed": bad.err.allowed }),
    )
}

fn too_large(app: &App) -> Response<Body> {
    json_response(
        app,
        StatusCode::PAYLOAD_TOO_LARGE,
        json!({
            "error": "the request body is larger than the limit",
            "param": "body",
            "allowed": format!("at most {} bytes; raise it with --max-body", app.config.caps.max_body.0),
        }),
    )
}

fn rejected(app: &App, reason: &str) -> Response<Body> {
    let status = StatusCode::from_u16(app.config.reject_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let mut r =
        json_response(app, status, json!({ "error": "no capacity: every admission slot is taken", "reason": reason }));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_headers_slice_one_buffer_and_timing_is_milliseconds() {
        let d = dynamic_headers(
            41,
            7,
            [
                ("queue", Duration::from_micros(12)),
                ("sleep", Duration::from_micros(80_104)),
                ("cpu", Duration::ZERO),
                ("total", Duration::from_nanos(80_140_999)),
            ],
        );
        assert_eq!(d.seq, "41");
        assert_eq!(d.in_flight, "7");
        assert_eq!(d.timing.to_str().unwrap(), "queue;dur=0.012, sleep;dur=80.104, cpu;dur=0.000, total;dur=80.140");
    }

    #[test]
    fn dynamic_headers_fit_the_largest_values() {
        let d = dynamic_headers(u64::MAX, usize::MAX, [("total", Duration::MAX); 4]);
        assert_eq!(d.seq, u64::MAX.to_string().as_str());
        let longest = d.seq.len() + d.in_flight.len() + d.timing.len();
        assert!(longest <= DYNAMIC_MAX, "{longest} bytes");
        assert!(d.timing.to_str().unwrap().ends_with(".999"));
    }
}
