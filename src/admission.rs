//! Admission control: at most N echo requests in service, a bounded FIFO queue behind them.
//!
//! This is what makes one process behave like one capacity-bound replica (App Runner's
//! MaxConcurrency, a Kubernetes pod with a concurrency limit). Written out instead of a
//! `tokio::sync::Semaphore` because the limit changes at run time (PUT /config) in both
//! directions, the queue has its own bound, and a waiter that times out or goes away must
//! leave the queue (or hand its slot on) atomically; one small mutex does all three plainly.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;

use crate::knobs::ser_duration;
use crate::metrics::Metrics;

/// The admission settings (`--max-concurrency`, `--max-queue`, `--queue-timeout`); all three
/// change at run time through PUT /config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// Requests in service at once; 0 is unlimited.
    pub max_concurrency: usize,
    pub max_queue: usize,
    #[serde(serialize_with = "ser_duration")]
    pub queue_timeout: Duration,
}

/// Why a request was not admitted (also the `reason` label of the rejection counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    QueueFull,
    QueueTimeout,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::QueueFull => "queue_full",
            Rejection::QueueTimeout => "queue_timeout",
        }
    }
}

pub struct Admission {
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

struct State {
    limits: Limits,
    in_service: usize,
    next_ticket: u64,
    queue: VecDeque<(u64, oneshot::Sender<()>)>,
}

impl State {
    fn has_room(&self) -> bool {
        self.limits.max_concurrency == 0 || self.in_service < self.limits.max_concurrency
    }
}

/// A slot in service; dropping it frees the slot or hands it to the next waiter.
pub struct Permit {
    admission: Arc<Admission>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self.admission.lock();
        st.in_service -= 1;
        self.admission.grant_waiters(&mut st);
    }
}

/// A place in the queue; dropped before it is granted, it leaves the queue; dropped after,
/// it releases the slot it was handed.
struct Waiting<'a> {
    admission: &'a Arc<Admission>,
    ticket: u64,
    rx: oneshot::Receiver<()>,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut st = self.admission.lock();
        if let Some(pos) = st.queue.iter().position(|(t, _)| *t == self.ticket) {
            st.queue.remove(pos);
            self.admission.metrics.queued.set(st.queue.len() as i64);
        } else {
            // Granted while we were going away: pass the slot on.
            st.in_service -= 1;
            self.admission.grant_waiters(&mut st);
        }
    }
}

impl Admission {
    pub fn new(limits: Limits, metrics: Arc<Metrics>) -> Arc<Self> {
        metrics.concurrency_limit.set(limits.max_concurrency as i64);
        Arc::new(Admission {
            state: Mutex::new(State { limits, in_service: 0, next_ticket: 0, queue: VecDeque::new() }),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the counters half-updated (every
        // critical section is a few integer operations), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves waiters into service while there is room, oldest first.
    fn grant_waiters(&self, st: &mut State) {
        while st.has_room() {
            let Some((_, tx)) = st.queue.pop_front() else { break };
            // The receiver lives in `Waiting`, whose drop takes this lock first, so a send
            // under the lock cannot fail; if it ever did, the slot simply goes to the next.
            if tx.send(()).is_ok() {
                st.in_service += 1;
            }
        }
        self.metrics.queued.set(st.queue.len() as i64);
    }

    pub fn limits(&self) -> Limits {
        self.lock().limits
    }

    /// Changes the limits for the requests that follow; a raised limit admits waiters now.
    pub fn set_limits(&self, limits: Limits) {
        let mut st = self.lock();
        st.limits = limits;
        self.metrics.concurrency_limit.set(limits.max_concurrency as i64);
        self.grant_waiters(&mut st);
    }

    /// Waits for a slot (FIFO), at most the queue timeout. Returns the permit and the wait.
    pub async fn acquire(self: &Arc<Self>) -> Result<(Permit, Duration), Rejection> {
        match self.try_acquire() {
            Some(permit) => Ok((permit, Duration::ZERO)),
            None => Box::pin(self.wait()).await,
        }
    }

    /// A slot now, if one is free and nobody is queued ahead.
    fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut st = self.lock();
        if st.has_room() && st.queue.is_empty() {
            st.in_service += 1;
            return Some(Permit { admission: self.clone() });
        }
        None
    }

    async fn wait(self: &Arc<Self>) -> Result<(Permit, Duration), Rejection> {
        let (ticket, rx, timeout) = {
            let mut st = self.lock();
            if st.has_room() && st.queue.is_empty() {
                st.in_service += 1;
                return Ok((Permit { admission: self.clone() }, Duration::ZERO));
            }
            if st.queue.len() >= st.limits.max_queue {
                return Err(Rejection::QueueFull);
            }
            let (tx, rx) = oneshot::channel();
            let ticket = st.next_ticket;
            st.next_ticket += 1;
            st.queue.push_back((ticket, tx));
            self.metrics.queued.set(st.queue.len() as i64);
            (ticket, rx, st.limits.queue_timeout)
        };
        let started = tokio::time::Instant::now();
        let mut waiting = Waiting { admission: self, ticket, rx, done: false };
        let granted = tokio::time::timeout(timeout, &mut waiting.rx).await.is_ok();
        let mut st = self.lock();
        // Decided under the lock: a grant that raced the timeout still counts as a grant.
        let in_queue = st.queue.iter().position(|(t, _)| *t == ticket);
        waiting.done = true;
        match in_queue {
            Some(pos) if !granted => {
                st.queue.remove(pos);
                self.metrics.queued.set(st.queue.len() as i64);
                Err(Rejection::QueueTimeout)
            }
            _ => Ok((Permit { admission: self.clone() }, started.elapsed())),
        }
    }
}
