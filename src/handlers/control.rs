//! `/config`: read the effective defaults and limits; change them at run time.
//!
//! GET is open (it reveals nothing secret). PUT needs `Authorization: Bearer <token>`, compared
//! in constant time so response timing does not leak the token; without `--control-token` the
//! write side does not exist (403), so a public deployment cannot be reconfigured by accident.
//! A PUT is all-or-nothing: every field is validated before anything changes.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::body::Body;
use crate::config::{AdmissionLimits, Defaults, duration};

/// The fields PUT /config accepts; absent ones keep their current value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    delay: Option<String>,
    cpu: Option<String>,
    status: Option<String>,
    /// `null` (or an empty string) switches back to echoing the request body.
    #[serde(default, deserialize_with = "some_nullable")]
    size: Option<Option<String>>,
    max_concurrency: Option<usize>,
    max_queue: Option<usize>,
    queue_timeout: Option<String>,
}

fn some_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

const MAX_CONFIG_BODY: usize = 64 * 1024;

fn json_answer(status: StatusCode, doc: serde_json::Value) -> Response<Body> {
    let mut body = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    body.push(b'\n');
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, error: &str, param: &str, allowed: &str) -> Response<Body> {
    json_answer(status, json!({ "error": error, "param": param, "allowed": allowed }))
}

/// The effective configuration as GET /config shows it.
pub fn snapshot(app: &App) -> serde_json::Value {
    let d = app.defaults.load();
    json!({
        "instance_id": app.instance.id,
        "started": app.instance.started_rfc3339,
        "defaults": {
            "delay": d.delay.to_string(),
            "cpu": d.cpu.to_string(),
            "status": d.status.to_string(),
            "size": d.size.as_ref().map(ToString::to_string),
        },
        "limits": app.config.caps,
        "admission": app.admission.limits(),
        "reject_status": app.config.reject_status,
        "overrides": !app.config.no_overrides,
        "writable": app.config.control_token.is_some(),
    })
}

pub async fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    match *req.method() {
        Method::GET | Method::HEAD => json_answer(StatusCode::OK, snapshot(app)),
        Method::PUT => put(app, req).await,
        _ => {
            let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed", "method", "GET, PUT");
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, PUT"));
            r
        }
    }
}

fn authorized(expected: &str, header: Option<&HeaderValue>) -> bool {
    let given = header.and_then(|v| v.as_bytes().strip_prefix(b"Bearer ")).unwrap_or(b"");
    given.ct_eq(expected.as_bytes()).into()
}

async fn put(app: &App, req: Request<Incoming>) -> Response<Body> {
    let Some(token) = app.config.control_token.as_deref() else {
        return error(
            StatusCode::FORBIDDEN,
            "run-time changes are disabled on this instance",
            "authorization",
            "start the server with --control-token (DELAY_ECHO_CONTROL_TOKEN) to enable PUT /config",
        );
    };
    if !authorized(token, req.headers().get(header::AUTHORIZATION)) {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
            "authorization",
            "Authorization: Bearer <the --control-token value>",
        );
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let body = match Limited::new(req.into_body(), MAX_CONFIG_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "body too large", "body", "at most 64 KiB of JSON"),
    };
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid JSON: {e}"),
                "body",
                "a JSON object with any of: delay, cpu, status, size, max_concurrency, max_queue, queue_timeout",
            );
        }
    };
    let current = app.defaults.load();
    let caps = &app.config.caps;
    let delay = update.delay.unwrap_or_else(|| current.delay.to_string());
    let cpu = update.cpu.unwrap_or_else(|| current.cpu.to_string());
    let status = update.status.unwrap_or_else(|| current.status.to_string());
    let size = match update.size {
        Some(s) => s.filter(|s| !s.is_empty()),
        None => current.size.as_ref().map(ToString::to_string),
    };
    let defaults = match Defaults::parse(&delay, &cpu, &status, size.as_deref(), caps) {
        Ok(d) => d,
        Err((param, e)) => return error(StatusCode::BAD_REQUEST, &e.error, param, &e.allowed),
    };
    let mut limits: AdmissionLimits = app.admission.limits();
    if let Some(n) = update.max_concurrency {
        limits.max_concurrency = n;
    }
    if let Some(n) = update.max_queue {
        limits.max_queue = n;
    }
    if let Some(t) = update.queue_timeout {
        match duration("queue-timeout", &t) {
            Ok(t) => limits.queue_timeout = t,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.message, "queue_timeout", "a duration, e.g. 5s"),
        }
    }
    app.defaults.store(std::sync::Arc::new(defaults));
    app.admission.set_limits(limits);
    let snapshot = snapshot(app);
    tracing::info!(config = %snapshot["defaults"], admission = %snapshot["admission"], "configuration changed");
    json_answer(StatusCode::OK, snapshot)
}

#[cfg(test)]
mod tests {
    use super::authorized;
    use hyper::header::HeaderValue;

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let t = "0123456789abcdef";
        assert!(authorized(t, Some(&HeaderValue::from_static("Bearer 0123456789abcdef"))));
        assert!(!authorized(t, Some(&HeaderValue::from_static("Bearer 0123456789abcde"))));
        assert!(!authorized(t, Some(&HeaderValue::from_static("bearer 0123456789abcdef"))));
        assert!(!authorized(t, Some(&HeaderValue::from_static("0123456789abcdef"))));
        assert!(!authorized(t, None));
    }
}
