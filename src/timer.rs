//! Sleeping for a request's delay, to a tenth of a millisecond.
//!
//! tokio's timer wheel has millisecond slots and rounds every deadline up to the next one, so
//! an 80 ms sleep ends anywhere from 80 to 81+ ms: up to a millisecond of noise in exactly the
//! figure this service exists to control. So a sleep is split: tokio's wheel carries it to
//! about 2 ms before the deadline (cheap, scales to any number of sleepers), then one timer
//! thread, with its timer slack set to 1 µs, wakes the request at the deadline. That thread
//! only ever holds the sleeps due in the next ~2 ms, and it batches what falls due together.
//!
//! The contract: a sleep never ends before its deadline (checked against the monotonic clock
//! before every wake).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Sleeps shorter than this go to the precise thread directly.
const HANDOVER: Duration = Duration::from_millis(2);

pub async fn sleep(d: Duration) {
    if d.is_zero() {
        return;
    }
    let deadline = Instant::now() + d;
    if d > HANDOVER {
        tokio::time::sleep_until((deadline - HANDOVER).into()).await;
    }
    Precise { deadline, entry: None }.await;
}

struct Entry {
    done: std::sync::atomic::AtomicBool,
    waker: Mutex<Option<Waker>>,
}

struct Precise {
    deadline: Instant,
    entry: Option<Arc<Entry>>,
}

impl Future for Precise {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        use std::sync::atomic::Ordering;
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        match &self.entry {
            Some(e) => {
                if e.done.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
                *e.waker.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
                // The thread may have fired between the check and the store.
                if e.done.load(Ordering::Acquire) {
                    return Poll::Ready(());
                }
            }
            None => {
                let e = Arc::new(Entry {
                    done: std::sync::atomic::AtomicBool::new(false),
                    waker: Mutex::new(Some(cx.waker().clone())),
                });
                thread().schedule(self.deadline, e.clone());
                self.entry = Some(e);
            }
        }
        Poll::Pending
    }
}

struct TimerThread {
    heap: Mutex<BinaryHeap<Reverse<Due>>>,
    wake: Condvar,
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

fn thread() -> &'static TimerThread {
    static T: OnceLock<&'static TimerThread> = OnceLock::new();
    T.get_or_init(|| {
        let t: &'static TimerThread =
            Box::leak(Box::new(TimerThread { heap: Mutex::new(BinaryHeap::new()), wake: Condvar::new() }));
        std::thread::Builder::new().name("delay-echo-timer".into()).spawn(move || t.run()).expect("spawn timer thread");
        t
    })
}

impl TimerThread {
    fn schedule(&self, deadline: Instant, e: Arc<Entry>) {
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        let earliest = heap.peek().is_none_or(|Reverse(d)| deadline < d.0);
        heap.push(Reverse(Due(deadline, e)));
        drop(heap);
        if earliest {
            self.wake.notify_one();
        }
    }

    fn run(&self) {
        // Linux adds up to 50 µs of "slack" to a normal thread's timed waits; 1 µs here.
        // SAFETY: prctl with PR_SET_TIMERSLACK takes an integer argument and affects this thread.
        #[cfg(target_os = "linux")]
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
        let mut fire = Vec::new();
        let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let now = Instant::now();
            while heap.peek().is_some_and(|Reverse(d)| d.0 <= now) {
                fire.push(heap.pop().expect("peeked").0.1);
            }
            let next = heap.peek().map(|Reverse(d)| d.0);
            if !fire.is_empty() {
                drop(heap);
                for e in fire.drain(..) {
                    e.done.store(true, std::sync::atomic::Ordering::Release);
                    if let Some(w) = e.waker.lock().unwrap_or_else(|p| p.into_inner()).take() {
                        w.wake();
                    }
                }
                heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
                continue;
            }
            heap = match next {
                None => self.wake.wait(heap).unwrap_or_else(|p| p.into_inner()),
                Some(at) => self.wake.wait_timeout(heap, at - now).unwrap_or_else(|p| p.into_inner()).0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_wakes_before_the_deadline() {
        let mut tasks = Vec::new();
        for i in 0..300u64 {
            tasks.push(tokio::spawn(async move {
                let d = Duration::from_micros(100 + (i * 7919) % 5000);
                let t = Instant::now();
                sleep(d).await;
                (d, t.elapsed())
            }));
        }
        for t in tasks {
            let (asked, took) = t.await.unwrap();
            assert!(took >= asked, "slept {took:?} < {asked:?}");
        }
    }
}
