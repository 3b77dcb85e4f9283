//! How the agent waits between tries of something that failed for a reason
//! that may pass (the hub unreachable, a 5xx, a disk hiccup).
//!
//! Exponential backoff with full jitter: every agent that lost the hub at the
//! same moment retries at a different one, so a hub that comes back is not
//! met by all of them at once.

use std::time::Duration;

/// The first wait's ceiling.
const FIRST: Duration = Duration::from_millis(250);
/// The longest wait.
const LONGEST: Duration = Duration::from_secs(30);

/// Exponential backoff with jitter, from 250 ms up to 30 s; each wait is
/// drawn between half its ceiling and the ceiling.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The next wait.
    pub fn wait(&mut self) -> Duration {
        use rand::Rng;
        let first = FIRST.as_millis() as u64;
        let ceiling = (first << self.failures.min(7)).min(LONGEST.as_millis() as u64);
        self.failures += 1;
        Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
    }

    /// Back to the shortest wait after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut backoff = Backoff::default();
        let first = backoff.wait();
        assert!(first <= Duration::from_millis(250));
        for _ in 0..20 {
            assert!(backoff.wait() <= Duration::from_secs(30));
        }
        backoff.reset();
        assert!(backoff.wait() <= Duration::from_millis(250));
    }
}
