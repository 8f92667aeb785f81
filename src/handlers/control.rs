//! `/config`: read the effective defaults and limits; change them at run time.
//!
//! GET is open (it reveals nothing secret). PUT needs `Authorization: Bearer <token>`, compared
//! in constant time so response timing does not leak the token; without `--control-token` the
//! write side does not exist (403), so a public deployment cannot be reconfigured by accident.
//! A PUT is all-or-nothing: every field is validated before anything changes.

use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value as Json, json};
use subtle::ConstantTimeEq;

use crate::app::App;
use crate::body::Body;
use crate::knobs::{self, Knob, Value};
use crate::response;

const MAX_CONFIG_BODY: usize = 64 * 1024;

/// The admission fields PUT /config accepts beside the knob defaults.
const LIMITS: [&str; 3] = ["max_concurrency", "max_queue", "queue_timeout"];

/// A PUT /config body, read field by field; absent fields keep their current value.
#[derive(Default)]
struct Update<'a> {
    /// Knob defaults by their table name; `None` (JSON `null` or `""`) goes back to the
    /// built-in (for size: echoing the request body).
    knobs: Vec<(&'static Knob, Option<&'a str>)>,
    max_concurrency: Option<usize>,
    max_queue: Option<usize>,
    queue_timeout: Option<Duration>,
}

/// A refused update: which field, what was wrong, what is allowed.
struct Refused {
    param: String,
    error: String,
    allowed: String,
}

impl Refused {
    fn new(param: &str, error: impl Into<String>, allowed: impl Into<String>) -> Refused {
        Refused { param: param.to_owned(), error: error.into(), allowed: allowed.into() }
    }
}

fn fields() -> String {
    let knobs = knobs::ALL.iter().filter(|k| k.default.is_some()).map(|k| k.name);
    format!("a JSON object with any of: {}", knobs.chain(LIMITS).collect::<Vec<_>>().join(", "))
}

impl<'a> Update<'a> {
    /// Types every field; parsing knob values against the caps is `Values::apply`'s.
    fn read(doc: &'a Json) -> Result<Update<'a>, Refused> {
        let Some(doc) = doc.as_object() else {
            return Err(Refused::new("body", "the body is not a JSON object", fields()));
        };
        let mut update = Update::default();
        let count = |name: &str, v: &Json| {
            let n =
                v.as_u64().ok_or_else(|| Refused::new(name, format!("{v} is not a count"), "an integer, 0 or more"))?;
            Ok::<_, Refused>(Some(n as usize))
        };
        for (name, v) in doc {
            match (name.as_str(), knobs::named(name).filter(|k| k.default.is_some())) {
                (_, Some(knob)) => {
                    let text = match v {
                        Json::Null => None,
                        Json::String(s) if s.is_empty() => None,
                        Json::String(s) => Some(s.as_str()),
                        _ => {
                            return Err(Refused::new(
                                name,
                                format!("{v} is not a string"),
                                "a string, or null for the built-in",
                            ));
                        }
                    };
                    update.knobs.push((knob, text));
                }
                ("max_concurrency", _) => update.max_concurrency = count(name, v)?,
                ("max_queue", _) => update.max_queue = count(name, v)?,
                ("queue_timeout", _) => {
                    let allowed = "a duration with a unit, e.g. 5s";
                    let t = v.as_str().ok_or_else(|| Refused::new(name, format!("{v} is not a string"), allowed))?;
                    let t = Duration::parse_one(t.trim()).map_err(|e| Refused::new(name, e, allowed))?;
                    update.queue_timeout = Some(t);
                }
                _ => return Err(Refused::new("body", format!("unknown field {name:?}"), fields())),
            }
        }
        Ok(update)
    }
}

/// The effective configuration as GET /config shows it.
fn snapshot(app: &App) -> Json {
    let d = app.defaults.load();
    let defaults: serde_json::Map<String, Json> =
        knobs::ALL.iter().filter(|k| k.default.is_some()).map(|k| (k.name.to_owned(), d.show(k).into())).collect();
    json!({
        "instance_id": app.instance.id,
        "started": app.instance.started_rfc3339,
        "defaults": defaults,
        "limits": app.config.caps,
        "admission": app.admission.limits(),
        "reject_status": app.config.reject_status,
        "overrides": !app.config.no_overrides,
        "writable": app.config.control_token.is_some(),
    })
}

pub async fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    match *req.method() {
        Method::GET | Method::HEAD => response::json(&app.instance, StatusCode::OK, &snapshot(app)),
        Method::PUT => put(app, req).await,
        _ => {
            let mut r = response::error(
                &app.instance,
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed",
                "method",
                "GET, PUT",
            );
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
    let error =
        |status, error: &str, param: &str, allowed: &str| response::error(&app.instance, status, error, param, allowed);
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
    let doc: Json = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON: {e}"), "body", &fields()),
    };
    // All or nothing: every field is checked before anything changes.
    let update = match Update::read(&doc) {
        Ok(u) => u,
        Err(r) => return error(StatusCode::BAD_REQUEST, &r.error, &r.param, &r.allowed),
    };
    let defaults = match app.defaults.load().apply(&update.knobs, &app.config.caps) {
        Ok(d) => d,
        Err(b) => return error(StatusCode::BAD_REQUEST, &b.err.error, b.param, &b.err.allowed),
    };
    let mut limits = app.admission.limits();
    limits.max_concurrency = update.max_concurrency.unwrap_or(limits.max_concurrency);
    limits.max_queue = update.max_queue.unwrap_or(limits.max_queue);
    limits.queue_timeout = update.queue_timeout.unwrap_or(limits.queue_timeout);
    app.defaults.store(std::sync::Arc::new(defaults));
    app.admission.set_limits(limits);
    let snapshot = snapshot(app);
    tracing::info!(config = %snapshot["defaults"], admission = %snapshot["admission"], "configuration changed");
    response::json(&app.instance, StatusCode::OK, &snapshot)
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
