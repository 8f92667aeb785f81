//! hyper-floor: the least a hyper/tokio server can do for delay-echo's core job (wait, then
//! answer 200), so `make bench` can show what the stack itself costs beside what delay-echo adds.
//!
//! No admission, metrics, knobs, watchdog, headers or precise timer: HTTP/1.1 keep-alive, one
//! `tokio::time::sleep`, a 3-byte body. Same runtime choice as delay-echo on one core
//! (current-thread), same listen backlog, and the same return of freed memory after many
//! connections have closed (`delay_echo::memory`), since that sets what hyper's buffers cost
//! across waves of connections. Configured like the reference servers: PORT, DELAY_MS (default
//! 80; 0 answers at once).

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080);
    let delay = Duration::from_millis(std::env::var("DELAY_MS").ok().and_then(|d| d.parse().ok()).unwrap_or(80));
    let listener = delay_echo::server::bind(([127, 0, 0, 1], port).into())?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(serve(listener, delay))
}

/// Serves on `listener` until an accept fails; also what tests/allocations.rs measures as the
/// floor, so the figure there is this very server's.
pub async fn serve(listener: std::net::TcpListener, delay: Duration) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    // (open, closed since the last look)
    let counts = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    tokio::spawn({
        let counts = counts.clone();
        async move {
            let mut trim = delay_echo::memory::TrimAfterClosing::default();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let closed = counts.1.swap(0, Ordering::Relaxed);
                if trim.closed(closed, counts.0.load(Ordering::Relaxed)) {
                    delay_echo::memory::release_freed();
                }
            }
        }
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let counts = counts.clone();
        counts.0.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let svc = service_fn(move |_req: Request<hyper::body::Incoming>| async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok\n"))))
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
            counts.0.fetch_sub(1, Ordering::Relaxed);
            counts.1.fetch_add(1, Ordering::Relaxed);
        });
    }
}
