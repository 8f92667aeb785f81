//! Prometheus metrics: one registry, built at start-up and passed in (fresh per test).
//!
//! Handles on the hot path (echo/200 counters, histograms) are resolved once here, so a request
//! touches only atomics. Tokio runtime figures come from tokio-metrics and are sampled when
//! /metrics is scraped, so an idle instance does no periodic work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The registry /metrics gathers, and a handle on every collector in it: `Registry::gather`
/// leaves a labelled family out until its first series, and `--list-metrics` must name it.
#[derive(Default)]
pub struct Families {
    registry: Registry,
    collectors: Mutex<Vec<Arc<dyn Collector>>>,
}

/// One metric family as `--list-metrics` prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Family {
    pub name: String,
    pub kind: &'static str,
    pub help: String,
}

/// A collector registered in the registry and kept in `Families` too.
struct Shared(Arc<dyn Collector>);

impl Collector for Shared {
    fn desc(&self) -> Vec<&Desc> {
        self.0.desc()
    }
    fn collect(&self) -> Vec<MetricFamily> {
        self.0.collect()
    }
}

impl Families {
    /// Registers a collector; its names must be new (a clash is a programming error).
    pub fn register<C: Collector + Clone + 'static>(&self, c: C) -> C {
        self.register_shared(Arc::new(c.clone()));
        c
    }

    fn register_shared(&self, c: Arc<dyn Collector>) {
        self.registry.register(Box::new(Shared(c.clone()))).expect("metric names are unique");
        self.collectors.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }

    pub fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }

    /// Every family a scrape can show, by name, series or not.
    pub fn list(&self) -> Vec<Family> {
        let collectors = self.collectors.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<Family> = collectors
            .iter()
            .flat_map(|c| c.collect())
            .map(|f| Family {
                name: f.name().to_owned(),
                kind: match f.get_field_type() {
                    MetricType::COUNTER => "counter",
                    MetricType::GAUGE => "gauge",
                    MetricType::HISTOGRAM => "histogram",
                    MetricType::SUMMARY => "summary",
                    MetricType::UNTYPED => "untyped",
                },
                help: f.help().to_owned(),
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Routes, the only values of the `route` label (never raw paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Echo,
    Healthz,
    Readyz,
    Metrics,
    Config,
}

impl Route {
    pub const ALL: [Route; 5] = [Route::Echo, Route::Healthz, Route::Readyz, Route::Metrics, Route::Config];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Echo => "echo",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Config => "config",
        }
    }
}

/// Buckets dense around the default 80 ms delay, wide enough for queueing and long tails.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.08, 0.081, 0.085, 0.09, 0.1, 0.125, 0.15, 0.2, 0.3, 0.5,
    0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const QUEUE_BUCKETS: &[f64] = &[0.0001, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

pub struct Metrics {
    registry: Families,
    requests: IntCounterVec,
    /// `requests{route=..., status="200"}` per route, resolved once.
    requests_ok: [IntCounter; 5],
    durations: [Histogram; 5],
    in_flight: IntGauge,
    /// Echo requests in flight; the handler's counter (it needs the previous value on arrival),
    /// copied into the gauge at scrape time.
    pub in_flight_now: AtomicUsize,
    pub queued: IntGauge,
    pub concurrency_limit: IntGauge,
    pub rejected: IntCounterVec,
    pub queue_wait: Histogram,
    pub cancelled: IntCounter,
    pub open_connections: IntGauge,
    pub connections: IntCounter,
    pub ready: IntGauge,
    runtime: Mutex<Option<RuntimeSampler>>,
}

struct RuntimeSampler {
    intervals: tokio_metrics::RuntimeIntervals,
    workers: IntGauge,
    alive_tasks: IntGauge,
    global_queue_depth: IntGauge,
    busy_ratio: prometheus::Gauge,
    busy_seconds: prometheus::Counter,
    parks: IntCounter,
    #[cfg(tokio_unstable)]
    unstable: UnstableRuntime,
}

#[cfg(tokio_unstable)]
struct UnstableRuntime {
    polls: IntCounter,
    steals: IntCounter,
    remote_schedules: IntCounter,
    local_queue_depth: IntGauge,
    blocking_threads: IntGauge,
    blocking_queue_depth: IntGauge,
}

fn reg<T: Collector + Clone + 'static>(r: &Families, c: T) -> T {
    r.register(c)
}

impl Metrics {
    pub fn new(version: &str) -> Metrics {
        let r = Families::default();
        let requests = reg(
            &r,
            IntCounterVec::new(
                Opts::new("delay_echo_requests_total", "HTTP requests answered, by route and status code."),
                &["route", "status"],
            )
            .unwrap(),
        );
        let durations_vec = reg(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "delay_echo_request_duration_seconds",
                    "Time from request head to response head, by route (echo includes queue, sleep and CPU).",
                )
                .buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )
            .unwrap(),
        );
        let gauge = |name: &str, help: &str| reg(&r, IntGauge::new(name, help).unwrap());
        let counter = |name: &str, help: &str| reg(&r, IntCounter::new(name, help).unwrap());
        let build = reg(
            &r,
            IntGaugeVec::new(Opts::new("delay_echo_build_info", "Build information; always 1."), &["version"]).unwrap(),
        );
        build.with_label_values(&[version]).set(1);
        #[cfg(target_os = "linux")]
        r.register_shared(Arc::new(prometheus::process_collector::ProcessCollector::for_self()));
        Metrics {
            requests_ok: Route::ALL.map(|rt| requests.with_label_values(&[rt.as_str(), "200"])),
            durations: Route::ALL.map(|rt| durations_vec.with_label_values(&[rt.as_str()])),
            requests,
            in_flight: gauge("delay_echo_in_flight_requests", "Echo requests arrived and not yet answered."),
            queued: gauge("delay_echo_queued_requests", "Echo requests waiting for an admission slot."),
            concurrency_limit: gauge(
                "delay_echo_concurrency_limit",
                "Current admission limit (echo requests in service at once; 0 = unlimited).",
            ),
            rejected: reg(
                &r,
                IntCounterVec::new(
                    Opts::new("delay_echo_rejected_requests_total", "Echo requests rejected by admission, by reason."),
                    &["reason"],
                )
                .unwrap(),
            ),
            queue_wait: reg(
                &r,
                Histogram::with_opts(
                    HistogramOpts::new(
                        "delay_echo_queue_wait_seconds",
                        "Time admitted echo requests waited for a slot.",
                    )
                    .buckets(QUEUE_BUCKETS.to_vec()),
                )
                .unwrap(),
            ),
            cancelled: counter(
                "delay_echo_cancelled_requests_total",
                "Echo requests whose client went away before the answer.",
            ),
            open_connections: gauge("delay_echo_open_connections", "Client connections open now."),
            connections: counter("delay_echo_connections_total", "Client connections accepted."),
            ready: gauge("delay_echo_ready", "1 while /readyz answers 200, else 0."),
            in_flight_now: AtomicUsize::new(0),
            runtime: Mutex::new(None),
            registry: r,
        }
    }

    /// The registry, for components that declare their own metrics (the relay's per-peer ones).
    pub fn registry(&self) -> &Families {
        &self.registry
    }

    /// Starts sampling the runtime this is called on (at start-up, inside the runtime).
    pub fn watch_runtime(&self, handle: &tokio::runtime::Handle) {
        let r = &self.registry;
        let gauge = |name: &str, help: &str| reg(r, IntGauge::new(name, help).unwrap());
        let counter = |name: &str, help: &str| reg(r, IntCounter::new(name, help).unwrap());
        let sampler = RuntimeSampler {
            intervals: tokio_metrics::RuntimeMonitor::new(handle).intervals(),
            workers: gauge("delay_echo_tokio_workers", "Tokio worker threads."),
            alive_tasks: gauge("delay_echo_tokio_alive_tasks", "Tokio tasks alive."),
            global_queue_depth: gauge("delay_echo_tokio_global_queue_depth", "Tasks in tokio's global run queue."),
            busy_ratio: reg(
                r,
                prometheus::Gauge::new(
                    "delay_echo_tokio_busy_ratio",
                    "Share of worker time spent busy since the previous scrape (0 to 1, averaged over workers).",
                )
                .unwrap(),
            ),
            busy_seconds: reg(
                r,
                prometheus::Counter::new("delay_echo_tokio_busy_seconds_total", "Worker time spent busy, all workers.")
                    .unwrap(),
            ),
            parks: counter("delay_echo_tokio_parks_total", "Times tokio workers parked (went idle)."),
            #[cfg(tokio_unstable)]
            unstable: UnstableRuntime {
                polls: counter("delay_echo_tokio_polls_total", "Task polls by tokio workers."),
                steals: counter("delay_echo_tokio_steals_total", "Tasks stolen between tokio workers."),
                remote_schedules: counter(
                    "delay_echo_tokio_remote_schedules_total",
                    "Tasks scheduled from outside the runtime (timer thread, blocking pool).",
                ),
                local_queue_depth: gauge("delay_echo_tokio_local_queue_depth", "Tasks in the workers' local queues."),
                blocking_threads: gauge("delay_echo_tokio_blocking_threads", "Threads in tokio's blocking pool."),
                blocking_queue_depth: gauge(
                    "delay_echo_tokio_blocking_queue_depth",
                    "Tasks waiting for a blocking-pool thread (CPU burns).",
                ),
            },
        };
        *self.runtime.lock().unwrap_or_else(|e| e.into_inner()) = Some(sampler);
    }

    /// Counts one answered request and its duration.
    pub fn observe(&self, route: Route, status: u16, elapsed: Duration) {
        let i = route as usize;
        if status == 200 {
            self.requests_ok[i].inc();
        } else {
            let mut buf = itoa::Buffer::new();
            self.requests.with_label_values(&[route.as_str(), buf.format(status)]).inc();
        }
        self.durations[i].observe(elapsed.as_secs_f64());
    }

    pub fn reject(&self, reason: &str) {
        self.rejected.with_label_values(&[reason]).inc();
    }

    /// The exposition in the Prometheus text format.
    pub fn render(&self) -> Vec<u8> {
        if let Some(s) = self.runtime.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            s.sample();
        }
        self.in_flight.set(self.in_flight_now.load(Ordering::Relaxed) as i64);
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding into a Vec cannot fail");
        out
    }
}

impl RuntimeSampler {
    fn sample(&mut self) {
        let Some(m) = self.intervals.next() else { return };
        self.workers.set(m.workers_count as i64);
        self.alive_tasks.set(m.live_tasks_count as i64);
        self.global_queue_depth.set(m.global_queue_depth as i64);
        let busy = m.total_busy_duration.as_secs_f64();
        self.busy_seconds.inc_by(busy);
        let capacity = m.elapsed.as_secs_f64() * m.workers_count.max(1) as f64;
        self.busy_ratio.set(if capacity > 0.0 { (busy / capacity).min(1.0) } else { 0.0 });
        self.parks.inc_by(m.total_park_count);
        #[cfg(tokio_unstable)]
        {
            let u = &self.unstable;
            u.polls.inc_by(m.total_polls_count);
            u.steals.inc_by(m.total_steal_count);
            u.remote_schedules.inc_by(m.num_remote_schedules);
            u.local_queue_depth.set(m.total_local_queue_depth as i64);
            u.blocking_threads.set(m.blocking_threads_count as i64);
            u.blocking_queue_depth.set(m.blocking_queue_depth as i64);
        }
    }
}
