//! A stream's bytes cut into lines a terminal can show: each line kept up to
//! [`SHOWN_BYTES`] (the rest counted, never held), invalid UTF-8 shown as
//! U+FFFD and control characters escaped, so that a task's binary output or
//! escape sequences cannot drive the agent's terminal.

/// The most bytes of one line that are shown; a longer line shows its start
/// and how many bytes were cut.
pub const SHOWN_BYTES: usize = 4096;

/// One stream's line in progress.
#[derive(Debug, Default)]
pub(super) struct LineCut {
    /// The line's first bytes, at most [`SHOWN_BYTES`].
    held: Vec<u8>,
    /// How many bytes of the line did not fit in `held`.
    cut: u64,
}

impl LineCut {
    /// Takes `bytes` and calls `line(shown, cut)` for each line they end.
    pub(super) fn feed(&mut self, mut bytes: &[u8], mut line: impl FnMut(&[u8], u64)) {
        while let Some(at) = memchr::memchr(b'\n', bytes) {
            self.keep(&bytes[..at]);
            line(&self.held, self.cut);
            self.held.clear();
            self.cut = 0;
            bytes = &bytes[at + 1..];
        }
        self.keep(bytes);
    }

    /// The unfinished line, if any: its shown bytes and how many were cut.
    pub(super) fn rest(&mut self) -> Option<(Vec<u8>, u64)> {
        if self.held.is_empty() && self.cut == 0 {
            return None;
        }
        Some((
            std::mem::take(&mut self.held),
            std::mem::take(&mut self.cut),
        ))
    }

    fn keep(&mut self, part: &[u8]) {
        let take = part.len().min(SHOWN_BYTES - self.held.len());
        self.held.extend_from_slice(&part[..take]);
        self.cut += (part.len() - take) as u64;
    }
}

/// Appends `bytes` to `out` as text: U+FFFD for invalid UTF-8, tabs as they
/// are, other control characters as `\xNN` (or `\u{NN}` past ASCII).
pub(super) fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    use std::io::Write as _;
    // Most lines are printable ASCII: copied as they are.
    if bytes
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        out.extend_from_slice(bytes);
        return;
    }
    for c in String::from_utf8_lossy(bytes).chars() {
        if c == '\t' || !c.is_control() {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else if c.is_ascii() {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One line as shown: `prefix`, the text (a trailing `\r` of a CRLF line
/// dropped), a note of the bytes cut, a newline.
pub(super) fn render(prefix: &[u8], shown: &[u8], cut: u64) -> Vec<u8> {
    let shown = match (shown.strip_suffix(b"\r"), cut) {
        (Some(text), 0) => text,
        _ => shown,
    };
    let mut line = Vec::with_capacity(prefix.len() + shown.len() + 48);
    line.extend_from_slice(prefix);
    escape_into(&mut line, shown);
    if cut > 0 {
        line.extend_from_slice(
            format!(" [... {cut} more bytes of this line not shown]").as_bytes(),
        );
    }
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(cut: &mut LineCut, bytes: &[u8]) -> Vec<(Vec<u8>, u64)> {
        let mut out = Vec::new();
        cut.feed(bytes, |shown, n| out.push((shown.to_vec(), n)));
        out
    }

    #[test]
    fn lines_are_cut_across_chunks_and_the_rest_is_kept() {
        let mut cut = LineCut::default();
        assert!(lines(&mut cut, b"one\ntw").len() == 1);
        assert_eq!(
            lines(&mut cut, b"o\n\nthr"),
            [(b"two".to_vec(), 0), (Vec::new(), 0)]
        );
        assert_eq!(cut.rest(), Some((b"thr".to_vec(), 0)));
        assert_eq!(cut.rest(), None);
    }

    #[test]
    fn a_ten_megabyte_line_keeps_only_its_start() {
        let mut cut = LineCut::default();
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..160 {
            assert!(lines(&mut cut, &chunk).is_empty());
            assert!(cut.held.len() <= SHOWN_BYTES);
        }
        let done = lines(&mut cut, b"\n");
        let total = 160 * 64 * 1024;
        assert_eq!(
            done,
            [(vec![b'a'; SHOWN_BYTES], (total - SHOWN_BYTES) as u64)]
        );
        let shown = render(b"[t] ", &done[0].0, done[0].1);
        let text = String::from_utf8(shown).unwrap();
        assert!(text.starts_with("[t] aaaa"));
        assert!(text.ends_with(&format!(
            "a [... {} more bytes of this line not shown]\n",
            total - SHOWN_BYTES
        )));
    }

    #[test]
    fn binary_and_escapes_are_shown_harmlessly() {
        let shown = render(b"> ", b"\x1b[31mred\x00\xff\tok\xc2\x85\r", 0);
        assert_eq!(
            String::from_utf8(shown).unwrap(),
            "> \\x1b[31mred\\x00\u{fffd}\tok\\u{85}\n"
        );
    }
}
