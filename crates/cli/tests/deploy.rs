//! The two deployments README shows, each on two hosts: the hub in one
//! network namespace, the agent and the person's CLI in another, joined by a
//! veth pair (the test kit's [`Hosts`]), so that nothing rides on loopback.
//!
//! - TLS in the hub: `gantry hub serve --tls-cert --tls-key` with a CA made
//!   at test time; the agent trusts it only through `--ca-file` (without it:
//!   a TLS error about the certificate, and the hub never hears its token).
//! - Behind nginx: Debian's nginx with packaging/nginx/gantry-hub.conf as
//!   shipped (only its EDIT lines changed) ends TLS and proxies to a hub on
//!   the server's loopback; an agent runs a task through it, a followed
//!   log streams through it while the task runs, a blob over nginx's
//!   default body limit goes up and comes back down to the agent, and the
//!   web console's sign-in and a change it makes pass its cross-site check.
//!
//! Namespaces need root and iproute2: elsewhere these tests skip, unless
//! `GANTRY_REQUIRE_SERVICES=1`, where CI runs as root.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gantry_testkit::netns::{Host, Hosts};
use gantry_testkit::tls::TestCa;
use gantry_testkit::{HubChild, Process, hub_admin, required, until_blocking};
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// Two hosts, or `None` (and a line saying why) where this machine cannot
/// make them and skipping is allowed.
fn two_hosts() -> Option<Hosts> {
    if !Hosts::available() {
        assert!(
            !required(),
            "network namespaces need root and iproute2's ip, and GANTRY_REQUIRE_SERVICES=1"
        );
        eprintln!("SKIPPED: network namespaces need root and iproute2's ip");
        return None;
    }
    Some(Hosts::new().expect("make two hosts joined by a veth pair"))
}

