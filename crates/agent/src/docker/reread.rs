//! Reading a container's output back from the engine's log, for a container
//! the agent was not attached to all along: after the agent was killed, or
//! after the engine restarted under it.
//!
//! Docker's `logs --follow` can miss lines when it starts on a busy container,
//! so it is not used. Instead the log is read whole once (where the agent left
//! off is found by counting each stream's bytes: the spool knows how many it
//! holds), then polled by its last entries, each entry placed by its timestamp
//! (per stream, Docker's timestamps never go back; the pieces of one long
//! line share one). A poll whose window does not reach back to output already
//! taken is read again, wider, so no entry can fall between two polls. When
//! the container has exited, a last whole read proves the result: each
//! stream's bytes taken here must equal Docker's, in length and SHA-256.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::executor::Stream;
use crate::executor::StreamCounts;

/// One entry of the engine's log.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) stream: Stream,
    /// Nanoseconds since the epoch.
    pub(crate) at: i128,
    pub(crate) payload: Bytes,
}

impl Entry {
    /// Splits `2026-11-23T10:00:00.123456789Z payload` as Docker sends it
    /// with `timestamps=true`.
    pub(crate) fn parse(stream: Stream, message: Bytes) -> Option<Entry> {
        let space = message.iter().position(|&b| b == b' ')?;
        let at = parse_timestamp(&message[..space])?;
        Some(Entry {
            stream,
            at,
            payload: message.slice(space + 1..),
        })
    }
}

/// What the re-reading has taken of one container's output.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    /// Where each stream's output already in the spool ends (it came before).
    skip: StreamCounts,
    /// Where each stream's output taken so far ends.
    taken: StreamCounts,
    /// Per stream: the newest timestamp taken, and how many entries carry it.
    last: [Option<(i128, u64)>; 2],
    /// Per stream: whether the newest entry taken ends a line. Only the
    /// pieces of one long line share a timestamp, so after a whole line no
    /// new entry can carry the same one.
    whole_line: [bool; 2],
    /// Per stream: SHA-256 of the bytes taken here (after `skip`).
    digest: [Sha256; 2],
}

/// How one read of the log went.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    /// Per stream, in the order read: whether an entry older than the newest
    /// taken was seen (the window reaches back far enough).
    older: [bool; 2],
    /// Per stream: entries carrying the newest taken timestamp, seen so far.
    ties: [u64; 2],
    /// Whether the first entry was checked.
    anchored: bool,
    /// Each stream's bytes in a whole read.
    position: StreamCounts,
    /// SHA-256 of Docker's bytes after `skip`, in a whole read.
    docker: Option<[Sha256; 2]>,
    /// Entries that were new.
    pub(crate) new_entries: u64,
}

/// A tail read that must be done again with a wider window.
#[derive(Debug)]
pub(crate) struct TooShort;

