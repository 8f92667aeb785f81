//! Carrying out a request's knobs: burning CPU time.
//!
//! Design: a burn runs on tokio's blocking pool, one thread per burning request, and spins
//! until that *thread's* CPU clock (CLOCK_THREAD_CPUTIME_ID) has advanced by the amount asked.
//! So a request gets the CPU time it asked for however many share the cores: when burns
//! outnumber cores, the kernel time-slices them and each takes longer in wall time, which is how
//! a CPU-bound service degrades (and what CPU-target autoscalers see). The async workers never
//! burn, so probes, /metrics and sleeping requests keep answering while cores are saturated.
//! A burn whose client went away stops at its next check (every ~50 µs of spinning).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// CPU time consumed by the calling thread.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into the valid pointer we pass.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Spins on the current thread until it has used `amount` of CPU time or `cancel` is set.
/// Returns the CPU time actually burnt.
pub fn burn_here(amount: Duration, cancel: &AtomicBool) -> Duration {
    let start = thread_cpu_time();
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    loop {
        let used = thread_cpu_time().saturating_sub(start);
        if used >= amount || cancel.load(Ordering::Relaxed) {
            return used;
        }
        // ~50 µs of arithmetic between clock reads keeps the syscall share negligible.
        let until = Instant::now() + Duration::from_micros(50);
        while Instant::now() < until {
            for _ in 0..64 {
                x = black_box(x.rotate_left(5) ^ x.wrapping_mul(0x2545_f491_4f6c_dd1d));
            }
        }
    }
}

/// Sets the flag when dropped: a request future that is dropped stops its burn.
pub struct CancelOnDrop(pub Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Burns `amount` of CPU time on the blocking pool; returns the wall time it took.
pub async fn burn(amount: Duration) -> Duration {
    if amount.is_zero() {
        return Duration::ZERO;
    }
    let cancel = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancel.clone());
    let started = Instant::now();
    let _ = tokio::task::spawn_blocking(move || burn_here(amount, &cancel)).await;
    started.elapsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burns_at_least_the_cpu_time_asked() {
        let never = AtomicBool::new(false);
        let before = thread_cpu_time();
        let used = burn_here(Duration::from_millis(30), &never);
        assert!(used >= Duration::from_millis(30));
        assert!(thread_cpu_time() - before >= Duration::from_millis(30));
    }

    #[test]
    fn a_cancelled_burn_stops() {
        let cancelled = AtomicBool::new(true);
        assert!(burn_here(Duration::from_secs(10), &cancelled) < Duration::from_secs(1));
    }
}
