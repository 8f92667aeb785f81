//! Sleeping for a request's delay, to the microsecond.
//!
//! tokio's timer wheel has millisecond slots and rounds every deadline up to the next one, so
//! an 80 ms sleep ends anywhere from 80 to 81+ ms: up to a millisecond of noise in exactly the
//! figure this service exists to control. So delays are kept here instead: a heap of deadlines
//! and one Linux timerfd armed for the earliest, registered with tokio's reactor. A timerfd is a
//! high-resolution kernel timer without the slack that epoll's own timeout gets, so the kernel
//! wakes the runtime thread waiting in epoll at the deadline itself: no helper thread and no
//! cross-thread wake-up, and one wake-up serves every deadline that has passed. Where no
//! timerfd can be made, tokio's sleep is used (and a warning logged).
//!
//! The contract: a sleep never ends before its deadline (checked against the monotonic clock
//! before it completes).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// The delays of one server. Starts its timerfd and the task that serves it on `start` (the
/// server calls it before it says ready) or else on the first sleep, in the runtime that call
/// runs in.
#[derive(Default)]
pub struct Timer {
    shared: OnceLock<Option<Arc<Shared>>>,
}

impl Timer {
    pub fn new() -> Timer {
        Timer::default()
    }

    fn shared(&self) -> Option<&Arc<Shared>> {
        self.shared
            .get_or_init(|| match Shared::start() {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "no timerfd: delays use tokio's millisecond timer");
                    None
                }
            })
            .as_ref()
    }

    /// Starts the timerfd and the task that serves it now, in the runtime this is called on,
    /// instead of on the first sleep; false where tokio's timer is used instead.
    pub fn start(&self) -> bool {
        self.shared().is_some()
    }

    /// Sleeps until `deadline`: never wakes before it, and on a quiet machine a few
    /// microseconds after.
    pub async fn sleep_until(&self, deadline: Instant) {
        if Instant::now() >= deadline {
            return;
        }
        match self.shared() {
            Some(shared) => Sleep { shared, deadline, entry: None }.await,
            None => Box::pin(tokio::time::sleep_until(deadline.into())).await,
        }
    }
}

/// One sleeper's place in the heap.
struct Entry {
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Sleep<'a> {
    shared: &'a Shared,
    deadline: Instant,
    entry: Option<Arc<Entry>>,
}

impl Future for Sleep<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.entry {
            Some(e) => {
                // Woken by something else (the connection): keep the waker current.
                let mut w = lock(&e.waker);
                if !w.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    *w = Some(cx.waker().clone());
                }
            }
            None => {
                let e = Arc::new(Entry { done: AtomicBool::new(false), waker: Mutex::new(Some(cx.waker().clone())) });
                self.shared.schedule(self.deadline, e.clone());
                self.entry = Some(e);
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        // A sleep dropped early (the client left) stays in the heap until its deadline; without
        // its waker it no longer keeps the connection's task alive meanwhile.
        if let Some(e) = &self.entry
            && !e.done.load(Ordering::Acquire)
        {
            lock(&e.waker).take();
        }
    }
}

struct Due(Instant, Arc<Entry>);

impl PartialEq for Due {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Due {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.cmp(&o.0)
    }
}

struct State {
    heap: BinaryHeap<Reverse<Due>>,
    /// The deadline the timerfd is set for, if any.
    armed: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

impl Shared {
    fn start() -> std::io::Result<Arc<Shared>> {
        use std::os::fd::FromRawFd;
        // SAFETY: timerfd_create takes two integer arguments and returns a new descriptor or -1.
        let raw = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we own from here on.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
        // SAFETY: an OwnedFd keeps its descriptor open, unchanged, until it is dropped with the
        // AsyncFd that owns it.
        let fd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        let shared = Arc::new(Shared { state: Mutex::new(State { heap: BinaryHeap::new(), armed: None }), fd });
        tokio::spawn(shared.clone().serve());
        Ok(shared)
    }

