//! The only file that knows URLs: reserved paths go to their handlers, everything else echoes.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};

use crate::app::App;
use crate::body::Body;
use crate::handlers::{control, echo, probes};
use crate::metrics::Route;
use crate::response;

/// The probes' and the exposition's paths (also what `--print-config` tells manifests to probe).
pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";

/// Which address a request came in on.
#[derive(Clone, Copy)]
pub enum Listener {
    Main,
    /// --metrics-listen: /metrics and the probes, nothing else.
    Metrics,
}

/// Where a request goes, decided from its path.
enum To {
    Healthz,
    Readyz,
    /// `counted`: on the main address; the metrics address's answers are not counted.
    Metrics {
        counted: bool,
    },
    NotFound,
    Config(Request<Incoming>),
    /// Prepared already: the answer to bad input, or the echo to run.
    Echo(Result<echo::Echo, Box<Response<Body>>>),
}

/// Routes a request. Runs inside hyper's `Service::call`, so an echo's head is read and let go
/// here, before hyper reads on (the one split in the request path; the crate docs give its
/// reason); the returned future does the rest.
pub fn route(
    app: &Arc<App>,
    listener: Listener,
    req: Request<Incoming>,
) -> impl Future<Output = Response<Body>> + use<> {
    let started = Instant::now();
    let mut to = match (listener, req.uri().path()) {
        (_, HEALTHZ) => To::Healthz,
        (_, READYZ) => To::Readyz,
        (Listener::Metrics, METRICS) => To::Metrics { counted: false },
        (Listener::Metrics, _) => To::NotFound,
        // With --metrics-listen the exposition lives only on its own address.
        (Listener::Main, METRICS) if app.config.metrics_listen.is_none() => To::Metrics { counted: true },
        (Listener::Main, "/config") => To::Config(req),
        (Listener::Main, _) => To::Echo(echo::prepare(app, req, started)),
    };
    let app = app.clone();
    // An async block that owns `to`, not an async fn taking it: an async fn keeps its arguments
    // twice in its future (rust-lang/rust#62958), a cost paid per request in flight.
    async move {
        let (route, resp) = match to {
            To::Healthz => (Route::Healthz, probes::healthz(&app.instance)),
            To::Readyz => (Route::Readyz, probes::readyz(&app.instance, &app.readiness)),
            To::Metrics { counted: true } => (Route::Metrics, probes::metrics(&app.instance, &app.metrics)),
            To::Metrics { counted: false } => return probes::metrics(&app.instance, &app.metrics),
            To::NotFound => {
                let allowed = "/metrics, /healthz, /readyz";
                return response::error(&app.instance, StatusCode::NOT_FOUND, "not found", "path", allowed);
            }
            To::Config(req) => (Route::Config, Box::pin(control::handle(&app, req)).await),
            To::Echo(Ok(ref mut echo)) => (Route::Echo, echo.run().await),
            To::Echo(Err(bad)) => (Route::Echo, *bad),
        };
        app.metrics.observe(route, resp.status().as_u16(), started.elapsed());
        resp
    }
}