/// A hub's data, its node's token and an admin token, in a scratch folder.
struct Site {
    dir: tempfile::TempDir,
    node_token: String,
    admin: String,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let node_token = hub_admin(
            gantry,
            &data,
            &["hub", "node", "add", "far", "--label", "far"],
        )
        .unwrap();
        let admin =
            hub_admin(gantry, &data, &["hub", "token", "create", "--admin", "ops"]).unwrap();
        Site {
            dir,
            node_token,
            admin,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `gantry hub serve` on `host`, listening on `listen`, with `extra` flags.
    fn hub(&self, host: &Host, listen: &str, extra: &[&str]) -> HubChild {
        let log = std::fs::File::create(self.path("hub.log")).unwrap();
        HubChild::start(
            host.command(GANTRY)
                .args(["hub", "serve", "--listen", listen, "--data-dir"])
                .arg(self.path("hub"))
                .args(["--heartbeat", "1"])
                .args(extra)
                .env("RUST_LOG", "info")
                .stdin(Stdio::null())
                .stderr(log),
        )
        .expect("the hub starts on the server host")
    }

    /// `gantry agent start` on `host` against `server`, its stderr in
    /// `agent.log`, with `extra` flags.
    fn agent(&self, host: &Host, server: &str, extra: &[&str]) -> Process {
        let log = std::fs::File::create(self.path("agent.log")).unwrap();
        let mut command = host.command(GANTRY);
        for name in gantry_testkit::children::AGENT_ENV {
            command.env_remove(name);
        }
        command
            .args(["agent", "start", "--server", server, "--name", "far"])
            .arg("--host-dir")
            .arg(self.path("agent"))
            .args(extra)
            .env("GANTRY_TOKEN", &self.node_token)
            .env("XDG_CONFIG_HOME", self.path("config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        Process::spawn(&mut command).expect("the agent starts on the client host")
    }

    fn agent_said(&self) -> String {
        std::fs::read_to_string(self.path("agent.log")).unwrap_or_default()
    }

    /// `gantry ARGS` on `host` as the admin, trusting the test CA.
    fn gantry(&self, host: &Host, server: &str, args: &[&str]) -> Command {
        let mut command = host.command(GANTRY);
        command
            .args(args)
            .env("GANTRY_SERVER", server)
            .env("GANTRY_ADMIN_TOKEN", &self.admin)
            .env("GANTRY_CA_FILE", self.path("ca.pem"))
            .env("NO_PROXY", "*")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, host: &Host, server: &str, args: &[&str]) -> Output {
        self.gantry(host, server, args).output().unwrap()
    }

    /// The node `far` as `gantry node list --json` shows it.
    fn node(&self, host: &Host, server: &str) -> Value {
        let output = self.run(host, server, &["node", "list", "--json"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let list: Value = serde_json::from_slice(&output.stdout).unwrap();
        let nodes = list["nodes"].as_array().cloned().unwrap_or_default();
        nodes
            .into_iter()
            .find(|n| n["name"] == "far")
            .expect("the node far is listed")
    }

    /// Writes a process job that prints `lines`, `pause` seconds apart.
    fn job(&self, lines: u32, pause: u32) -> PathBuf {
        let path = self.path(&format!("job-{lines}-{pause}.yaml"));
        let script = format!(
            "for i in $(seq 1 {lines}); do echo \"line $i from $(hostname)\"; sleep {pause}; done"
        );
        let job = serde_json::json!({
            "name": "far-away",
            "executor": "process",
            "command": ["sh", "-c", script],
            "labels": ["far"],
        });
        std::fs::write(&path, job.to_string()).unwrap();
        path
    }
}

impl Site {
    /// A file of `size` bytes that compress badly, and its sha256 (by
    /// `sha256sum`, not by Gantry's own code).
    fn big_file(&self, size: usize) -> (PathBuf, String) {
        let mut state: u32 = 0x9e37_79b9;
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            })
            .collect();
        let path = self.path("big.bin");
        std::fs::write(&path, bytes).unwrap();
        let sum = Command::new("sha256sum").arg(&path).output().unwrap();
        let sha256 = text(&sum.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned();
        (path, sha256)
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Submits `job` and waits for it; its id.
fn submit_and_wait(site: &Site, host: &Host, server: &str, job: &Path) -> String {
    let output = site.run(
        host,
        server,
        &["task", "submit", "--wait", job.to_str().unwrap()],
    );
    assert!(
        output.status.success(),
        "the task did not succeed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn an_agent_on_another_host_trusts_the_tls_hub_only_through_its_ca_file() {
    let Some(hosts) = two_hosts() else { return };
    let site = Site::new();
    let ca = TestCa::new("Gantry deploy test CA");
    ca.write(&site.path("ca.pem"));
    let address = hosts.server.address().to_owned();
    ca.server(&[&address], 1)
        .write(&site.path("hub.pem"), &site.path("hub.key"));
    let cert = site.path("hub.pem");
    let key = site.path("hub.key");
    let hub = site.hub(
        &hosts.server,
        &format!("{address}:0"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let server = hub.url("");
    assert!(
        server.starts_with(&format!("https://{address}:")),
        "{server}"
    );

    // Over plain http to the other host, the agent will not send its token.
    let mut in_clear = site.agent(
        &hosts.client,
        &server.replacen("https://", "http://", 1),
        &[],
    );
    let status = in_clear.exits_within(Duration::from_secs(20));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        site.agent_said()
    );
    assert!(site.agent_said().contains("--allow-insecure-http"));

    // Without the CA: a TLS error about the certificate, and nothing reached the hub.
    let mut unsure = site.agent(&hosts.client, &server, &[]);
    until_blocking(30, "the agent without the CA to say a TLS error", || {
        site.agent_said()
            .to_lowercase()
            .contains("certificate")
            .then_some(())
    });
    unsure.kill();
    assert!(
        site.node(&hosts.client, &server)["last_seen"].is_null(),
        "the hub heard from an agent that should not have trusted it"
    );

    // With the CA: the agent registers and runs a task on its own host.
    let _agent = site.agent(
        &hosts.client,
        &server,
        &["--ca-file", site.path("ca.pem").to_str().unwrap()],
    );
    let id = submit_and_wait(&site, &hosts.client, &server, &site.job(2, 0));
    let log = site.run(&hosts.client, &server, &["task", "logs", &id]);
    assert!(log.status.success(), "{}", text(&log.stderr));
    assert!(
        text(&log.stdout).contains("line 2 from"),
        "{}",
        text(&log.stdout)
    );
    assert!(!site.node(&hosts.server, &server)["last_seen"].is_null());
}

/// Debian's nginx with the shipped site, its EDIT lines set for this test,
/// in a main configuration of the test's own (paths under `dir`).
fn nginx_config(dir: &Path, hub: &str, listen: &str, name: &str) -> PathBuf {
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/nginx/gantry-hub.conf"
    );
    let site = std::fs::read_to_string(shipped).expect("read packaging/nginx/gantry-hub.conf");
    let edited: Vec<String> = site
        .lines()
        .map(|line| {
            if line.trim_start().starts_with('#') || !line.contains("# EDIT") {
                return line.to_owned();
            }
            let indent = &line[..line.len() - line.trim_start().len()];
            let key = line.split_whitespace().next().unwrap_or_default();
            let value = match key {
                "server" => hub.to_owned(),
                "listen" => format!("{listen} ssl http2"),
                "server_name" => name.to_owned(),
                "ssl_certificate" => dir.join("hub.pem").display().to_string(),
                "ssl_certificate_key" => dir.join("hub.key").display().to_string(),
                other => panic!("an EDIT line this test does not know: {other}"),
            };
            format!("{indent}{key} {value};")
        })
        .collect();
    std::fs::write(dir.join("gantry-hub.conf"), edited.join("\n")).unwrap();
    std::fs::create_dir_all(dir.join("temp")).unwrap();
    let main = format!(
        "daemon off;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/temp/body;\n\
         proxy_temp_path {d}/temp/proxy;\n  fastcgi_temp_path {d}/temp/fastcgi;\n\
         uwsgi_temp_path {d}/temp/uwsgi;\n  scgi_temp_path {d}/temp/scgi;\n\
         include {d}/gantry-hub.conf;\n}}\n",
        d = dir.display()
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, main).unwrap();
    path
}

#[test]
fn behind_nginx_an_agent_runs_a_task_and_its_log_streams_while_it_runs() {
    let Some(hosts) = two_hosts() else { return };
    let Some(nginx) = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            !required(),
            "Debian's nginx is missing, and GANTRY_REQUIRE_SERVICES=1"
        );
        eprintln!("SKIPPED: Debian's nginx is not installed");
        return;
    };
    let site = Site::new();
    let ca = TestCa::new("Gantry proxy test CA");
    ca.write(&site.path("ca.pem"));
    let address = hosts.server.address().to_owned();
    ca.server(&[&address], 1)
        .write(&site.path("hub.pem"), &site.path("hub.key"));
    // The hub on the server's own loopback: only nginx reaches it.
    let hub = site.hub(&hosts.server, "127.0.0.1:0", &[]);
    let port = gantry_testkit::free_port();
    let config = nginx_config(
        site.dir.path(),
        hub.address(),
        &format!("{address}:{port}"),
        &address,
    );
    let mut proxy = Process::spawn(
        hosts
            .server
            .command(nginx)
            .arg("-c")
            .arg(&config)
            .arg("-e")
            .arg(site.path("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("start nginx");
    let server = format!("https://{address}:{port}");
    let proxied = (0..200).any(|_| {
        let up = site
            .run(&hosts.client, &server, &["node", "list", "--json"])
            .status
            .success();
        if !up {
            std::thread::sleep(Duration::from_millis(100));
        }
        up
    });
    assert!(
        proxied && proxy.running(),
        "nginx did not proxy to the hub: {}",
        std::fs::read_to_string(site.path("error.log")).unwrap_or_default()
    );

    let _agent = site.agent(
        &hosts.client,
        &server,
        &["--ca-file", site.path("ca.pem").to_str().unwrap()],
    );
    let submitted = site.run(
        &hosts.client,
        &server,
        &["task", "submit", site.job(4, 2).to_str().unwrap()],
    );
    assert!(submitted.status.success(), "{}", text(&submitted.stderr));
    let id = text(&submitted.stdout).trim().to_owned();

    // The first line arrives through nginx while the task still runs.
    let mut follow = Process::spawn(
        site.gantry(&hosts.client, &server, &["task", "logs", "--follow", &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
    .unwrap();
    let mut lines = BufReader::new(follow.0.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a first line").unwrap();
    assert!(first.starts_with("line 1 from"), "{first}");
    let shown = site.run(&hosts.client, &server, &["task", "show", "--json", &id]);
    let task: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        task["state"], "running",
        "the first line came only after the task ended: nginx buffered the stream"
    );
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest.len(), 3, "{rest:?}");
    assert!(follow.exits_within(Duration::from_secs(30)).is_some());

    // A body over nginx's default limit (1 MB) goes up through it, and the
    // agent on the other host reads it back through it as a task's input.
    let (big, sha256) = site.big_file(3 << 20);
    let put = site.run(
        &hosts.client,
        &server,
        &["blob", "put", big.to_str().unwrap()],
    );
    assert!(put.status.success(), "{}", text(&put.stderr));
    assert_eq!(
        text(&put.stdout).split_whitespace().next(),
        Some(sha256.as_str())
    );
    let job = site.path("checksum.json");
    let spec = serde_json::json!({
        "executor": "process",
        "command": ["sha256sum", "big.bin"],
        "labels": ["far"],
        "inputs": {"./big.bin": "big.bin"},
    });
    std::fs::write(&job, spec.to_string()).unwrap();
    let id = submit_and_wait(&site, &hosts.client, &server, &job);
    let log = site.run(&hosts.client, &server, &["task", "logs", &id]);
    assert!(
        text(&log.stdout).contains(&sha256),
        "the task read another file: {}",
        text(&log.stdout)
    );

    // The web console through nginx on a port that is not 443: the page's
    // Origin names the port, and the Host nginx passes on must too, or the
    // hub's cross-site check would refuse every change the console makes.
    let curl = |args: &[&str]| -> String {
        let output = hosts
            .client
            .command("curl")
            .args(["-sS", "--cacert", site.path("ca.pem").to_str().unwrap()])
            .args(["-H", &format!("Origin: {server}")])
            .args(["-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("run curl");
        assert!(
            output.status.success(),
            "curl {args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    };
    let jar = site.path("cookies.txt");
    let signed_in = curl(&[
        "-c",
        jar.to_str().unwrap(),
        "-H",
        "Content-Type: application/json",
        "--data",
        &serde_json::json!({ "token": site.admin }).to_string(),
        &format!("{server}/v1/session"),
    ]);
    let (body, status) = signed_in.rsplit_once('\n').unwrap();
    assert_eq!(status, "201", "sign-in through nginx: {body}");
    let csrf = serde_json::from_str::<Value>(body).unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = curl(&[
        "-b",
        jar.to_str().unwrap(),
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("X-Gantry-Csrf: {csrf}"),
        "--data",
        r#"{"name": "through-nginx"}"#,
        &format!("{server}/v1/tokens"),
    ]);
    let (body, status) = created.rsplit_once('\n').unwrap();
    assert_eq!(
        status, "201",
        "a console change through nginx on port {port}: {body}"
    );
    proxy.kill();
}
