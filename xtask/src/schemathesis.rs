//! Schemathesis, the API fuzzer that checks the hub against its own OpenAPI
//! document (crates/hub/tests/openapi_fuzz.rs), installed from PyPI into a
//! virtual environment of its own, once, and reused.
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

/// The file that says the venv holds [`VERSION`], complete.
const MARKER: &str = ".gantry-installed";

/// The venv's `schemathesis` program, installing it when missing or of
/// another version.
pub fn ensure() -> Result<PathBuf> {
    let venv = venv_dir()?;
    let program = venv.join("bin").join("schemathesis");
    let installed = std::fs::read_to_string(venv.join(MARKER)).unwrap_or_default();
    if installed.trim() == VERSION && exec::executable(&program) {
        say(format!(
            "schemathesis {VERSION}: already in {}; skipping pip",
            venv.display()
        ));
        return Ok(program);
    }
    say(format!(
        "schemathesis {VERSION}: installing from PyPI into {} (once)",
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
    .context("cannot make a Python venv for schemathesis (Debian: apt-get install python3-venv; packages.rs lists it)")?;
    exec::run(
        Command::new(venv.join("bin").join("pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .arg(format!("schemathesis=={VERSION}"))
            .stdin(Stdio::null()),
    )
    .with_context(|| format!("pip could not install schemathesis {VERSION}"))?;
    if !exec::executable(&program) {
        bail!(
            "pip installed schemathesis {VERSION} but {} is not there",
            program.display()
        );
    }
    std::fs::write(venv.join(MARKER), VERSION)
        .with_context(|| format!("cannot write {}", venv.join(MARKER).display()))?;
    Ok(program)
}

/// `$XDG_CACHE_HOME/gantry/schemathesis-VERSION`, else under `~/.cache`.
fn venv_dir() -> Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set; one says where schemathesis goes")?;
    Ok(cache.join("gantry").join(format!("schemathesis-{VERSION}")))
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
