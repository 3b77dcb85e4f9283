//! Quiet hours: the weekly windows in which the person wants the computer
//! left alone, like BOINC's start and end hour per weekday.
//!
//! A spec is `DAYS HH:MM-HH:MM`: days `mon`…`sun` as a range (`mon-fri`),
//! a comma list (`sat,sun`) or both (`mon,wed-fri`); times from `00:00` to
//! `24:00`. An end before the start crosses midnight (`fri 22:00-07:00`
//! holds from Friday 22:00 to Saturday 07:00); the days name the day a
//! window starts. Without days a window holds every day. Time is local
//! time, read from an injectable clock so the maths is tested on made-up
//! moments.

use chrono::{Datelike, Duration, NaiveDateTime, NaiveTime};

/// The day names, Monday first (chrono's `num_days_from_monday`).
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One quiet-hours window, parsed from its spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHours {
    /// The days on which a window starts, Monday first.
    days: [bool; 7],
    /// Start, minutes after midnight (0..1440).
    start: u32,
    /// End, minutes after midnight (1..=1440); at or before `start` it is the next day's.
    end: u32,
}

/// A spec that cannot be read, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(String);

impl QuietHours {
    /// Reads a spec such as `mon-fri 09:00-18:00`.
    pub fn parse(spec: &str) -> Result<QuietHours, SpecError> {
        let words: Vec<&str> = spec.split_whitespace().collect();
        let (days, times) = match words.as_slice() {
            [times] if times.starts_with(|c: char| c.is_ascii_digit()) => ([true; 7], *times),
            [days, times] => (parse_days(days)?, *times),
            _ => {
                return Err(SpecError(
                    "write the days, a space and the hours, e.g. mon-fri 09:00-18:00".into(),
                ));
            }
        };
        let Some((start, end)) = times.split_once('-') else {
            return Err(SpecError(format!(
                "{times} is not a span of hours; write e.g. 09:00-18:00"
            )));
        };
        let (start, end) = (parse_time(start)?, parse_time(end)?);
        if start == 1440 {
            return Err(SpecError(
                "a window cannot start at 24:00; write 00:00".into(),
            ));
        }
        if start == end {
            return Err(SpecError(format!(
                "{times} starts and ends at the same time; for a whole day write 00:00-24:00"
            )));
        }
        let end = if end == 0 { 1440 } else { end };
        Ok(QuietHours { days, start, end })
    }

    /// When the window holding `now` ends, or `None` outside every window.
    pub fn until(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        // A window that crosses midnight may have started yesterday.
        [now.date() - Duration::days(1), now.date()]
            .into_iter()
            .filter(|day| self.days[day.weekday().num_days_from_monday() as usize])
            .filter_map(|day| {
                let midnight = day.and_time(NaiveTime::MIN);
                let start = midnight + Duration::minutes(i64::from(self.start));
                let mut end = midnight + Duration::minutes(i64::from(self.end));
                if self.end <= self.start {
                    end += Duration::days(1);
                }
                (start <= now && now < end).then_some(end)
            })
            .max()
    }
}

/// When the quiet hours holding `now` end (the latest end of the windows
/// holding it), or `None` outside them all.
pub fn quiet_until(windows: &[QuietHours], now: NaiveDateTime) -> Option<NaiveDateTime> {
    let mut until = windows.iter().filter_map(|w| w.until(now)).max()?;
    // Windows that touch or overlap hold as one: "until" is where they all end.
    while let Some(later) = windows
        .iter()
        .filter_map(|w| w.until(until))
        .max()
        .filter(|later| *later > until)
    {
        until = later;
        if until - now > Duration::days(7) {
            return Some(until); // `mon-sun 00:00-24:00`: always.
        }
    }
    Some(until)
}

/// The reason the person reads: "quiet hours until 18:00".
pub fn reason(until: NaiveDateTime, now: NaiveDateTime) -> String {
    if until - now >= Duration::days(7) {
        "quiet hours".into()
    } else {
        format!("quiet hours until {}", until.format("%H:%M"))
    }
}

fn parse_days(text: &str) -> Result<[bool; 7], SpecError> {
    let mut days = [false; 7];
    for part in text.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((first, last)) => (day(first)?, day(last)?),
            None => (day(part)?, day(part)?),
        };
        // A range may wrap around the week: `fri-mon`.
        let mut d = first;
        loop {
            days[d] = true;
            if d == last {
                break;
            }
            d = (d + 1) % 7;
        }
    }
    Ok(days)
}

fn day(name: &str) -> Result<usize, SpecError> {
    let lower = name.trim().to_ascii_lowercase();
    DAYS.iter()
        .zip(FULL_DAYS)
        .position(|(short, full)| lower == *short || lower == full)
        .ok_or_else(|| {
            SpecError(format!(
                "{name} is not a day; write mon, tue, wed, thu, fri, sat or sun"
            ))
        })
}

