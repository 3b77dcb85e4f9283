//! The Python client (`clients/python`) against real parts: Debian's
//! `python3` (`/usr/bin/python3`, where it is) runs the package's unittest
//! suite against a real `gantry hub serve` and two real `gantry agent start`
//! processes running Docker tasks, one that uploads its tasks' outputs to
//! the hub and one that keeps them in its local storage (so downloads go
//! through the hub's relay from that node).
//!
//! The harness starts them, hands their addresses and the admin token to
//! Python in the environment (`clients/python/tests/client_env.py` reads
//! them), and fails with Python's whole output when Python fails, or when a
//! Python test skipped. A second test starts a hub over TLS with a private
//! CA's certificate, which the client trusts through `ca_file` only; a third
//! installs the package with pip into a fresh venv and imports it with no
//! hub running.
//!
//! The `gantry` binary is the one `cargo build -p gantry-cli` made next to
//! this test (see `desktop::cli_binary`), or `GANTRY_BIN` when set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use gantry_testkit::desktop::cli_binary;
use gantry_testkit::engine::remove_labeled;
use gantry_testkit::tls::TestCa;
use gantry_testkit::{
    AgentLaunch, HubChild, Process, as_admin, docker_ready, hub_admin, hub_serve, required,
    until_blocking,
};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Python package's folder.
fn package() -> PathBuf {
    root().join("clients/python")
}

/// Debian's Python (`/usr/bin/python3`, with python3-venv, which xtask's
/// package list installs), else the first `python3` on the PATH.
fn python() -> PathBuf {
    let debian = Path::new("/usr/bin/python3");
    if debian.is_file() {
        debian.to_owned()
    } else {
        PathBuf::from("python3")
    }
}

/// Whether [`python`] runs here and is 3.11 or later; skips (or fails when
/// services are required) otherwise.
fn python_ready() -> bool {
    let ready = Command::new(python())
        .args(["-c", "import sys; assert sys.version_info >= (3, 11)"])
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        assert!(
            !required(),
            "python3 (3.11 or later) is missing, and GANTRY_REQUIRE_SERVICES=1"
        );
        eprintln!("SKIPPED: no python3 3.11 or later");
    }
    ready
}

/// The client's test modules (`test_client_*.py`) but the ones in `leave_out`.
fn modules(leave_out: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(package().join("tests"))
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some(name.strip_suffix(".py")?.to_owned()))
        .filter(|name| name.starts_with("test_client_") && !leave_out.contains(&name.as_str()))
        .collect();
    found.sort();
    found
}

/// Runs `python3 -m unittest -v MODULES` ([`python`]) from the repository's root with the
/// package and its tests importable and `env` set; panics with Python's
/// output when it fails or any test skipped. Returns that output.
fn unittest(modules: &[String], env: &[(&str, String)]) -> String {
    let python_path = format!(
        "{}:{}",
        package().display(),
        package().join("tests").display()
    );
    let output = Command::new(python())
        .args(["-m", "unittest", "-v"])
        .args(modules)
        .current_dir(root())
        .env("PYTHONPATH", python_path)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("GANTRY_REQUIRE_SERVICES", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "the Python tests failed:\n{said}");
    assert!(
        !said.contains("skipped"),
        "a Python test skipped; here every one must run:\n{said}"
    );
    eprintln!("{said}");
    said
}

/// The hub and its two agents, stopped (and their containers removed) when this goes.
struct Site {
    hub: HubChild,
    admin: String,
    agents: Vec<(String, Process)>,
    dir: tempfile::TempDir,
}

impl Site {
    /// A hub and two Docker agents: `uploading` (WITH_LOCAL_STORAGE=false) and
    /// `keeping` (true), named after this process so the shared engine's
    /// containers are told apart.
    fn start(gantry: &Path, uploading: &str, keeping: &str) -> Site {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let admin = hub_admin(gantry, &data, &["hub", "token", "create", "--admin", "py"]).unwrap();
        let tokens: Vec<String> = [uploading, keeping]
            .iter()
            .map(|name| hub_admin(gantry, &data, &["hub", "node", "add", name]).unwrap())
            .collect();
        let hub = HubChild::start(
            hub_serve(gantry, &data, "127.0.0.1:0")
                .args(["--heartbeat", "1"])
                .env("RUST_LOG", "warn"),
        )
        .unwrap();
        let mut agents = Vec::new();
        for ((name, keep), token) in [(uploading, false), (keeping, true)]
            .into_iter()
            .zip(tokens)
        {
            let launch = AgentLaunch {
                gantry: gantry.to_owned(),
                server: hub.url(""),
                token,
                name: name.to_owned(),
                host_dir: dir.path().join(name),
                config_home: dir.path().to_owned(),
                docker_host: std::env::var("DOCKER_HOST").ok(),
                args: Vec::new(),
            };
            let agent = Process::spawn(
                launch
                    .command()
                    .env("WITH_LOCAL_STORAGE", keep.to_string())
                    .env("RUST_LOG", "warn")
                    .stderr(Stdio::null()),
            )
            .unwrap();
            agents.push((name.to_owned(), agent));
        }
        Site {
            hub,
            admin,
            agents,
            dir,
        }
    }

