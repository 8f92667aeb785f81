//! Liveness, readiness and the metrics exposition: never delayed, never admitted, never faulted.

use hyper::header::HeaderValue;
use hyper::{Response, StatusCode};

use crate::app::Readiness;
use crate::body::Body;
use crate::instance::Instance;
use crate::metrics::Metrics;
use crate::response;

/// `/healthz`: the process is alive and its runtime answers.
pub fn healthz(instance: &Instance) -> Response<Body> {
    response::text(instance, StatusCode::OK, "ok\n")
}

/// `/readyz`: 200 once the start-up delay is over, 503 before and from the shutdown signal on.
pub fn readyz(instance: &Instance, readiness: &Readiness) -> Response<Body> {
    if readiness.is_ready() {
        response::text(instance, StatusCode::OK, "ready\n")
    } else if readiness.is_stopping() {
        response::text(instance, StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
    } else {
        response::text(instance, StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// `/metrics` in the Prometheus text exposition format.
pub fn metrics(instance: &Instance, metrics: &Metrics) -> Response<Body> {
    let content_type = HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    response::typed(instance, content_type, metrics.render())
}