/// The days' full English names, Monday first.
const FULL_DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// `HH:MM` (or `H`), as minutes after midnight; `24:00` is 1440.
fn parse_time(text: &str) -> Result<u32, SpecError> {
    let bad = || {
        SpecError(format!(
            "{text} is not a time of day; write HH:MM from 00:00 to 24:00"
        ))
    };
    let (hours, minutes) = text.split_once(':').unwrap_or((text, "0"));
    let hours: u32 = hours.parse().map_err(|_| bad())?;
    let minutes: u32 = minutes.parse().map_err(|_| bad())?;
    if minutes >= 60 || hours > 24 || (hours == 24 && minutes != 0) {
        return Err(bad());
    }
    Ok(hours * 60 + minutes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    /// 2026-12-07 is a Monday.
    fn at(day: u32, hh: u32, mm: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, day)
            .unwrap()
            .and_hms_opt(hh, mm, 0)
            .unwrap()
    }

    #[test]
    fn office_hours_on_weekdays() {
        let w = QuietHours::parse("mon-fri 09:00-18:00").unwrap();
        assert_eq!(w.until(at(7, 9, 0)), Some(at(7, 18, 0)));
        assert_eq!(w.until(at(11, 17, 59)), Some(at(11, 18, 0)));
        assert_eq!(w.until(at(7, 8, 59)), None);
        assert_eq!(w.until(at(7, 18, 0)), None, "the end is not inside");
        assert_eq!(w.until(at(12, 10, 0)), None, "Saturday");
        assert_eq!(
            reason(at(7, 18, 0), at(7, 10, 0)),
            "quiet hours until 18:00"
        );
    }

    #[test]
    fn a_window_crosses_midnight_from_its_start_day() {
        let w = QuietHours::parse("fri 22:00-07:00").unwrap();
        assert_eq!(w.until(at(11, 23, 0)), Some(at(12, 7, 0)));
        assert_eq!(
            w.until(at(12, 6, 59)),
            Some(at(12, 7, 0)),
            "Saturday morning"
        );
        assert_eq!(
            w.until(at(12, 23, 0)),
            None,
            "Saturday night is not Friday's"
        );
        assert_eq!(
            w.until(at(11, 6, 0)),
            None,
            "Friday morning: Thursday's would be"
        );
    }

    #[test]
    fn lists_ranges_and_every_day() {
        let w = QuietHours::parse("sat,SUN 00:00-24:00").unwrap();
        assert_eq!(w.until(at(13, 12, 0)), Some(at(14, 0, 0)));
        assert_eq!(w.until(at(7, 12, 0)), None);
        let w = QuietHours::parse("fri-mon 1-2").unwrap();
        assert!(w.until(at(7, 1, 30)).is_some() && w.until(at(8, 1, 30)).is_none());
        let w = QuietHours::parse("12:00-13:00").unwrap();
        assert!((7..14).all(|d| w.until(at(d, 12, 30)).is_some()));
        assert!(QuietHours::parse("monday,wednesday 08:00-09:00").is_ok());
    }

    #[test]
    fn touching_windows_hold_as_one_and_always_is_always() {
        let windows = [
            QuietHours::parse("mon 20:00-24:00").unwrap(),
            QuietHours::parse("tue 00:00-08:00").unwrap(),
        ];
        assert_eq!(quiet_until(&windows, at(7, 21, 0)), Some(at(8, 8, 0)));
        let always = [QuietHours::parse("mon-sun 00:00-24:00").unwrap()];
        let until = quiet_until(&always, at(9, 3, 0)).unwrap();
        assert_eq!(reason(until, at(9, 3, 0)), "quiet hours");
        assert_eq!(quiet_until(&windows, at(8, 9, 0)), None);
    }

    #[test]
    fn bad_specs_say_what_to_write() {
        for (spec, says) in [
            ("mon-fry 09:00-18:00", "fry is not a day"),
            ("mon-fri 9am-6pm", "9am is not a time of day"),
            ("mon-fri 09:00-25:00", "25:00 is not a time of day"),
            ("mon-fri 09:00", "not a span of hours"),
            ("mon-fri", "write the days, a space and the hours"),
            (
                "mon fri 09:00-18:00",
                "write the days, a space and the hours",
            ),
            ("mon 09:00-09:00", "00:00-24:00"),
            ("mon 24:00-02:00", "cannot start at 24:00"),
            ("", "write the days"),
        ] {
            let error = QuietHours::parse(spec).unwrap_err().to_string();
            assert!(error.contains(says), "{spec}: {error}");
        }
    }
}
