//! The wall clock as the agent reads it: time since the Unix epoch, for the
//! spool's time marks, a re-attached container's time already run and the
//! timestamps of a task made without a hub.
//!
//! One place, so every file reads it the same way: a clock set before 1970
//! reads as the epoch rather than failing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    since_epoch().as_millis() as i64
}

/// Nanoseconds since the Unix epoch.
pub fn now_nanos() -> i128 {
    since_epoch().as_nanos() as i128
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_units_read_the_same_clock() {
        let ms = now_ms();
        let nanos = now_nanos();
        // After 2020, and the two readings within a second of each other.
        assert!(ms > 1_577_836_800_000);
        assert!((nanos / 1_000_000 - i128::from(ms)).abs() < 1_000);
    }
}
