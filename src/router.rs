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

/// Which address a request came in on.
#[derive(Clone, Copy)]
pub enum Listener {
    Main,
    /// --metrics-listen: /metrics and the probes, nothing else.
    Metrics,
}

/// What is left to do for a request once its head has been looked at.
/// Worked on in place by the future (`Option`s are taken once): moving a variant out would make
/// the future hold it twice.
enum Pending {
    Answered(Option<Response<Body>>, Route),
    Echo(echo::Echo),
    Config(Option<Request<Incoming>>),
    /// The metrics listener's answers are not counted in the HTTP metrics.
    Uncounted(Option<Response<Body>>),
}

/// Routes a request. Called from hyper's `Service::call`: the echo path takes what it needs
/// from the request head right here, so the future returned holds no part of the head
/// (see `echo::prepare`).
pub fn route(
    app: &Arc<App>,
    listener: Listener,
    req: Request<Incoming>,
) -> impl Future<Output = Response<Body>> + use<> {
    let started = Instant::now();
    let mut pending = match (listener, req.uri().path()) {
        (_, "/healthz") => Pending::Answered(Some(probes::healthz()), Route::Healthz),
        (_, "/readyz") => Pending::Answered(Some(probes::readyz(app)), Route::Readyz),
        (Listener::Metrics, "/metrics") => Pending::Uncounted(Some(probes::metrics(app))),
        (Listener::Metrics, _) => {
            let mut r = Response::new(Body::full("not found: this address serves /metrics\n"));
            *r.status_mut() = StatusCode::NOT_FOUND;
            Pending::Uncounted(Some(r))
        }
        // With --metrics-listen the exposition lives only on its own address.
        (Listener::Main, "/metrics") if app.config.metrics_listen.is_none() => {
            Pending::Answered(Some(probes::metrics(app)), Route::Metrics)
        }
        (Listener::Main, "/config") => Pending::Config(Some(req)),
        (Listener::Main, _) => match echo::prepare(app, req) {
            Ok(e) => Pending::Echo(e),
            Err(answer) => Pending::Answered(Some(*answer), Route::Echo),
        },
    };
    let app = app.clone();
    async move {
        const ONCE: &str = "a request is answered once";
        let (resp, route) = match &mut pending {
            Pending::Answered(resp, route) => (resp.take().expect(ONCE), *route),
            Pending::Echo(e) => (e.run().await, Route::Echo),
            // Boxed so its body-reading state does not enlarge the echo path's future.
            Pending::Config(req) => (Box::pin(control::handle(&app, req.take().expect(ONCE))).await, Route::Config),
            Pending::Uncounted(resp) => return resp.take().expect(ONCE),
        };
        app.metrics.observe(route, resp.status().as_u16(), started.elapsed());
        resp
    }
}
