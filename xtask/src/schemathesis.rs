//! Schemathesis, the API fuzzer that checks the hub against its own OpenAPI
//! document (crates/hub/tests/openapi_fuzz.rs), installed from PyPI into a
//! virtual environment of its own, once, and reused; and beside it, the same
//! way, Prometheus' official Python client, whose text parser reads the
//! hub's and the agent's `/metrics` in crates/testkit/tests/metrics_*.rs.
//!
//! Why a venv under ~/.cache/gantry: it outlives the clone (CI's clone is
//! fresh each run) and keeps Python packages off the system's Python. The
//! folder's name carries the version, so changing [`VERSION`] installs anew
//! beside the old one; a marker written after a finished install keeps a
//! half-made venv (an interrupted pip) from being taken for a good one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};

/// The schemathesis release the tests run: the one place it is pinned.
/// Its check names (`positive_data_acceptance`, ...) and config keys are
/// those of the 4.x line.
pub const VERSION: &str = "4.32.5";

/// The prometheus-client release whose parser
/// (`prometheus_client.parser.text_string_to_metric_families`) reads the
/// metrics pages in the tests: the one place it is pinned.
pub const PROMETHEUS_CLIENT: &str = "0.26.0";

/// The file that says the venv holds [`VERSION`], complete.
const MARKER: &str = ".gantry-installed";

/// The venv's `schemathesis` program, installing it when missing or of
/// another version.
pub fn ensure() -> Result<PathBuf> {
    ensure_venv("schemathesis", VERSION, "schemathesis")
}

/// The Python of a venv holding prometheus-client [`PROMETHEUS_CLIENT`],
/// installing it when missing or of another version.
pub fn ensure_prometheus_parser() -> Result<PathBuf> {
    ensure_venv("prometheus-client", PROMETHEUS_CLIENT, "python")
}

/// The venv's `program` (under `bin/`), with `package==version` installed
/// from PyPI when the venv is missing, half made or of another version.
fn ensure_venv(package: &str, version: &str, program: &str) -> Result<PathBuf> {
    let venv = venv_dir(package, version)?;
    let program = venv.join("bin").join(program);
    let installed = std::fs::read_to_string(venv.join(MARKER)).unwrap_or_default();
    if installed.trim() == version && exec::executable(&program) {
        say(format!(
            "{package} {version}: already in {}; skipping pip",
            venv.display()
        ));
        return Ok(program);
    }
    say(format!(
        "{package} {version}: installing from PyPI into {} (once)",
        venv.display()
    ));
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("cannot remove the stale venv {}", venv.display()))?;
    }
    let python = python()?;
    exec::run(
        Command::new(&python)
            .args(["-m", "venv"])
            .arg(&venv)
            .stdin(Stdio::null()),
    )
    .with_context(|| format!("cannot make a Python venv for {package} (Debian: apt-get install python3-venv; packages.rs lists it)"))?;
    exec::run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("{package}=={version}"))
            .stdin(Stdio::null()),
    )
    .with_context(|| format!("pip could not install {package} {version}"))?;
    if !exec::executable(&program) {
        bail!(
            "pip installed {package} {version} but {} is not there",
            program.display()
        );
    }
    std::fs::write(venv.join(MARKER), version)
        .with_context(|| format!("cannot write {}", venv.join(MARKER).display()))?;
    Ok(program)
}

/// `$XDG_CACHE_HOME/gantry/PACKAGE-VERSION`, else under `~/.cache`.
fn venv_dir(package: &str, version: &str) -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .context(
            "neither XDG_CACHE_HOME nor HOME is set; one says where the test's Python tools go",
        )?;
    Ok(cache.join("gantry").join(format!("{package}-{version}")))
}

/// Debian's Python (which python3-venv completes), else any `python3`.
fn python() -> Result<PathBuf> {
    let debian = Path::new("/usr/bin/python3");
    if exec::executable(debian) {
        return Ok(debian.to_path_buf());
    }
    exec::find_program("python3").context(
        "the API fuzz test needs Python 3 with venv: apt-get install python3-venv (packages.rs lists it)",
    )
}
