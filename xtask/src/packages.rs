//! The Debian packages the tests need, installed when missing so that a fresh
//! machine runs the whole suite with one command.

use std::process::{Command, Stdio};

use anyhow::{Result, bail};

use crate::exec::{self, say};

/// Every Debian package the tests need, with the reason, so that xtask can
/// tell the person why it is about to change their machine. A new service or
/// build dependency adds its row here.
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
    (
        "nginx",
        "README's reverse-proxy deployment (packaging/nginx) is tested with Debian's nginx",
    ),
    (
        "curl",
        "the nginx deployment test signs in to the web console through the proxy as a browser would",
    ),
    (
        "iproute2",
        "the deployment tests put the hub and the agent on two hosts (network namespaces)",
    ),
    (
        "openssl",
        "the test PostgreSQL serves TLS with a certificate made at start",
    ),
    (
        "libwebkit2gtk-4.1-dev",
        "the desktop app (Tauri) builds against WebKitGTK, its webview",
    ),
    (
        "libayatana-appindicator3-dev",
        "the desktop app's tray icon is an Ayatana app indicator, loaded at run time",
    ),
    (
        "librsvg2-dev",
        "on Tauri's list of Linux build prerequisites: GTK draws SVG icons with librsvg",
    ),
    (
        "libxdo-dev",
        "on Tauri's list of Linux build prerequisites, for its menus' predefined items",
    ),
    (
        "libssl-dev",
        "on Tauri's list of Linux build prerequisites, for crates that link OpenSSL",
    ),
    (
        "pkg-config",
        "the desktop app's build finds the GTK, WebKit and OpenSSL libraries with it",
    ),
    (
        "build-essential",
        "cc compiles the C in dependencies (SQLite, ring) and links the desktop app",
    ),
    (
        "xvfb",
        "the desktop app under test opens its window on a virtual X display",
    ),
    (
        "xauth",
        "xvfb-run needs it to give the virtual display a cookie",
    ),
    (
        "webkit2gtk-driver",
        "WebKitWebDriver, which tauri-driver drives the app's webview through",
    ),
    (
        "gnome-keyring",
        "the desktop app's token goes to the Secret Service keychain, which it provides",
    ),
    (
        "libsecret-tools",
        "secret-tool reads the keychain back to check what the app stored",
    ),
    ("dbus", "each desktop test runs its own private session bus"),
    ("dbus-x11", "dbus-launch starts those private session buses"),
    (
        "python3-dbusmock",
        "a stand-in notification server that logs the app's Notify calls",
    ),
    ("xdotool", "checks which of the app's windows are visible"),
    (
        "at-spi2-core",
        "the accessibility bus GTK connects to when the app starts, so it starts without waiting or warning",
    ),
    ("chromium", "the UI's browser tests run in it"),
    (
        "python3-venv",
        "schemathesis, the hub's API fuzzer, is installed from PyPI into a venv of its own",
    ),
    (
        "systemd",
        "systemd-analyze checks the user unit `gantry service install` writes",
    ),
    (
        "supervisor",
        "supervisord runs the program section `gantry service install --print --supervisor` prints",
    ),
    (
        "gnupg",
        "`dist` signs the packages with an OpenPGP key, and the tests check the signatures",
    ),
    (
        "rpm",
        "the package test checks the .rpm's signature with `rpm -K` and reads its metadata",
    ),
    (
        "minisign",
        "the package test checks the updater's signatures with the reference minisign",
    ),
    (
        "desktop-file-utils",
        "the package test checks the packaged desktop entry with desktop-file-validate",
    ),
];

/// What `cargo xtask dist` needs of [`REQUIRED`]: the desktop app's build
/// and gpg, not the test services.
const FOR_DIST: &[&str] = &[
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libxdo-dev",
    "libssl-dev",
    "pkg-config",
    "build-essential",
    "gnupg",
];

/// Installs whichever of [`REQUIRED`] are missing, with apt-get.
///
/// Nothing is installed when everything is present, so a prepared machine
/// needs neither root nor the network. On a machine without dpkg the check is
/// skipped with a warning: the person installs the equivalents by hand.
pub fn ensure() -> Result<()> {
    ensure_these(REQUIRED)
}

/// Installs whichever of the packages `cargo xtask dist` needs are missing.
pub fn ensure_for_dist() -> Result<()> {
    let wanted: Vec<(&str, &str)> = REQUIRED
        .iter()
        .filter(|(package, _)| FOR_DIST.contains(package))
        .copied()
        .collect();
    ensure_these(&wanted)
}

fn ensure_these(wanted: &[(&str, &str)]) -> Result<()> {
    if Command::new("dpkg-query")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_err()
    {
        let names: Vec<_> = wanted.iter().map(|(package, _)| *package).collect();
        say(format!(
            "no dpkg-query here, so not a Debian machine: make sure these are installed: {}",
            names.join(", ")
        ));
        return Ok(());
    }
    let missing: Vec<_> = wanted
        .iter()
        .filter(|(package, _)| !installed(package))
        .collect();
    if missing.is_empty() {
        say(format!(
            "Debian packages present: {}",
            wanted
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
