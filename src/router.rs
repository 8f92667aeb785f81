//! The only file that knows URLs: reserved paths go to their handlers, everything else echoes.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::body::Body;
use crate::handlers::{control, echo, probes};
use crate::metrics::Route;

pub async fn route(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let (resp, route) = match req.uri().path() {
        "/healthz" => (probes::healthz(), Route::Healthz),
        "/readyz" => (probes::readyz(&app), Route::Readyz),
        // With --metrics-listen the exposition lives only on its own address.
        "/metrics" if app.config.metrics_listen.is_none() => (probes::metrics(&app), Route::Metrics),
        // Boxed so its body-reading state does not enlarge the echo path's future.
        "/config" => (Box::pin(control::handle(&app, req)).await, Route::Config),
        _ => echo::handle(app.clone(), req).await,
    };
    app.metrics.observe(route, resp.status().as_u16(), started.elapsed());
    resp
}

/// The metrics listener: /metrics and the probes, nothing else.
pub fn metrics_only(app: &App, req: Request<Incoming>) -> Response<Body> {
    match req.uri().path() {
        "/metrics" => probes::metrics(app),
        "/healthz" => probes::healthz(),
        "/readyz" => probes::readyz(app),
        _ => {
            let mut r = Response::new(Body::full("not found: this address serves /metrics\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
}
