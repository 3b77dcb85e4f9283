//! A hub you can expose: `gantry hub serve --tls-cert --tls-key` as a real
//! process with certificates made at test time, reached by real agents and
//! CLI processes that trust it only through `--ca-file`; certificate
//! renewal with and without SIGHUP; proxies; the insecure-http rule.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use gantry_testkit::proxy::ConnectProxy;
use gantry_testkit::tls::{ServerPair, TestCa};
use gantry_testkit::{
    AgentLaunch, HubChild, HubTokens, Process, as_admin, hub_serve, node_and_admin,
};
use nix::sys::signal::Signal;
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// A TLS hub child with a node and an admin token, its CA in `ca.pem`.
struct TlsHub {
    hub: HubChild,
    ca: TestCa,
    admin: String,
    node: String,
    dir: tempfile::TempDir,
}

impl TlsHub {
    fn start() -> TlsHub {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let HubTokens { node, admin } = node_and_admin(gantry, &data, "box");
        let ca = TestCa::new("Gantry test CA");
        ca.write(&dir.path().join("ca.pem"));
        ca.server(&["localhost", "127.0.0.1"], 1)
            .write(&dir.path().join("hub.pem"), &dir.path().join("hub.key"));
        let log = std::fs::File::create(dir.path().join("hub.log")).unwrap();
        let hub = HubChild::start(
            hub_serve(gantry, &data, "127.0.0.1:0")
                .arg("--tls-cert")
                .arg(dir.path().join("hub.pem"))
                .env("GANTRY_HUB_TLS_KEY", dir.path().join("hub.key"))
                .args(["--heartbeat", "1", "--offline-after", "30"])
                .env("RUST_LOG", "info")
                .stderr(log),
        )
        .unwrap();
        TlsHub {
            hub,
            ca,
            admin,
            node,
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn url(&self) -> String {
        self.hub.url("")
    }

    /// `gantry ARGS` as the admin, trusting the CA through GANTRY_CA_FILE.
    fn gantry(&self, args: &[&str]) -> Command {
        let mut command = as_admin(Path::new(GANTRY), &self.url(), &self.admin);
        command
            .args(args)
            .env("GANTRY_CA_FILE", self.path("ca.pem"))
            .env_remove("HTTPS_PROXY")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .env_remove("all_proxy");
        command
    }

    fn node_list(&self) -> Vec<Value> {
        let output = self.gantry(&["node", "list", "--json"]).output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let list: Value = serde_json::from_slice(&output.stdout).unwrap();
        list["nodes"].as_array().cloned().unwrap_or_default()
    }

    fn agent(&self, args: &[&str]) -> AgentLaunch {
        AgentLaunch {
            gantry: GANTRY.into(),
            server: self.url(),
            token: self.node.clone(),
            name: "box".into(),
            host_dir: self.path("agent"),
            config_home: self.dir.path().to_owned(),
            docker_host: Some("unix:///nonexistent/docker.sock".into()),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    fn hub_log(&self) -> String {
        std::fs::read_to_string(self.path("hub.log")).unwrap_or_default()
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A client that trusts `ca` only (no system roots matter for 127.0.0.1)
/// and keeps what the server showed.
fn client(ca: &TestCa, http1_only: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .tls_info(true)
        .no_proxy()
        .pool_max_idle_per_host(0);
    if http1_only {
        builder = builder.http1_only();
    }
    builder.build().unwrap()
}

/// The certificate the hub shows a new connection, and the HTTP version it spoke.
async fn shown(ca: &TestCa, url: &str, http1_only: bool) -> (Vec<u8>, reqwest::Version) {
    let response = client(ca, http1_only)
        .get(format!("{url}/v1/health"))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let der = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .map(<[u8]>::to_vec)
        .expect("a peer certificate");
    (der, response.version())
}

async fn wait_shown(ca: &TestCa, url: &str, pair: &ServerPair, what: &str) {
    for _ in 0..150 {
        if shown(ca, url, false).await.0 == pair.der {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a new connection never saw the certificate {what}");
}

#[tokio::test]
async fn the_hub_serves_http1_and_http2_and_renews_its_certificate_without_a_restart() {
    let mut hub = TlsHub::start();
    let url = hub.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let first = std::fs::read_to_string(hub.path("hub.pem")).unwrap();
    let (der, version) = shown(&hub.ca, &url, false).await;
    assert_eq!(version, reqwest::Version::HTTP_2, "ALPN offers h2");
    assert!(first.contains("BEGIN CERTIFICATE") && !der.is_empty());
    let (_, version) = shown(&hub.ca, &url, true).await;
    assert_eq!(version, reqwest::Version::HTTP_11);

    // Renewed in place, then SIGHUP.
    let second = hub.ca.server(&["localhost", "127.0.0.1"], 2);
    assert_ne!(second.der, der);
    second.write(&hub.path("hub.pem"), &hub.path("hub.key"));
    hub.hub.process.signal(Signal::SIGHUP);
    wait_shown(&hub.ca, &url, &second, "given with SIGHUP").await;

    // Renewed in place with no signal: the hub notices the files.
    let third = hub.ca.server(&["localhost", "127.0.0.1"], 3);
    third.write(&hub.path("hub.pem"), &hub.path("hub.key"));
    wait_shown(&hub.ca, &url, &third, "whose files were replaced").await;

    // A key that is not the certificate's keeps the one in use, and says why.
    let other = hub.ca.server(&["localhost"], 4);
    std::fs::write(hub.path("hub.key"), &other.key_pem).unwrap();
    hub.hub.process.signal(Signal::SIGHUP);
    gantry_testkit::until_blocking(20, "the hub to say the new pair was refused", || {
        hub.hub_log()
            .contains("the TLS certificate was not reloaded")
            .then_some(())
    });
    assert!(
        hub.hub_log().contains("does not fit the certificate"),
        "{}",
        hub.hub_log()
    );
    assert_eq!(shown(&hub.ca, &url, false).await.0, third.der);
    assert!(
        hub.hub.process.running(),
        "a bad pair does not stop the hub"
    );

    // Graceful stop over TLS too.
    let status = hub.hub.process.terminate(Duration::from_secs(15));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn bad_tls_files_are_named_before_the_hub_starts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("ca");
    let pair = ca.server(&["localhost"], 1);
    let other = ca.server(&["localhost"], 2);
    let (cert, key, junk) = (
        dir.path().join("c.pem"),
        dir.path().join("k.pem"),
        dir.path().join("junk.pem"),
    );
    pair.write(&cert, &key);
    std::fs::write(&junk, "not pem").unwrap();
    let wrong_key = dir.path().join("other.key");
    std::fs::write(&wrong_key, &other.key_pem).unwrap();
    let serve = |cert: &Path, key: Option<&Path>| {
        let mut command = hub_serve(Path::new(GANTRY), &dir.path().join("data"), "127.0.0.1:0");
        command.arg("--tls-cert").arg(cert);
        if let Some(key) = key {
            command.arg("--tls-key").arg(key);
        }
        let output = command.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(output.stdout.is_empty());
        stderr(&output)
    };
    let missing = dir.path().join("missing.pem");
    let said = serve(&missing, Some(&key));
    assert!(said.contains(&missing.display().to_string()), "{said}");
    let said = serve(&junk, Some(&key));
    assert!(
        said.contains(&format!("{} holds no PEM certificate", junk.display())),
        "{said}"
    );
    let said = serve(&cert, Some(&junk));
    assert!(
        said.contains(&format!("{} holds no PEM private key", junk.display())),
        "{said}"
    );
    let said = serve(&cert, Some(&wrong_key));
    assert!(
        said.contains(&format!(
            "the private key in {} does not fit the certificate in {}",
            wrong_key.display(),
            cert.display()
        )),
        "{said}"
    );
    let said = serve(&cert, None);
    assert!(said.contains("--tls-cert needs --tls-key"), "{said}");
}

#[test]
fn an_agent_trusting_the_ca_file_runs_a_task_and_one_without_it_sends_nothing() {
    let hub = TlsHub::start();
    // Without the CA: a TLS error about the certificate, and the hub never
    // saw the token (the node was never seen).
    let log = hub.path("untrusting.log");
    let mut untrusting = Process::spawn(
        hub.agent(&[])
            .command()
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .unwrap();
    gantry_testkit::until_blocking(60, "the agent to say TLS failed", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("cannot set up a secure connection")
            .then_some(())
    });
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(
        said.contains("certificate") && said.contains("--ca-file"),
        "{said}"
    );
    assert!(!said.contains(&hub.node), "the token is never written");
    let nodes = hub.node_list();
    assert!(nodes[0]["last_seen"].is_null(), "{nodes:?}");
    untrusting.kill();

    // With --ca-file: it registers and runs a process task submitted by a
    // CLI that trusts the CA with --ca-file too.
    let mut agent = Process::spawn(
        hub.agent(&["--ca-file", hub.path("ca.pem").to_str().unwrap()])
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    let job = hub.path("job.yaml");
    std::fs::write(&job, "executor: process\ncommand: [echo, over-tls]\n").unwrap();
    let output = as_admin(Path::new(GANTRY), &hub.url(), &hub.admin)
        .args(["task", "submit", "--wait", "--ca-file"])
        .arg(hub.path("ca.pem"))
        .arg(&job)
        .env_remove("GANTRY_CA_FILE")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let logs = hub.gantry(&["task", "logs", &id]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&logs.stdout).trim(), "over-tls");
    assert!(!hub.node_list()[0]["last_seen"].is_null());

    // The CLI without the CA says it is TLS, and names the CA flag.
    let output = as_admin(Path::new(GANTRY), &hub.url(), &hub.admin)
        .args(["node", "list"])
        .env_remove("GANTRY_CA_FILE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("cannot set up a secure connection"),
        "{}",
        stderr(&output)
    );
    agent.signal(Signal::SIGTERM);
    assert!(agent.exits_within(Duration::from_secs(20)).is_some());
}

#[test]
fn the_cli_goes_through_https_proxy_unless_no_proxy_names_the_hub() {
    let hub = TlsHub::start();
    let proxy = ConnectProxy::start();
    let through = hub
        .gantry(&["node", "list", "--json"])
        .env("HTTPS_PROXY", proxy.url())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    assert!(through.status.success(), "{}", stderr(&through));
    assert!(proxy.tunnels() >= 1, "the call went through the proxy");
    let before = proxy.tunnels();
    let around = hub
        .gantry(&["node", "list", "--json"])
        .env("HTTPS_PROXY", proxy.url())
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    assert!(around.status.success(), "{}", stderr(&around));
    assert_eq!(proxy.tunnels(), before, "NO_PROXY bypasses the proxy");
}

#[test]
fn a_token_in_clear_beyond_loopback_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let launch = |args: &[&str]| AgentLaunch {
        gantry: GANTRY.into(),
        server: "http://192.0.2.10:8750".into(),
        token: "gantry_node_secret".into(),
        name: "box".into(),
        host_dir: dir.path().join("agent"),
        config_home: dir.path().to_owned(),
        docker_host: Some("unix:///nonexistent/docker.sock".into()),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
    };
    let output = launch(&[]).command().output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains(
            "refusing to send the node token in clear to http://192.0.2.10:8750: use https://, or pass --allow-insecure-http"
        ),
        "{said}"
    );
    assert!(!said.contains("gantry_node_secret"));

    // Allowed by the flag, or by the variable: it starts (and keeps trying).
    for (args, env) in [
        (&["--allow-insecure-http"][..], None),
        (&[][..], Some(("GANTRY_ALLOW_INSECURE_HTTP", "true"))),
    ] {
        let mut command = launch(args).command();
        if let Some((name, value)) = env {
            command.env(name, value);
        }
        let mut agent =
            Process::spawn(command.stdout(Stdio::null()).stderr(Stdio::null())).unwrap();
        gantry_testkit::until_blocking(30, "the allowed agent's socket", || {
            dir.path().join("agent/agent.sock").exists().then_some(())
        });
        assert!(agent.running());
        agent.signal(Signal::SIGTERM);
        assert!(agent.exits_within(Duration::from_secs(20)).is_some());
        let _ = std::fs::remove_file(dir.path().join("agent/agent.sock"));
    }

    // The CLI warns for an admin token, unless told the network is trusted.
    let run = |allow: Option<&str>| {
        let mut command = as_admin(Path::new(GANTRY), "http://0.0.0.0:1", "gantry_admin_x");
        command
            .args(["node", "list"])
            .env_remove("GANTRY_CA_FILE")
            .env_remove("GANTRY_ALLOW_INSECURE_HTTP");
        match allow {
            Some("flag") => {
                command.arg("--allow-insecure-http");
            }
            Some(value) => {
                command.env("GANTRY_ALLOW_INSECURE_HTTP", value);
            }
            None => {}
        }
        let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
        let mut said = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut said)
            .unwrap();
        child.wait().unwrap();
        said
    };
    for allow in [None, Some("0"), Some("false")] {
        let warned = run(allow);
        assert!(
            warned.contains("warning: the admin token goes in clear to http://0.0.0.0:1"),
            "{allow:?}: {warned}"
        );
    }
    for allow in [Some("flag"), Some("1"), Some("true")] {
        let said = run(allow);
        assert!(
            !said.contains("warning") && said.contains("cannot reach"),
            "{allow:?}: {said}"
        );
    }
}
