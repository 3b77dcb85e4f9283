//! The programs the desktop app's end-to-end tests drive it with: tauri-driver,
//! which speaks WebDriver for a Tauri app, and WebKitGTK's WebKitWebDriver,
//! which tauri-driver starts underneath it on Linux.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};

/// Where the webkit2gtk-driver package puts WebKitWebDriver on Debian.
const DEBIAN_WEBKIT_DRIVER: &str = "/usr/bin/WebKitWebDriver";

/// Both WebDriver programs, as absolute paths, which `cargo xtask test`
/// hands to the tests in `GANTRY_TAURI_DRIVER` and `GANTRY_WEBKIT_DRIVER`.
#[derive(Debug)]
pub struct Drivers {
    /// tauri-driver, installed from crates.io when it was missing.
    pub tauri: PathBuf,
    /// WebKitWebDriver, from the webkit2gtk-driver package.
    pub webkit: PathBuf,
}

/// Finds both drivers, installing tauri-driver with `cargo install` when
/// neither PATH nor cargo's own bin folder holds one that runs.
pub fn ensure_drivers() -> Result<Drivers> {
    let tauri = match find_tauri_driver() {
        Some(found) => found,
        None => {
            say(
                "installing tauri-driver from crates.io: the desktop app's end-to-end tests drive it",
            );
            exec::run(
                exec::cargo()
                    .args(["install", "tauri-driver", "--locked"])
                    .stdin(Stdio::null()),
            )
            .context("cannot install tauri-driver")?;
            // cargo installs into its own bin folder, which a fresh machine's
            // PATH may not include yet.
            find_tauri_driver().with_context(|| {
                format!(
                    "`cargo install tauri-driver` succeeded, but no working tauri-driver is on PATH or in {}",
                    cargo_bin().display()
                )
            })?
        }
    };
    say(format!("tauri-driver: {}", tauri.display()));
    let webkit = Some(PathBuf::from(DEBIAN_WEBKIT_DRIVER))
        .filter(|path| exec::executable(path))
        .or_else(|| exec::find_program("WebKitWebDriver"));
    let Some(webkit) = webkit else {
        bail!(
            "WebKitWebDriver is neither at {DEBIAN_WEBKIT_DRIVER} nor on PATH; tauri-driver needs it: install the webkit2gtk-driver package"
        );
    };
    say(format!("WebKitWebDriver: {}", webkit.display()));
    Ok(Drivers { tauri, webkit })
}

/// The first tauri-driver that answers `--help`, on PATH or in cargo's bin
/// folder, as an absolute path.
fn find_tauri_driver() -> Option<PathBuf> {
    exec::find_program("tauri-driver")
        .into_iter()
        .chain(std::iter::once(cargo_bin().join("tauri-driver")))
        .find(|candidate| runs(candidate))
        // The tests may run in another folder, so a relative CARGO_HOME must
        // not leak into the path they get.
        .map(|found| std::path::absolute(&found).unwrap_or(found))
}

/// Where `cargo install` puts programs: `$CARGO_HOME/bin`, or `~/.cargo/bin`.
fn cargo_bin() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .filter(|home| !home.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cargo")
        });
    home.join("bin")
}

/// Whether `program --help` exits with status 0: a leftover file, or one
/// built for another machine, does not count as installed.
fn runs(program: &Path) -> bool {
    Command::new(program)
        .arg("--help")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
