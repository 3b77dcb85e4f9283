//! Waiting for something to become true, with a deadline.
//!
//! Tests look from the outside (a file appears, a process answers, a task
//! reaches a state) and never sleep a fixed time hoping it happened; a wait
//! that runs out fails the test and says what it waited for.

use std::time::{Duration, Instant};

/// Polls `check` every 200 ms until it gives a value, or fails with `what`
/// after `secs`.
pub async fn until<T>(secs: u64, what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    match within(secs, check).await {
        Some(value) => value,
        None => panic!("timed out after {secs} s waiting for {what}"),
    }
}

/// Polls `check` every 200 ms until it gives a value, or gives `None` after
/// `secs`, for a test that has more to say when the wait runs out.
pub async fn within<T>(secs: u64, mut check: impl AsyncFnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`until`] for tests without a runtime: polls `check` every 50 ms, blocking
/// the thread.
pub fn until_blocking<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