    /// The host dir of the agent named `name`.
    fn host_dir(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Waits until the hub lists both nodes online.
    fn wait_online(&self, gantry: &Path) {
        until_blocking(60, "both agents to come online", || {
            let output = as_admin(gantry, &self.hub.url(""), &self.admin)
                .args(["node", "list", "--json"])
                .output()
                .ok()?;
            let listed: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
            let nodes = listed["nodes"].as_array()?;
            let online = nodes.iter().filter(|n| n["online"] == true).count();
            (online == self.agents.len()).then_some(())
        });
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let host = std::env::var("DOCKER_HOST").ok();
        for (name, agent) in &mut self.agents {
            agent.terminate(Duration::from_secs(20));
            remove_labeled(host.as_deref(), &[format!("gantry.node={name}")]);
        }
    }
}

#[test]
fn the_python_client_against_a_real_hub_and_agents() {
    if !python_ready() || !docker_ready() {
        return;
    }
    let gantry = std::env::var_os("GANTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(cli_binary);
    let uploading = format!("py-up-{}", std::process::id());
    let keeping = format!("py-keep-{}", std::process::id());
    let site = Site::start(&gantry, &uploading, &keeping);
    site.wait_online(&gantry);
    let modules = modules(&["test_client_install", "test_client_tls"]);
    assert!(
        modules.len() >= 4,
        "the client's tests are missing: {modules:?}"
    );
    let said = unittest(
        &modules,
        &[
            ("GANTRY_TEST_HUB_URL", site.hub.url("")),
            ("GANTRY_TEST_ADMIN_TOKEN", site.admin.clone()),
            ("GANTRY_TEST_IMAGE", gantry_testkit::image()),
            ("GANTRY_TEST_UPLOADING_NODE", uploading.clone()),
            ("GANTRY_TEST_KEEPING_NODE", keeping.clone()),
            (
                "GANTRY_TEST_KEEPING_RESULTS",
                site.host_dir(&keeping)
                    .join("storage/results")
                    .display()
                    .to_string(),
            ),
        ],
    );
    // Every call of the client ran: a test of each kind said ok.
    for test in [
        "test_follow_while_the_log_grows",
        "test_outputs_kept_on_a_node_download_through_the_hub",
        "test_the_client_matches_the_hubs_document",
        "test_a_wrong_token_is_refused_with_the_hubs_code",
        "test_nodes_are_listed_with_their_reports",
    ] {
        assert!(said.contains(test), "{test} did not run:\n{said}");
    }
}

#[test]
fn pip_installs_the_package_and_importing_it_opens_no_connection() {
    if !python_ready() {
        return;
    }
    unittest(&["test_client_install".to_owned()], &[]);
}

/// The shim `gantry drive -c` runs (gantry_client.drive) as a real process:
/// its protocol on stdout, the user's prints on stderr, and `agent.hub` a
/// [`Hub`] made once from the hello line.
#[test]
fn the_drive_shim_speaks_the_protocol_and_builds_agent_hub() {
    if !python_ready() {
        return;
    }
    let said = unittest(&["test_drive".to_owned()], &[]);
    assert!(said.contains("test_agent_hub_is_a_hub_made_once"), "{said}");
}

#[test]
fn the_python_client_trusts_a_private_ca_through_ca_file() {
    if !python_ready() {
        return;
    }
    let gantry = std::env::var_os("GANTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(cli_binary);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let admin = hub_admin(&gantry, &data, &["hub", "token", "create", "--admin", "py"]).unwrap();
    let ca = TestCa::new("Gantry Python test CA");
    ca.write(&dir.path().join("ca.pem"));
    ca.server(&["localhost", "127.0.0.1"], 1)
        .write(&dir.path().join("hub.pem"), &dir.path().join("hub.key"));
    let hub = HubChild::start(
        hub_serve(&gantry, &data, "127.0.0.1:0")
            .arg("--tls-cert")
            .arg(dir.path().join("hub.pem"))
            .arg("--tls-key")
            .arg(dir.path().join("hub.key"))
            .env("RUST_LOG", "warn"),
    )
    .unwrap();
    unittest(
        &["test_client_tls".to_owned()],
        &[
            ("GANTRY_TEST_TLS_HUB_URL", hub.url("")),
            ("GANTRY_TEST_TLS_ADMIN_TOKEN", admin),
            (
                "GANTRY_TEST_TLS_CA",
                dir.path().join("ca.pem").display().to_string(),
            ),
        ],
    );
}
