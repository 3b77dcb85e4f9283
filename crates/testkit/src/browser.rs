//! What the tests that drive a web page in Chromium (the hub's console, the
//! drive monitor) need from this machine: Node.js, the UI's packages
//! (playwright-core) and Chromium. The scripts they run live in `ui/tests/`.

use std::path::PathBuf;
use std::process::Command;

use crate::services::required;

/// The repository's root (the test kit is `crates/testkit`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the test kit sits two folders below the repository's root")
        .to_owned()
}

/// Whether Node.js, `ui/node_modules` and Chromium (`GANTRY_CHROMIUM`, or
/// /usr/bin/chromium) are here. When not, the test `what` skips, saying
/// so, or fails under `GANTRY_REQUIRE_SERVICES=1`.
pub fn browser_ready(what: &str) -> bool {
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let packages = repo_root().join("ui/node_modules/playwright-core").exists();
    let chromium = std::env::var_os("GANTRY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
        .exists();
    let ready = node && packages && chromium;
    if !ready {
        assert!(
            !required(),
            "{what} needs node, ui/node_modules (npm ci) and Chromium, and GANTRY_REQUIRE_SERVICES=1 is set"
        );
        eprintln!("SKIPPED: no node, ui/node_modules or Chromium (cargo xtask test installs them)");
    }
    ready
}
