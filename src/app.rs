//! The state every request handler shares: configuration, run-time defaults, admission,
//! metrics, readiness and the instance's identity.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use hyper::header::HeaderValue;

use crate::admission::Admission;
use crate::config::{Config, Defaults};
use crate::metrics::Metrics;
use crate::relay::Relay;
use crate::timer::Timer;

pub struct App {
    pub config: Config,
    /// Knob defaults; swapped whole by PUT /config, read lock-free per request.
    pub defaults: ArcSwap<Defaults>,
    pub admission: Arc<Admission>,
    pub metrics: Arc<Metrics>,
    pub instance: Instance,
    pub readiness: Readiness,
    /// Per-instance request sequence (echo requests), from 1.
    pub seq: AtomicU64,
    /// The requests' delays, to the microsecond.
    pub timer: Timer,
    /// Forwarding to peers (the `hop` knob).
    pub relay: Relay,
}

/// Who answered: precomputed header values, cloned (a reference-count bump) per answer.
pub struct Instance {
    pub id: String,
    pub id_header: HeaderValue,
    pub started_rfc3339: String,
    pub start_header: HeaderValue,
    pub region: Option<String>,
    pub region_header: Option<HeaderValue>,
    /// `Last-Modified` of a cacheable answer: the instance's start, as an HTTP date.
    pub last_modified: HeaderValue,
}

impl Instance {
    fn new(id: &str, region: Option<&str>) -> Instance {
        let started = SystemTime::now();
        let started_rfc3339 = humantime::format_rfc3339_millis(started).to_string();
        Instance {
            last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(started)).expect("an HTTP date is ASCII"),
            id: id.to_owned(),
            id_header: HeaderValue::from_str(id).expect("instance id is validated as visible ASCII"),
            start_header: HeaderValue::from_str(&started_rfc3339).expect("RFC 3339 is ASCII"),
            started_rfc3339,
            region: region.map(str::to_owned),
            region_header: region.map(|r| HeaderValue::from_str(r).expect("the region is validated as a name")),
        }
    }
}

/// Ready = the start-up delay is over and no shutdown signal has arrived.
pub struct Readiness {
    started: AtomicBool,
    stopping: AtomicBool,
    metrics: Arc<Metrics>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::Acquire) && !self.stopping.load(Ordering::Acquire)
    }
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Release);
        self.publish();
    }
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::Release);
        self.publish();
    }
    fn publish(&self) {
        self.metrics.ready.set(i64::from(self.is_ready()));
    }
}

impl App {
    pub fn new(config: Config, metrics: Arc<Metrics>) -> Arc<App> {
        let admission = Admission::new(config.admission, metrics.clone());
        Arc::new(App {
            defaults: ArcSwap::from_pointee(config.defaults.clone()),
            instance: Instance::new(&config.instance_id, config.relay.region.as_deref()),
            relay: Relay::new(&config.relay, &config.instance_id, metrics.registry()),
            readiness: Readiness {
                started: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
                metrics: metrics.clone(),
            },
            seq: AtomicU64::new(0),
            timer: Timer::new(),
            admission,
            metrics,
            config,
        })
    }
}
