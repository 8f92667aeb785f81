//! Every answer the server builds that is not an echo body: text, JSON, and the two error
//! shapes, each carrying the headers every answer carries (`X-Instance-Id`: which instance
//! answered, also for a probe or a 400; `X-Instance-Region`: where it runs).
//!
//! Error bodies have one shape, `{"error", "param", "allowed"}`: what was wrong, which input,
//! and what would have been accepted. A rejection by admission control is the one other shape,
//! `{"error", "reason"}` with `Retry-After`, because no input of the client's was wrong.

use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::body::Body;
use crate::instance::Instance;

static X_INSTANCE_ID: HeaderName = HeaderName::from_static("x-instance-id");
static X_INSTANCE_REGION: HeaderName = HeaderName::from_static("x-instance-region");

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain");

/// The headers every answer carries: which instance answered, and where it runs (with a
/// `--region`).
pub fn stamp(headers: &mut HeaderMap, instance: &Instance) {
    headers.insert(X_INSTANCE_ID.clone(), instance.id_header.clone());
    if let Some(region) = &instance.region_header {
        headers.insert(X_INSTANCE_REGION.clone(), region.clone());
    }
}

/// How many headers `stamp` adds, for a caller that sizes its map exactly.
pub fn stamped(instance: &Instance) -> usize {
    1 + usize::from(instance.region_header.is_some())
}

fn answer(instance: &Instance, status: StatusCode, content_type: HeaderValue, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, content_type);
    stamp(h, instance);
    r
}

/// A short plain-text answer (probes).
pub fn text(instance: &Instance, status: StatusCode, body: &'static str) -> Response<Body> {
    answer(instance, status, TEXT, Body::full(body))
}

/// A body with its own content type (the metrics exposition).
pub fn typed(instance: &Instance, content_type: HeaderValue, body: Vec<u8>) -> Response<Body> {
    answer(instance, StatusCode::OK, content_type, Body::full(body))
}

/// A JSON document, indented for the people who read it, ending in a newline.
pub fn json(instance: &Instance, status: StatusCode, doc: &impl Serialize) -> Response<Body> {
    let mut body = serde_json::to_vec_pretty(doc).unwrap_or_default();
    body.push(b'\n');
    answer(instance, status, JSON, Body::full(body))
}

/// An error: what was wrong, which input (`param`), and what is allowed.
pub fn error(instance: &Instance, status: StatusCode, error: &str, param: &str, allowed: &str) -> Response<Body> {
    json(instance, status, &json!({ "error": error, "param": param, "allowed": allowed }))
}

/// No capacity (admission control): `reason` says which limit, `Retry-After` when to come back.
pub fn rejected(instance: &Instance, status: StatusCode, reason: &str) -> Response<Body> {
    let mut r =
        json(instance, status, &json!({ "error": "no capacity: every admission slot is taken", "reason": reason }));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// 413 for a request body over `--max-body`.
pub fn too_large(instance: &Instance, max_body: u64) -> Response<Body> {
    let allowed = format!("at most {max_body} bytes; raise it with --max-body");
    error(instance, StatusCode::PAYLOAD_TOO_LARGE, "the request body is larger than the limit", "body", &allowed)
}
