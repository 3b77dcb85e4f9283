//! The hub's web console end to end: a real `gantry hub serve` child, the
//! console it serves driven in Debian's Chromium (ui/tests/console-e2e/run.mjs
//! through playwright-core), an agent started from the line the console
//! prints, and its tasks run by the real Docker engine.
//!
//! This file starts the hub and hands the browser script what a person would
//! have: the hub's address, an admin token, a node token (which must not sign
//! in) and the `gantry` binary the printed line runs. The script checks each
//! step; its output is shown here.

use std::path::PathBuf;
use std::process::Command;

use gantry_testkit::browser::{browser_ready, repo_root};
use gantry_testkit::desktop::cli_binary;
use gantry_testkit::{HubChild, docker_ready, hub_admin, hub_serve, image};

#[test]
fn an_operator_does_everything_from_the_console() {
    if !docker_ready() || !browser_ready("the console test") {
        return;
    }
    let gantry = std::env::var_os("GANTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(cli_binary);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let admin = hub_admin(
        &gantry,
        &data,
        &["hub", "token", "create", "--admin", "operator"],
    )
    .unwrap();
    let spare = hub_admin(&gantry, &data, &["hub", "node", "add", "spare"]).unwrap();
    let hub = HubChild::start(
        hub_serve(&gantry, &data, "127.0.0.1:0")
            .args(["--heartbeat", "1", "--offline-after", "5"])
            .env("RUST_LOG", "warn"),
    )
    .unwrap();
    let shots = std::env::var_os("GANTRY_CONSOLE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("screenshots"));
    let status = Command::new("node")
        .arg(repo_root().join("ui/tests/console-e2e/run.mjs"))
        .current_dir(repo_root().join("ui"))
        .env("GANTRY_HUB_URL", hub.url(""))
        .env("GANTRY_ADMIN_TOKEN", &admin)
        .env("GANTRY_E2E_NODE_TOKEN", &spare)
        .env("GANTRY_BIN", &gantry)
        .env("GANTRY_E2E_DIR", dir.path().join("e2e"))
        .env("GANTRY_TEST_IMAGE", image())
        .env("GANTRY_CONSOLE_SCREENSHOTS", &shots)
        .status()
        .expect("node runs");
    assert!(
        status.success(),
        "the console's end-to-end script failed (its output is above; screenshots in {})",
        shots.display()
    );
}
