//! Liveness, readiness and the metrics exposition: never delayed, never admitted, never faulted.

use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

use crate::app::App;
use crate::body::Body;

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

/// `/healthz`: the process is alive and its runtime answers.
pub fn healthz() -> Response<Body> {
    text(StatusCode::OK, "ok\n")
}

/// `/readyz`: 200 once the start-up delay is over, 503 before and from the shutdown signal on.
pub fn readyz(app: &App) -> Response<Body> {
    if app.readiness.is_ready() {
        text(StatusCode::OK, "ready\n")
    } else if app.readiness.is_stopping() {
        text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// `/metrics` in the Prometheus text exposition format.
pub fn metrics(app: &App) -> Response<Body> {
    let mut r = Response::new(Body::full(app.metrics.render()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}
