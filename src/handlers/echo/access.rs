//! The record of an echo request (only with `--access-log`; probes are never recorded): what
//! the echo knows at its answer, handed to `records` in the shape of docs/records.schema.json.

use std::time::{Duration, Instant, SystemTime};

use hyper::{Method, StatusCode};

use crate::app::App;
use crate::records::{self, Leg};

/// What an echo keeps for its record from the head it lets go (boxed in `Echo`, and only with
/// `--access-log`, so a request without it carries one null pointer).
pub(super) struct Logged {
    pub method: Method,
    pub path: Box<str>,
    /// Its X-Request-Seq once counted (for the record of a request whose client went away).
    pub seq: Option<u64>,
}

/// The status a record gives a request whose client went away before its answer: nginx's
/// "client closed request", which no client ever receives.
pub(super) fn client_closed() -> StatusCode {
    StatusCode::from_u16(499).expect("499 is a valid status code")
}

/// How a request ended, for its record.
pub(super) struct Outcome<'a> {
    pub status: StatusCode,
    pub seq: Option<u64>,
    /// Queue, sleep, CPU and total.
    pub timings: [Duration; 4],
    pub cache: Option<&'static str>,
    pub leg: Option<Leg<'a>>,
}

impl Outcome<'_> {
    /// An answer with no caching headers and no leg (a refusal or an error).
    pub fn plain(status: StatusCode, seq: Option<u64>, timings: [Duration; 4]) -> Self {
        Outcome { status, seq, timings, cache: None, leg: None }
    }
}

/// One record per echo request answered, whatever the answer (rejections and errors too);
/// `logged` is there only with --access-log.
pub(super) fn log(app: &App, logged: Option<Box<Logged>>, arrived: Instant, outcome: Outcome<'_>) {
    let Some(logged) = logged else { return };
    let [queue, sleep, cpu, total] = outcome.timings;
    records::request(
        &app.instance,
        &records::Request {
            // The wall clock at arrival: the record's time is when the request came, as a
            // client's is when it was sent.
            arrived: SystemTime::now() - arrived.elapsed(),
            method: logged.method.as_str(),
            path: &logged.path,
            status: outcome.status.as_u16(),
            seq: outcome.seq,
            queue,
            sleep,
            cpu,
            total,
            cache: outcome.cache,
            leg: outcome.leg,
        },
    );
}
