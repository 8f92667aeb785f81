//! Handing freed heap memory back to the system after many connections have closed.
//!
//! hyper gives every HTTP/1 connection a read and a write buffer, and a fresh process touches
//! only the first page or so of each. When connections close, glibc keeps their pages; the next
//! wave is carved out of that memory at other offsets and touches pages the first wave never
//! did, so resident memory grows with every wave (hyper alone shows the same; figures in
//! bench/README.md, "Memory per connection"). `malloc_trim` returns the free pages, and each
//! wave then costs what the first did. It holds the allocator's lock while it works, so it runs
//! only after many connections have closed: a task looks once a second at how many have closed
//! (accepted minus open, from the metrics).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// Returns free heap pages to the system (glibc); a no-op elsewhere.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes a padding argument and only releases memory no allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims after many connections have closed, until the task is aborted (at shutdown).
pub async fn trim_after_closing(metrics: Arc<Metrics>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut trim = TrimAfterClosing::default();
    let mut closed_before = 0;
    loop {
        tick.tick().await;
        let open = metrics.open_connections.get().max(0) as usize;
        let closed = (metrics.connections.get() as usize).saturating_sub(open);
        if trim.closed(closed - closed_before.min(closed), open) {
            let started = Instant::now();
            release_freed();
            tracing::debug!(took = ?started.elapsed(), open, "returned freed memory after connections closed");
        }
        closed_before = closed;
    }
}

/// Connections closed since the last trim that make another worth its pause: at least this
/// many, and more than are still open (a wave has ended, or connections churn).
const CLOSED_BEFORE_TRIM: usize = 1024;

/// Counts closed connections and says when to trim.
#[derive(Default)]
pub struct TrimAfterClosing {
    closed: usize,
}

impl TrimAfterClosing {
    /// Records `closed` more closed connections with `open` still open; true when it is time to
    /// call `release_freed` (the count then starts again).
    pub fn closed(&mut self, closed: usize, open: usize) -> bool {
        self.closed += closed;
        if self.closed >= CLOSED_BEFORE_TRIM && self.closed > open {
            self.closed = 0;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_wave_ends_not_while_connections_stay_open() {
        let mut t = TrimAfterClosing::default();
        // Steady load: a few connections close now and then, thousands stay open.
        for _ in 0..100 {
            assert!(!t.closed(5, 10_000));
        }
        // The wave ends: most of them close at once.
        assert!(t.closed(9_000, 1_500));
        // The count starts again.
        assert!(!t.closed(10, 0));
        // Churn without keep-alive: many open and close, few stay open.
        assert!(!t.closed(1_000, 20));
        assert!(t.closed(100, 20));
    }

    /// Resident memory of this process, in bytes.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        // SAFETY: sysconf only reads a system constant.
        pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn release_freed_returns_the_pages_of_freed_connections_buffers() {
        // Buffers like a connection's, under glibc's mmap threshold, so they come from the heap;
        // one in 16 stays allocated, so every freed run lies between live ones, where free()
        // keeps its pages (it gives back only the heap's top).
        const BUFFER: usize = 16 << 10;
        const BUFFERS: usize = 2048;
        let mut buffers: Vec<Vec<u8>> = (0..BUFFERS).map(|_| vec![1u8; BUFFER]).collect();
        let mut i = 0;
        buffers.retain(|_| {
            i += 1;
            i % 16 == 0
        });
        let freed = BUFFERS / 16 * 15 * BUFFER;
        let before = resident();
        release_freed();
        let after = resident();
        drop(buffers);
        assert!(
            before.saturating_sub(after) >= freed / 2,
            "{} KiB resident before, {} KiB after; {} KiB were freed",
            before >> 10,
            after >> 10,
            freed >> 10
        );
    }
}
