//! The web UI in ui/ (Svelte 5 and Vite): the desktop app's window and the
//! hub's web console. Installed with npm, checked, unit-tested and
//! browser-tested by `cargo xtask test`, and built (ui/dist and
//! ui/dist-console) before anything compiles src-tauri or the hub: src-tauri's
//! build embeds ui/dist and fails without it, and the hub's build compresses
//! ui/dist-console into the binary (without it, a hub without its console).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};

/// What to tell a person whose machine lacks a usable Node.js or npm.
const INSTALL_NODE: &str =
    "install Node.js 20 or newer and npm (ui/package.json asks for Node ^20.19 or >=22.12)";

/// Builds the UI to ui/dist and ui/dist-console, first installing its packages with `npm ci` when
/// they are missing or older than package-lock.json.
///
/// With `check`, svelte-check, the unit tests and the browser tests (the
/// real App over a mocked backend, in Debian's Chromium) run too, before the
/// build, so that a type error or a failing test stops the run before it
/// spends time on a bundle nobody will use.
pub fn build(check: bool) -> Result<()> {
    let npm = npm()?;
    let ui = exec::workspace_root().join("ui");
    let modules = ui.join("node_modules");
    let linked = std::fs::symlink_metadata(&modules).is_ok_and(|m| m.file_type().is_symlink());
    if linked && needs_install(&ui)? {
        // `npm ci` empties the folder a linked node_modules points to (a
        // checkout sharing another's packages), then installs here: the
        // other checkout would lose its packages. Leave it to its owner.
        say(format!(
            "ui: node_modules is a link to {}, whose packages are older than package-lock.json; \
             not reinstalling over it (run `npm ci` where it points if they are stale)",
            std::fs::read_link(&modules)
                .map(|target| target.display().to_string())
                .unwrap_or_default()
        ));
    } else if needs_install(&ui)? {
        // `npm ci` deletes node_modules and installs exactly what the lock
        // file says, which is what CI must test; it also takes most of this
        // step's time, so it runs only when the lock file changed since the
        // last install. Audit and funding notices would only reach the
        // network and the log.
        say("ui: node_modules is missing or older than package-lock.json; installing");
        npm_run(&npm, &ui, &["ci", "--no-audit", "--no-fund"])?;
    } else {
        say("ui: node_modules matches package-lock.json; skipping npm ci");
    }
    if check {
        npm_run(&npm, &ui, &["run", "check"])?;
        npm_run(&npm, &ui, &["test"])?;
        browser_tests(&npm, &ui)?;
    }
    npm_run(&npm, &ui, &["run", "build"])
}

/// Runs ui/'s browser tests: `npm run test:browser` (ui/tests/browser: the
/// desktop's built App over a mocked backend) and `npm run test:console`
/// (ui/tests/console: the hub console's pages over small mocked hubs; the
/// console against the real hub is crates/testkit/tests/console.rs), driven
/// through playwright-core in Debian's Chromium (packages.rs installs it),
/// headless, so no display is needed. A failing test fails the step.
fn browser_tests(npm: &Path, ui: &Path) -> Result<()> {
    let chromium = chromium()?;
    for script in ["test:browser", "test:console"] {
        say(format!(
            "ui: running `npm run {script}` in {}",
            chromium.display()
        ));
        exec::run(
            Command::new(npm)
                .args(["run", script])
                .current_dir(ui)
                // The tests launch this browser; playwright-core never downloads one.
                .env("GANTRY_CHROMIUM", &chromium)
                .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
                .stdin(Stdio::null()),
        )
        .with_context(|| format!("the UI's browser tests (`npm run {script}` in ui/) failed"))?;
    }
    Ok(())
}

/// Debian's Chromium, which the browser tests run in.
fn chromium() -> Result<PathBuf> {
    let debian = Path::new("/usr/bin/chromium");
    if exec::executable(debian) {
        return Ok(debian.to_path_buf());
    }
    exec::find_program("chromium").ok_or_else(|| {
        anyhow::anyhow!(
            "the UI's browser tests need Chromium, which is not installed: `apt-get install chromium` (packages.rs lists it)"
        )
    })
}