fn index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl Ledger {
    /// Starts after `skip` bytes of each stream.
    pub(crate) fn new(skip: StreamCounts) -> Ledger {
        Ledger {
            skip,
            taken: skip,
            last: [None, None],
            whole_line: [false, false],
            digest: [Sha256::new(), Sha256::new()],
        }
    }

    /// Each stream's bytes, up to where the ledger has taken them.
    pub(crate) fn taken(&self) -> StreamCounts {
        self.taken
    }

    /// Starts a read of the whole log (`tail=all`).
    pub(crate) fn whole(&self) -> Pass {
        Pass {
            docker: Some([Sha256::new(), Sha256::new()]),
            ..Pass::default()
        }
    }

    /// Starts a read of the log's last entries.
    pub(crate) fn tail(&self) -> Pass {
        Pass::default()
    }

    /// Takes one entry of a read; returns the bytes that are new, in order.
    /// A tail read fails when it cannot tell whether the entry is new.
    pub(crate) fn take(&mut self, pass: &mut Pass, entry: &Entry) -> Result<Bytes, TooShort> {
        let i = index(entry.stream);
        let length = entry.payload.len() as u64;
        let new = if let Some(docker) = &mut pass.docker {
            // A whole read: each stream's byte position decides.
            let start = pass.position.get(entry.stream);
            pass.position.add(entry.stream, length);
            let skip = self.skip.get(entry.stream);
            if start + length > skip {
                let from = skip.saturating_sub(start) as usize;
                docker[i].update(&entry.payload[from..]);
            }
            let taken = self.taken.get(entry.stream);
            if start + length <= taken {
                self.note(entry);
                return Ok(Bytes::new());
            }
            entry.payload.slice(taken.saturating_sub(start) as usize..)
        } else {
            // A tail read: timestamps decide.
            let last = self.last[i];
            if !pass.anchored {
                pass.anchored = true;
                // The window must begin with an entry taken before, or an
                // untaken one could lie just before it.
                if last.is_none_or(|(at, _)| entry.at >= at) {
                    return Err(TooShort);
                }
            }
            match last {
                None => entry.payload.clone(),
                Some((at, _)) if entry.at < at => {
                    pass.older[i] = true;
                    return Ok(Bytes::new());
                }
                Some((at, ties)) if entry.at == at => {
                    if !pass.older[i] {
                        if self.whole_line[i] {
                            return Ok(Bytes::new());
                        }
                        // Where the window starts among the pieces of a
                        // long line is unknown.
                        return Err(TooShort);
                    }
                    pass.ties[i] += 1;
                    if pass.ties[i] <= ties {
                        return Ok(Bytes::new());
                    }
                    entry.payload.clone()
                }
                Some(_) => entry.payload.clone(),
            }
        };
        self.note(entry);
        self.taken.add(entry.stream, new.len() as u64);
        self.digest[i].update(&new);
        pass.new_entries += 1;
        Ok(new)
    }

    fn note(&mut self, entry: &Entry) {
        let i = index(entry.stream);
        if self.last[i].is_none_or(|(at, _)| entry.at >= at) {
            self.whole_line[i] = entry.payload.ends_with(b"\n");
        }
        self.last[i] = match self.last[i] {
            Some((at, ties)) if at == entry.at => Some((at, ties + 1)),
            Some((at, ties)) if at > entry.at => Some((at, ties)),
            _ => Some((entry.at, 1)),
        };
    }

    /// After a whole read: `None` if every byte of both streams taken here
    /// is Docker's, else a sentence saying what differs.
    pub(crate) fn prove(&self, pass: &Pass) -> Option<String> {
        let docker = pass.docker.as_ref()?;
        let mut problems = Vec::new();
        for (stream, name) in [(Stream::Stdout, "stdout"), (Stream::Stderr, "stderr")] {
            let i = index(stream);
            let held = pass.position.get(stream);
            let taken = self.taken.get(stream);
            if held != taken {
                problems.push(format!(
                    "Docker holds {held} bytes of {name}, the agent took {taken}"
                ));
            } else if docker[i].clone().finalize() != self.digest[i].clone().finalize() {
                problems.push(format!("{name} differs from Docker's copy"));
            }
        }
        (!problems.is_empty()).then(|| {
            format!(
                "the log may not match the container's output ({})",
                problems.join("; ")
            )
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` as nanoseconds since the epoch.
pub(crate) fn parse_timestamp(text: &[u8]) -> Option<i128> {
    let text = std::str::from_utf8(text).ok()?;
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock = clock.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (
        clock.next()?.ok()?,
        clock.next()?.ok()?,
        clock.next()?.ok()?,
    );
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: i128 = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(i128::from(seconds) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(stream: Stream, at: i128, text: &str) -> Entry {
        Entry {
            stream,
            at,
            payload: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    fn read(
        ledger: &mut Ledger,
        whole: bool,
        entries: &[Entry],
    ) -> Result<(String, Pass), TooShort> {
        let mut pass = if whole { ledger.whole() } else { ledger.tail() };
        let mut out = String::new();
        for e in entries {
            let bytes = ledger.take(&mut pass, e)?;
            out.push_str(std::str::from_utf8(&bytes).unwrap());
        }
        Ok((out, pass))
    }

    #[test]
    fn timestamps() {
        assert_eq!(
            parse_timestamp(b"1970-01-01T00:00:01.000000002Z"),
            Some(1_000_000_002)
        );
        assert_eq!(
            parse_timestamp(b"1970-01-02T00:00:00Z"),
            Some(86_400_000_000_000)
        );
        assert_eq!(
            parse_timestamp(b"2026-11-23T10:00:00.5Z"),
            Some(1_795_428_000_500_000_000)
        );
        assert_eq!(parse_timestamp(b"garbage"), None);
        let e = Entry::parse(
            Stream::Stderr,
            Bytes::from_static(b"1970-01-01T00:00:00.000000007Z a b\n"),
        )
        .unwrap();
        assert_eq!((e.at, &e.payload[..]), (7, &b"a b\n"[..]));
    }

    #[test]
    fn a_whole_read_skips_what_the_spool_holds() {
        let log = [
            entry(Stream::Stdout, 1, "one\n"),
            entry(Stream::Stderr, 2, "warn\n"),
            entry(Stream::Stdout, 3, "two\n"),
            entry(Stream::Stdout, 4, "three\n"),
        ];
        // The spool holds "one\n", "warn\n" and "tw".
        let mut ledger = Ledger::new(StreamCounts {
            stdout: 6,
            stderr: 5,
        });
        let (out, pass) = read(&mut ledger, true, &log).unwrap();
        assert_eq!(out, "o\nthree\n");
        assert_eq!(ledger.prove(&pass), None);
    }

    #[test]
    fn tail_reads_continue_exactly_and_widen_when_short() {
        let mut ledger = Ledger::new(StreamCounts::default());
        let first = [entry(Stream::Stdout, 1, "a"), entry(Stream::Stdout, 2, "b")];
        read(&mut ledger, true, &first).unwrap();
        // A window that starts after what was taken could hide an entry.
        let short = [entry(Stream::Stdout, 4, "d")];
        assert!(read(&mut ledger, false, &short).is_err());
        // Pieces of one long line share a timestamp; the window reaches back.
        let wide = [
            entry(Stream::Stdout, 1, "a"),
            entry(Stream::Stdout, 2, "b"),
            entry(Stream::Stderr, 3, "E\n"),
            entry(Stream::Stdout, 3, "c1"),
            entry(Stream::Stdout, 3, "c2"),
            entry(Stream::Stdout, 4, "d"),
        ];
        let (out, _) = read(&mut ledger, false, &wide[..5]).unwrap();
        assert_eq!(out, "E\nc1c2");
        let more = [
            entry(Stream::Stdout, 2, "b"),
            entry(Stream::Stderr, 3, "E\n"),
            entry(Stream::Stdout, 3, "c1"),
            entry(Stream::Stdout, 3, "c2"),
            entry(Stream::Stdout, 3, "c3"),
            entry(Stream::Stdout, 4, "d"),
        ];
        let (out, _) = read(&mut ledger, false, &more).unwrap();
        assert_eq!(out, "c3d");
        // The final whole read proves it all.
        let mut log = vec![entry(Stream::Stdout, 1, "a"), entry(Stream::Stdout, 2, "b")];
        log.extend(more.iter().skip(1).cloned());
        let (out, pass) = read(&mut ledger, true, &log).unwrap();
        assert_eq!(out, "");
        assert_eq!(ledger.prove(&pass), None);
    }

    #[test]
    fn a_window_that_may_start_inside_a_long_line_is_too_short() {
        let mut ledger = Ledger::new(StreamCounts::default());
        let log = [
            entry(Stream::Stderr, 0, "e0\n"),
            entry(Stream::Stderr, 2, "e1\n"),
            entry(Stream::Stdout, 3, "p1"),
        ];
        read(&mut ledger, true, &log).unwrap();
        // The piece p2 shares p1's timestamp; with no older stdout entry in
        // the window, p1 could lie before it or be missing from it.
        let window = [
            entry(Stream::Stderr, 0, "e0\n"),
            entry(Stream::Stderr, 2, "e1\n"),
            entry(Stream::Stdout, 3, "p2"),
        ];
        assert!(read(&mut ledger, false, &window).is_err());
    }

    #[test]
    fn a_missing_entry_is_reported() {
        let mut ledger = Ledger::new(StreamCounts::default());
        let start = [entry(Stream::Stdout, 0, "z"), entry(Stream::Stdout, 1, "a")];
        read(&mut ledger, true, &start).unwrap();
        // Suppose a poll had skipped "b": the whole read brings the length
        // back in line only by appending, so the proof fails on content.
        let (_, pass) = read(
            &mut ledger,
            false,
            &[
                entry(Stream::Stdout, 0, "z"),
                entry(Stream::Stdout, 1, "a"),
                entry(Stream::Stdout, 3, "c"),
            ],
        )
        .unwrap();
        assert_eq!(pass.new_entries, 1);
        let log = [
            entry(Stream::Stdout, 0, "z"),
            entry(Stream::Stdout, 1, "a"),
            entry(Stream::Stdout, 2, "b"),
            entry(Stream::Stdout, 3, "c"),
        ];
        let (out, pass) = read(&mut ledger, true, &log).unwrap();
        assert_eq!(out, "c");
        assert!(ledger.prove(&pass).unwrap().contains("stdout differs"));
    }
}
