//! Sleeping for a request's delay.
//!
//! One place for it, so the timer behind every delay can be tuned without touching handlers.
//! The contract: a sleep never ends before its duration has passed.

use std::time::Duration;

pub async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