/// The absolute path of npm, after checking that the Node.js beside it is
/// one that ui/'s tools (Vite, svelte-check) run on.
fn npm() -> Result<PathBuf> {
    let Some(npm) = exec::find_program("npm") else {
        bail!("the desktop app's UI needs npm, which is not on PATH: {INSTALL_NODE}");
    };
    let Some(node) = exec::find_program("node") else {
        bail!(
            "npm is at {} but node is not on PATH: {INSTALL_NODE}",
            npm.display()
        );
    };
    let output = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{} --version`", node.display()))?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || !node_supported(&version) {
        bail!(
            "{} reports Node.js version `{version}`, which ui/ cannot use: {INSTALL_NODE}",
            node.display()
        );
    }
    Ok(npm)
}

/// Whether `version`, as `node --version` prints it (`v20.19.2`), satisfies
/// ui/package.json's `engines`: `^20.19.0 || >=22.12.0`, the versions Vite
/// supports.
fn node_supported(version: &str) -> bool {
    let mut parts = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .map(str::parse::<u32>);
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return false;
    };
    (major == 20 && minor >= 19) || (major == 22 && minor >= 12) || major > 22
}

/// Whether ui/node_modules must be (re)installed: when npm never finished an
/// install there, or package-lock.json changed after the last one.
///
/// npm writes node_modules/.package-lock.json at the end of every install, so
/// its modification time says when the last one finished; a checkout or a
/// `git pull` that changes package-lock.json gives it a newer time.
fn needs_install(ui: &Path) -> Result<bool> {
    let lock = ui.join("package-lock.json");
    let locked = modified(&lock).with_context(|| {
        format!(
            "cannot read {}, which `npm ci` installs from",
            lock.display()
        )
    })?;
    match modified(&ui.join("node_modules").join(".package-lock.json")) {
        Ok(installed) => Ok(locked > installed),
        // Missing: no install finished here, or node_modules is absent.
        Err(_) => Ok(true),
    }
}

/// When `path` was last modified.
fn modified(path: &Path) -> std::io::Result<SystemTime> {
    std::fs::metadata(path)?.modified()
}

/// Runs `npm ARGS` in `ui`, announced, and fails unless it succeeds.
fn npm_run(npm: &Path, ui: &Path, args: &[&str]) -> Result<()> {
    say(format!("ui: running `npm {}`", args.join(" ")));
    // No stdin, because CI has no one to answer a prompt.
    exec::run(
        Command::new(npm)
            .args(args)
            .current_dir(ui)
            .stdin(Stdio::null()),
    )
    .with_context(|| format!("the UI step `npm {}` in ui/ failed", args.join(" ")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn accepts_the_node_versions_package_json_names() {
        for version in ["v20.19.0", "v20.20.2\n", "v22.12.0", "v23.1.0", "v24.0.0"] {
            assert!(node_supported(version), "{version} should be accepted");
        }
        for version in ["v18.20.4", "v20.18.3", "v21.7.3", "v22.11.0", "", "node"] {
            assert!(!node_supported(version), "{version} should be refused");
        }
    }

    #[test]
    fn installs_when_node_modules_is_missing_or_older_than_the_lock_file() {
        let ui = std::env::temp_dir().join(format!("xtask-ui-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&ui);
        std::fs::create_dir_all(ui.join("node_modules")).unwrap();
        let lock = ui.join("package-lock.json");
        let installed = ui.join("node_modules").join(".package-lock.json");
        std::fs::write(&lock, "{}").unwrap();
        let set_time = |path: &Path, time: SystemTime| {
            std::fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(time)
                .unwrap();
        };
        let then = SystemTime::now() - Duration::from_secs(3600);
        set_time(&lock, then);

        // No install has finished here yet.
        assert!(needs_install(&ui).unwrap());

        // An install after the lock file's last change is current.
        std::fs::write(&installed, "{}").unwrap();
        set_time(&installed, then + Duration::from_secs(60));
        assert!(!needs_install(&ui).unwrap());

        // The lock file changed after that install.
        set_time(&lock, then + Duration::from_secs(120));
        assert!(needs_install(&ui).unwrap());

        std::fs::remove_dir_all(&ui).unwrap();
    }
}