    fn schedule(&self, deadline: Instant, e: Arc<Entry>) {
        let mut st = lock(&self.state);
        st.heap.push(Reverse(Due(deadline, e)));
        if st.armed.is_none_or(|a| deadline < a) {
            st.armed = Some(deadline);
            self.arm(deadline);
        }
    }

    /// Sets the timerfd to go off at `deadline` (relative to now, so never before it).
    fn arm(&self, deadline: Instant) {
        use std::os::fd::AsRawFd;
        let d = deadline.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as libc::c_long },
        };
        // SAFETY: a valid timerfd and a fully initialised itimerspec; the old value is not asked for.
        let rc = unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        debug_assert_eq!(rc, 0, "timerfd_settime: {}", std::io::Error::last_os_error());
    }

    /// Wakes every sleeper whose deadline has passed, each time the timerfd goes off.
    async fn serve(self: Arc<Self>) {
        use std::os::fd::AsRawFd;
        let mut fire = Vec::new();
        loop {
            let Ok(mut ready) = self.fd.readable().await else { return };
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into an 8-byte buffer. EAGAIN (nothing expired since
            // the last read) is fine: the heap is looked at either way.
            unsafe { libc::read(self.fd.as_raw_fd(), expirations.as_mut_ptr().cast(), expirations.len()) };
            ready.clear_ready();
            {
                let mut st = lock(&self.state);
                let now = Instant::now();
                while st.heap.peek().is_some_and(|Reverse(d)| d.0 <= now) {
                    fire.push(st.heap.pop().expect("peeked").0.1);
                }
                st.armed = st.heap.peek().map(|Reverse(d)| d.0);
                if let Some(next) = st.armed {
                    self.arm(next);
                }
            }
            for e in fire.drain(..) {
                e.done.store(true, Ordering::Release);
                if let Some(w) = lock(&e.waker).take() {
                    w.wake();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn never_early(timer: Arc<Timer>) {
        let mut tasks = Vec::new();
        for i in 0..300u64 {
            let timer = timer.clone();
            tasks.push(tokio::spawn(async move {
                let d = Duration::from_micros(100 + (i * 7919) % 5000);
                let t = Instant::now();
                timer.sleep_until(t + d).await;
                (d, t.elapsed())
            }));
        }
        for t in tasks {
            let (asked, took) = t.await.unwrap();
            assert!(took >= asked, "slept {took:?} < {asked:?}");
            assert!(took < asked + Duration::from_secs(1), "slept {took:?} for {asked:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_wakes_before_the_deadline() {
        let timer = Arc::new(Timer::new());
        never_early(timer.clone()).await;
        assert!(timer.shared().is_some(), "the timerfd was used");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn never_wakes_before_the_deadline_on_one_thread() {
        never_early(Arc::new(Timer::new())).await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_sleep_lets_go_of_its_waker_and_the_heap_empties() {
        let timer = Timer::new();
        // Polled once by hand (so it is in the heap), then dropped, like a request whose client
        // left. No runtime timer races it, so a slow machine cannot make it finish first.
        let mut dropped = Box::pin(timer.sleep_until(Instant::now() + Duration::from_millis(50)));
        assert!(dropped.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_pending());
        drop(dropped);
        let shared = timer.shared().unwrap();
        {
            let st = lock(&shared.state);
            assert_eq!(st.heap.len(), 1);
            assert!(lock(&st.heap.peek().unwrap().0.1.waker).is_none(), "the dropped sleep's waker was released");
        }
        // The entry goes when the timerfd fires past its deadline. The serving task and this one
        // share the thread, and which runs first after a stall is the scheduler's choice, so the
        // test waits for the removal (bounded) instead of for a fixed time.
        let give_up = Instant::now() + Duration::from_secs(10);
        while !lock(&shared.state).heap.is_empty() {
            assert!(Instant::now() < give_up, "the expired entry was removed within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
