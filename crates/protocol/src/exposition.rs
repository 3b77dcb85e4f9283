//! The Prometheus text exposition format (version 0.0.4), written by the
//! hub's `GET /metrics` and the agent's `--metrics-listen` alike.
//!
//! Why here: both sides speak it and neither may link the other, and it is
//! pure text (no I/O), as this crate's vocabulary is. [`Exposition`] writes
//! each family's `# HELP` and `# TYPE` lines before its samples, escapes
//! help text and label values as the format asks, and spells the special
//! numbers (`+Inf`, `NaN`) its parsers read; [`Histogram`] keeps the
//! cumulative buckets of one histogram.
//!
//! Names follow Prometheus' conventions: a `gantry_` prefix, base units
//! (`_seconds`, `_bytes`), and `_total` on counters.

use std::fmt::Write;

/// The `Content-Type` of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type, as its `# TYPE` line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (its samples end in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Observations counted into buckets, with their sum and count.
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// The text of one scrape, family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// An empty scrape.
    pub fn new() -> Exposition {
        Exposition::default()
    }

    /// Begins a family: its `# HELP` and `# TYPE` lines. Its samples follow.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample: `name{label="value",…} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A family of one sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A histogram's samples (`_bucket` for each bound and `+Inf`, `_sum`,
    /// `_count`) under `labels`; its family must have begun.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in histogram.bounds.iter().zip(&histogram.counts) {
            cumulative += count;
            let le = number(*bound);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative as f64);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, histogram.count as f64);
        self.sample(&format!("{name}_sum"), labels, histogram.sum);
        self.sample(&format!("{name}_count"), labels, histogram.count as f64);
    }

    /// The text, ready to send.
    pub fn finish(self) -> String {
        self.text
    }
}

/// A number as the format writes it: whole numbers without a fraction,
/// `+Inf`, `-Inf` and `NaN` spelled as parsers read them.
pub fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        // Rust writes the shortest text that reads back exactly: 3, 0.25, 1e-7.
        format!("{value}")
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One histogram's observations: a count per bucket (not cumulative; the
/// writer adds them up), their sum and their count.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    /// An empty histogram with these upper bounds, ascending (`+Inf` is added).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    /// Counts one observation.
    pub fn observe(&mut self, value: f64) {
        if let Some(at) = self.bounds.iter().position(|bound| value <= *bound) {
            self.counts[at] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    /// How many observations it counted.
    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Bounds for durations from 5 ms to an hour, in seconds: a task waits in
/// the queue for milliseconds on an idle hub and for hours on a busy one,
/// and an image pull takes from a blink to many minutes.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
    1800.0, 3600.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_labels_and_histograms() {
        let mut text = Exposition::new();
        text.family("gantry_x_total", Kind::Counter, "Things\nseen \\ here.");
        text.sample("gantry_x_total", &[("route", "/v1/a\"b\\")], 3.0);
        let mut histogram = Histogram::new(&[0.5, 1.0]);
        histogram.observe(0.25);
        histogram.observe(0.75);
        histogram.observe(7.0);
        text.family("gantry_wait_seconds", Kind::Histogram, "Waits.");
        text.histogram("gantry_wait_seconds", &[("k", "v")], &histogram);
        assert_eq!(
            text.finish(),
            "# HELP gantry_x_total Things\\nseen \\\\ here.\n\
             # TYPE gantry_x_total counter\n\
             gantry_x_total{route=\"/v1/a\\\"b\\\\\"} 3\n\
             # HELP gantry_wait_seconds Waits.\n\
             # TYPE gantry_wait_seconds histogram\n\
             gantry_wait_seconds_bucket{k=\"v\",le=\"0.5\"} 1\n\
             gantry_wait_seconds_bucket{k=\"v\",le=\"1\"} 2\n\
             gantry_wait_seconds_bucket{k=\"v\",le=\"+Inf\"} 3\n\
             gantry_wait_seconds_sum{k=\"v\"} 8\n\
             gantry_wait_seconds_count{k=\"v\"} 3\n"
        );
    }

    #[test]
    fn spells_special_numbers() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.125), "0.125");
        assert_eq!(number(1e21), "1000000000000000000000");
    }
}
