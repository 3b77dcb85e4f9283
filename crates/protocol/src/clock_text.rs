//! Times as people read them in messages: UTC, no time zone database.
//!
//! The hub and the CLI say when things happened in sentences ("removed at
//! 2026-12-06 14:03 UTC", "offline since 14:03:22 UTC, 12 min ago"); one
//! calendar conversion serves them all, so it is written once here.

use crate::wire::Millis;

/// A moment in UTC, split into its calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime {
    /// The year, e.g. 2026.
    pub year: i64,
    /// 1 to 12.
    pub month: i64,
    /// 1 to 31.
    pub day: i64,
    /// 0 to 23.
    pub hour: i64,
    /// 0 to 59.
    pub minute: i64,
    /// 0 to 59.
    pub second: i64,
}

impl UtcTime {
    /// The moment `ms` milliseconds after the Unix epoch (earlier for negative).
    pub fn from_millis(ms: Millis) -> UtcTime {
        let secs = ms.div_euclid(1000);
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Days since 1970-01-01 to a civil date (Howard Hinnant's civil_from_days).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        UtcTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rest / 3600,
            minute: rest % 3600 / 60,
            second: rest % 60,
        }
    }

    /// `2026-12-06 14:03 UTC`.
    pub fn to_minute(self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }

    /// `2026-12-06 14:03:22 UTC`.
    pub fn to_second(self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// How long ago `at_ms` was at `now_ms`, roughly: `45 s ago`, `12 min ago`,
/// `3 h ago`, `4 days ago`.
pub fn ago(at_ms: Millis, now_ms: Millis) -> String {
    let ago = (now_ms - at_ms).max(0) / 1000;
    match ago {
        0..=119 => format!("{ago} s ago"),
        120..=7199 => format!("{} min ago", ago / 60),
        7200..=172_799 => format!("{} h ago", ago / 3600),
        _ => format!("{} days ago", ago / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_fields_and_texts() {
        // 2026-12-06 14:03:22 UTC
        let t = UtcTime::from_millis(1_796_565_802_000);
        assert_eq!(t.to_second(), "2026-12-06 14:03:22 UTC");
        assert_eq!(t.to_minute(), "2026-12-06 14:03 UTC");
        assert_eq!(
            UtcTime::from_millis(0).to_second(),
            "1970-01-01 00:00:00 UTC"
        );
        assert_eq!(
            UtcTime::from_millis(-1).to_second(),
            "1969-12-31 23:59:59 UTC"
        );
        // A leap day.
        assert_eq!(
            UtcTime::from_millis(951_782_400_000).to_minute(),
            "2000-02-29 00:00 UTC"
        );
        assert_eq!(ago(0, 45_000), "45 s ago");
        assert_eq!(ago(0, 12 * 60_000), "12 min ago");
        assert_eq!(ago(0, 3 * 3_600_000), "3 h ago");
        assert_eq!(ago(0, 4 * 86_400_000), "4 days ago");
        assert_eq!(ago(10, 0), "0 s ago");
    }
}
