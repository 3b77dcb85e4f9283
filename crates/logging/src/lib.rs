//! How Gantry's programs log, written once: the hub (`gantry hub serve`),
//! the headless agent and the desktop app each describe their [`Logging`]
//! and call [`init`].
//!
//! Every program logs to stderr, with colours only on a terminal; the agent
//! and the desktop also keep a file a day, so a person can send what
//! happened yesterday. tracing-subscriber and tracing-appender are used here
//! and in no other crate's library code.

#![deny(missing_docs)]

use std::io::IsTerminal;
use std::path::PathBuf;

use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};

pub use tracing_appender::non_blocking::WorkerGuard;

/// What a program logs and where.
#[derive(Debug, Clone)]
pub struct Logging {
    /// The variable a person sets to change what is logged (`RUST_LOG`'s syntax).
    pub filter_var: &'static str,
    /// What is logged when that variable is unset or unreadable.
    pub default_filter: &'static str,
    /// The daily file, if the program keeps one.
    pub file: Option<LogFile>,
}

/// A log file that starts anew each day.
#[derive(Debug, Clone)]
pub struct LogFile {
    /// The folder; made when missing.
    pub dir: PathBuf,
    /// The name before the date: `agent.log` gives `agent.log.2026-12-06`.
    pub prefix: &'static str,
    /// The name after the date, if any: `log` gives `desktop.2026-12-06.log`.
    pub suffix: Option<&'static str>,
    /// How many days' files are kept; `None` keeps them all.
    pub keep_days: Option<usize>,
}

/// Installs the program's logging. The guard flushes the file when dropped:
/// keep it until the program ends. A second call (a test that logs twice)
/// leaves the first setup in place; a file that cannot be opened leaves
/// stderr alone, said there.
pub fn init(logging: &Logging) -> Option<WorkerGuard> {
    let filter = || {
        EnvFilter::try_from_env(logging.filter_var)
            .unwrap_or_else(|_| EnvFilter::new(logging.default_filter))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let (file, guard) = match logging.file.as_ref().map(open) {
        Some(Ok(appender)) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        Some(Err(error)) => {
            eprintln!("cannot keep a log file: {error}; logging to stderr only");
            (None, None)
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}

fn open(file: &LogFile) -> Result<RollingFileAppender, String> {
    std::fs::create_dir_all(&file.dir)
        .map_err(|e| format!("cannot make {}: {e}", file.dir.display()))?;
    let mut builder = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(file.prefix);
    if let Some(suffix) = file.suffix {
        builder = builder.filename_suffix(suffix);
    }
    if let Some(days) = file.keep_days {
        builder = builder.max_log_files(days);
    }
    builder
        .build(&file.dir)
        .map_err(|e| format!("cannot open a log file in {}: {e}", file.dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_daily_file_is_named_and_written() {
        let dir = tempfile::tempdir().unwrap();
        let logging = Logging {
            filter_var: "GANTRY_LOGGING_TEST_FILTER",
            default_filter: "info",
            file: Some(LogFile {
                dir: dir.path().join("logs"),
                prefix: "agent.log",
                suffix: None,
                keep_days: None,
            }),
        };
        let guard = init(&logging);
        assert!(guard.is_some(), "the file layer is set up");
        tracing::info!("written to the day's file");
        drop(guard);
        let names: Vec<String> = std::fs::read_dir(dir.path().join("logs"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("agent.log."), "{names:?}");
        let text = std::fs::read_to_string(dir.path().join("logs").join(&names[0])).unwrap();
        assert!(text.contains("written to the day's file"), "{text}");
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_said_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let file = LogFile {
            dir: blocker.join("logs"),
            prefix: "desktop",
            suffix: Some("log"),
            keep_days: Some(14),
        };
        let error = open(&file).unwrap_err();
        assert!(error.contains("cannot make"), "{error}");
    }
}
