//! Per-connection timeouts: header-read (slowloris) and idle keep-alive, for HTTP/1 and HTTP/2.
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection waits for its next
//! request, so it cannot be shorter than the idle timeout without closing idle connections
//! early, and a load balancer (ALB idles 60 s) reusing a connection the target already closed
//! answers 502. So both are tracked here: the I/O wrapper stamps reads, the service marks requests
//! busy, and a watchdog closes the connection when a started head stalls past the header-read
//! timeout, or when nothing happened for the idle timeout.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What the watchdog knows of one connection. Times are milliseconds since `epoch` (+1, so 0
/// can mean "none").
pub struct Activity {
    epoch: Instant,
    active: AtomicUsize,
    last_io: AtomicU64,
    head_started: AtomicU64,
    /// HTTP/2 has no request heads to time between requests (pings and window updates flow
    /// while idle), so only the idle rule applies. Set once the protocol is known.
    http2: AtomicBool,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            epoch: Instant::now(),
            active: AtomicUsize::new(0),
            last_io: AtomicU64::new(1),
            head_started: AtomicU64::new(0),
            http2: AtomicBool::new(false),
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

    /// Resolves when the connection should be closed; says why.
    ///
    /// Nothing wakes the watchdog when a head starts (that would cost a wake-up and a timer
    /// re-arm per request); instead, while no head is pending it looks again at least every
    /// header-read timeout, so a stalled head is closed after one to two times that timeout.
    pub async fn expired(&self, header_read: Duration, idle: Duration) -> &'static str {
        let (header_read, idle) = (header_read.as_millis() as u64, idle.as_millis() as u64);
        loop {
            let now = self.now();
            let head = self.head_started.load(Ordering::Relaxed);
            let (deadline, why) = if self.active.load(Ordering::Relaxed) > 0 {
                (now + idle, "")
            } else if head != 0 {
                (head + header_read, "header read timeout")
            } else {
                (self.last_io.load(Ordering::Relaxed) + idle, "idle timeout")
            };
            if now >= deadline && !why.is_empty() {
                return why;
            }
            let look_again = if head == 0 { deadline.min(now + header_read) } else { deadline };
            tokio::time::sleep_until(self.epoch + Duration::from_millis(look_again.saturating_sub(1))).await;
        }
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
