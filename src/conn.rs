//! Per-connection timeouts: header-read (slowloris) and idle keep-alive, for HTTP/1 and HTTP/2.
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection waits for its next
//! request, so it cannot be shorter than the idle timeout without closing idle connections
//! early, and a load balancer (ALB idles 60 s) reusing a connection the target already closed
//! answers 502. So both are tracked here: the I/O wrapper stamps reads, the service marks requests
//! busy, and one sweeper task per server looks at every connection a few times per timeout and
//! closes the ones whose started head stalled past the header-read timeout, or where nothing
//! happened for the idle timeout. One task for all connections instead of a task and a timer for
//! each: a connection costs its `Activity` (about 100 bytes) and nothing per request.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// The two timeouts (`--header-read-timeout`, `--idle-timeout`), both positive.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// A started request head must be complete within this.
    pub header_read: Duration,
    /// A connection with nothing in flight is closed after this.
    pub idle: Duration,
}

/// What the sweeper knows of one connection. Times are milliseconds since `epoch` (+1, so 0
/// can mean "none").
pub struct Activity {
    epoch: Instant,
    active: AtomicUsize,
    last_io: AtomicU64,
    head_started: AtomicU64,
    /// HTTP/2 has no request heads to time between requests (pings and window updates flow
    /// while idle), so only the idle rule applies. Set once the protocol is known.
    http2: AtomicBool,
    /// Set by the sweeper; the connection's task then ends, which closes the connection.
    expired: AtomicBool,
    /// The connection task's waker, stored on its first poll (a task's waker stays valid).
    task: Mutex<Option<Waker>>,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            active: AtomicUsize::new(0),
            last_io: AtomicU64::new(1),
            head_started: AtomicU64::new(0),
            http2: AtomicBool::new(false),
            expired: AtomicBool::new(false),
            task: Mutex::new(None),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn on_read(&self) {
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if !self.http2.load(Ordering::Relaxed)
            && self.active.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started.store(now, Ordering::Relaxed);
        }
    }

    pub fn set_http2(&self, http2: bool) {
        self.http2.store(http2, Ordering::Relaxed);
    }

    /// Marks a request in service until the guard drops.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Why the connection should be closed now, if it should: never while a request is in
    /// service, and never before a timeout has fully passed.
    fn overdue(&self, header_read: u64, idle: u64) -> Option<&'static str> {
        if self.active.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.now();
        let head = self.head_started.load(Ordering::Relaxed);
        if head != 0 {
            (now >= head + header_read).then_some("header read timeout")
        } else {
            (now >= self.last_io.load(Ordering::Relaxed) + idle).then_some("idle timeout")
        }
    }

    fn expire(&self) {
        self.expired.store(true, Ordering::Release);
        if let Some(w) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            w.wake();
        }
    }

    /// Resolves once the sweeper has expired the connection: run the connection beside it
    /// (`select!`) and drop it when this wins. Costs one atomic load per wake-up of the task.
    pub fn expiry(&self) -> Expiry<'_> {
        Expiry { activity: self, registered: false }
    }
}

pub struct Expiry<'a> {
    activity: &'a Activity,
    registered: bool,
}

impl Future for Expiry<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let a = self.activity;
        if a.expired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        if !self.registered {
            *a.task.lock().unwrap_or_else(|p| p.into_inner()) = Some(cx.waker().clone());
            self.registered = true;
            // The sweeper may have expired it between the check and the store.
            if a.expired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let a = &self.0;
        a.last_io.store(a.now(), Ordering::Relaxed);
        a.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every open connection of a server, and the task that closes the overdue ones.
pub struct Watchdog {
    connections: Mutex<Vec<Weak<Activity>>>,
    header_read: Duration,
    idle: Duration,
}

impl Watchdog {
    pub fn new(t: &Timeouts) -> Arc<Watchdog> {
        Arc::new(Watchdog { connections: Mutex::new(Vec::new()), header_read: t.header_read, idle: t.idle })
    }

    pub fn watch(&self, activity: &Arc<Activity>) {
        self.connections.lock().unwrap_or_else(|p| p.into_inner()).push(Arc::downgrade(activity));
    }

    /// How often to look: a tenth of the shorter timeout (5 ms to 1 s), so a connection is
    /// closed between its timeout and 10 % after it.
    fn period(&self) -> Duration {
        (self.header_read.min(self.idle) / 10).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }

    /// Looks at every connection once per period until the task is aborted; forgets the ones
    /// that have closed.
    pub async fn sweep(self: Arc<Self>) {
        let (header_read, idle) = (self.header_read.as_millis() as u64, self.idle.as_millis() as u64);
        let mut tick = tokio::time::interval(self.period());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
            connections.retain(|c| {
                let Some(a) = c.upgrade() else { return false };
                match a.overdue(header_read, idle) {
                    Some(why) => {
                        tracing::debug!(reason = why, "closing connection");
                        a.expire();
                        false
                    }
                    None => true,
                }
            });
        }
    }
}

/// A stream that reports reads to its connection's `Activity`.
pub struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
