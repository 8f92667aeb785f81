//! The state every request handler shares: configuration, run-time defaults, admission,
//! metrics, readiness and the instance's identity (`instance`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::admission::Admission;
use crate::config::{Config, Defaults};
use crate::instance::Instance;
use crate::knobs::{self, Values};
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

/// How long the warm-up's one sleep lasts: long enough to go through the timerfd.
const WARM_UP_SLEEP: Duration = Duration::from_micros(50);

impl App {
    /// The one-time work a fresh process would otherwise do inside its first request's delay,
    /// done before it says ready (the first request to a new instance is what a scale-out study
    /// looks at): the timer's descriptor and task, one sleep through them (its code paged in,
    /// its buffers grown), and the built-in knob values parsed and drawn once.
    pub async fn warm_up(&self) {
        if self.timer.start() {
            self.timer.sleep_until(Instant::now() + WARM_UP_SLEEP).await;
        }
        let _ = knobs::draw(&Values::default(), &self.defaults.load());
    }

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
