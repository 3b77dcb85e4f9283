//! The Debian packages the tests need, installed when missing so that a fresh
//! machine runs the whole suite with one command.

use std::process::{Command, Stdio};

use anyhow::{Result, bail};

use crate::exec::{self, say};

/// Every Debian package the tests need, with the reason, so that xtask can
/// tell the person why it is about to change their machine. Later services
/// (Docker, Xvfb, a keyring) add their rows here.
pub const REQUIRED: &[(&str, &str)] = &[
    (
        "postgresql",
        "the hub's PostgreSQL tests run against a throwaway server",
    ),
    (
        "docker.io",
        "the agent's tests run tasks in the real Docker engine",
    ),
    (
        "busybox-static",
        "the test image is built FROM scratch around the static busybox",
    ),
    (
        "docker-registry",
        "private pulls are tested against a local registry",
    ),
    ("apache2-utils", "htpasswd makes the test registry's login"),
];

/// Installs whichever of [`REQUIRED`] are missing, with apt-get.
///
/// Nothing is installed when everything is present, so a prepared machine
/// needs neither root nor the network. On a machine without dpkg the check is
/// skipped with a warning: the person installs the equivalents by hand.
pub fn ensure() -> Result<()> {
    if Command::new("dpkg-query")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        let names: Vec<_> = REQUIRED.iter().map(|(package, _)| *package).collect();
        say(format!(
            "no dpkg-query here, so not a Debian machine: make sure these are installed: {}",
            names.join(", ")
        ));
        return Ok(());
    }
    let missing: Vec<_> = REQUIRED
        .iter()
        .filter(|(package, _)| !installed(package))
        .collect();
    if missing.is_empty() {
        say(format!(
            "Debian packages present: {}",
            REQUIRED
                .iter()
                .map(|(p, _)| *p)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Ok(());
    }
    let names: Vec<_> = missing.iter().map(|(package, _)| *package).collect();
    if !exec::running_as_root() {
        bail!(
            "missing Debian packages: {}; install them with `sudo apt-get install {}`, or run xtask as root",
            names.join(", "),
            names.join(" ")
        );
    }
    for (package, why) in &missing {
        say(format!("installing {package}: {why}"));
    }
    // No stdin and a non-interactive front end, because CI has no one to
    // answer a prompt; without recommends, because the tests need none.
    exec::run(Command::new("apt-get").arg("update").stdin(Stdio::null()))?;
    exec::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&names)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null()),
    )
}

/// Whether dpkg knows `package` as installed (not merely known or removed).
fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout).ends_with("install ok installed")
        })
}
