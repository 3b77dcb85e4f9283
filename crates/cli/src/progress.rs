//! A progress bar on stderr for uploads and downloads: bytes done of the
//! total, percent and rate, redrawn a few times a second on one line. Shown
//! only when stderr is a terminal, so scripts and logs get no control
//! characters.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gantry_client::Progress;
use gantry_protocol::units::ByteSize;

/// A bar for one transfer of `total` bytes.
#[derive(Debug)]
pub struct Bar {
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    drawer: Option<std::thread::JoinHandle<()>>,
}

impl Bar {
    /// A bar labelled `what`; draws only when stderr is a terminal.
    pub fn new(what: &str, total: u64) -> Bar {
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let drawer = std::io::stderr().is_terminal().then(|| {
            let (done, stop, what) = (done.clone(), stop.clone(), what.to_owned());
            std::thread::spawn(move || {
                let start = Instant::now();
                loop {
                    let finished = stop.load(Ordering::Relaxed);
                    draw(&what, done.load(Ordering::Relaxed), total, start.elapsed());
                    if finished {
                        eprintln!();
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
            })
        });
        Bar { done, stop, drawer }
    }

    /// The callback transfers report to.
    pub fn progress(&self) -> Progress {
        let done = self.done.clone();
        Arc::new(move |bytes| {
            done.fetch_add(bytes, Ordering::Relaxed);
        })
    }

    /// Counts bytes that needed no transfer (already there).
    pub fn add(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(drawer) = self.drawer.take() {
            let _ = drawer.join();
        }
    }
}

fn draw(what: &str, done: u64, total: u64, elapsed: Duration) {
    let done = done.min(total);
    let percent = (done * 100).checked_div(total).unwrap_or(100);
    let width = 30usize;
    let filled = (percent as usize * width / 100).min(width);
    let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
    let mut stderr = std::io::stderr().lock();
    let _ = write!(
        stderr,
        "\r\x1b[2K{what} [{}{}] {} / {} {percent:>3}% {}/s",
        "=".repeat(filled),
        " ".repeat(width - filled),
        ByteSize(done),
        ByteSize(total),
        ByteSize(rate as u64),
    );
    let _ = stderr.flush();
}
