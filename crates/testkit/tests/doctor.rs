//! `gantry doctor` as a person runs it: the built binary as a child
//! process, against the real parts its checks look at — the Docker engine
//! (and a socket nobody serves), a hub over real sockets (in process, its
//! clock set by the test, and as a TLS child with certificates made here),
//! a CONNECT proxy, the test kit's stand-in NVML (and its absence), a
//! stand-in `nvidia-ctk` program, and a real agent's control socket.
//! Each test reads the JSON (`--json`) and the exit status; the token
//! given is never in what it prints.
//!
//! The clock check compares with the hub's `Date` header, which the hub
//! takes from its own clock: the in-process hub's [`ManualClock`] is set
//! ahead of or behind real time, so the skew is real, measured over HTTP
//! by the binary, and chosen by the test.
//!
//! Run `cargo build -p gantry-cli` first.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gantry_testkit::children::{AGENT_ENV, agent_status};
use gantry_testkit::drive::built_gantry;
use gantry_testkit::proxy::ConnectProxy;
use gantry_testkit::tls::TestCa;
use gantry_testkit::{
    AgentLaunch, Backend, FakeGpu, HubChild, NvmlStandin, Process, TestHub, hub_admin, hub_serve,
};
use serde_json::Value;

/// The proxy variables no child inherits unless a test sets them.
const PROXY_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUEST_METHOD",
];

/// What one `gantry doctor --json` printed and its exit status.
struct Run {
    code: i32,
    checks: Vec<Value>,
    /// stdout and stderr together, to look for tokens.
    text: String,
}

impl Run {
    fn check(&self, name: &str) -> &Value {
        self.checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {:#?}", self.checks))
    }

    fn status(&self, name: &str) -> &str {
        self.check(name)["status"].as_str().unwrap()
    }

    fn message(&self, name: &str) -> &str {
        self.check(name)["message"].as_str().unwrap()
    }

    /// Fails, quoting the run, unless the check `name` has `status` and its
    /// message holds each of `words`.
    fn expect(&self, name: &str, status: &str, words: &[&str]) {
        let check = self.check(name);
        assert_eq!(check["status"], status, "{check:#}");
        for word in words {
            assert!(self.message(name).contains(word), "{word:?} in {check:#}");
        }
    }
}

/// `gantry doctor --json` with a clean environment: none of the agent's or
/// proxies' variables from this process, a config home with no agent.toml,
/// the host dir `home/agent`, no NVML (an empty LD_LIBRARY_PATH), and this
/// process's DOCKER_HOST (the test engine).
fn doctor(home: &Path) -> tokio::process::Command {
    let mut command = doctor_text(home);
    command.arg("--json");
    command
}

/// [`doctor`] without `--json`: lines for a person.
fn doctor_text(home: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(built_gantry());
    for name in AGENT_ENV.iter().chain(PROXY_ENV) {
        command.env_remove(name);
    }
    command
        .arg("doctor")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("GANTRY_HOST_DIR", home.join("agent"))
        .env("LD_LIBRARY_PATH", "")
        .env_remove("GANTRY_NVML_STANDIN")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

async fn run(command: &mut tokio::process::Command) -> Run {
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("gantry doctor ends within 120 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let checks: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\nstderr: {stderr}"));
    Run {
        code: output.status.code().expect("an exit status"),
        checks,
        text: format!("{stdout}\n{stderr}"),
    }
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Sets the hub's clock to real time plus `skew_secs` (negative: behind).
fn set_hub_clock(hub: &TestHub, skew_secs: i64) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let by = now_ms + skew_secs * 1000 - gantry_hub::Clock::now_ms(hub.clock.as_ref());
    assert!(by >= 0, "the test hub's clock starts in the past");
    hub.clock.advance(Duration::from_millis(by as u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_is_every_check_as_name_status_message_fix() {
    let home = home();
    let run = run(&mut doctor(home.path())).await;
    let names: Vec<&str> = run
        .checks
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, gantry_agent::doctor::CHECKS);
    for check in &run.checks {
        let keys: Vec<&String> = check.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["fix", "message", "name", "status"], "{check:#}");
        assert!(
            ["ok", "warning", "failure"].contains(&check["status"].as_str().unwrap()),
            "{check:#}"
        );
        assert!(!check["message"].as_str().unwrap().is_empty(), "{check:#}");
        if check["status"] != "ok" {
            assert!(!check["fix"].as_str().unwrap().is_empty(), "{check:#}");
        }
    }
    // No hub is configured: a warning, and the checks that need one say so.
    run.expect("hub", "warning", &["no hub is configured"]);
    run.expect("clock", "ok", &["not checked"]);
    let worst = if run.checks.iter().any(|c| c["status"] == "failure") {
        2
    } else {
        1
    };
    assert_eq!(run.code, worst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_the_agent_refuses_fail_the_config_check_and_the_rest_still_run() {
    let home = home();
    let file = home.path().join("config/gantry/agent.toml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "max_tasks = 0\n").unwrap();
    let run = run(&mut doctor(home.path())).await;
    run.expect("config", "failure", &["max tasks must be at least 1"]);
    assert_eq!(run.checks.len(), gantry_agent::doctor::CHECKS.len());
    run.expect("control-socket", "warning", &["no agent is running"]);
    assert_eq!(run.code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_answers_with_its_version_or_fails_when_nobody_serves_its_socket() {
    let home = home();
    let stopped = run(doctor(home.path()).args(["--check", "docker"]).env(
        "DOCKER_HOST",
        "unix:///nonexistent/gantry-doctor/docker.sock",
    ))
    .await;
    assert_eq!(stopped.checks.len(), 1);
    stopped.expect(
        "docker",
        "failure",
        &["does not answer at unix:///nonexistent/gantry-doctor/docker.sock"],
    );
    assert!(
        stopped.check("docker")["fix"]
            .as_str()
            .unwrap()
            .contains("start Docker")
    );
    assert_eq!(stopped.code, 2, "a failure exits 2");
    // The cgroup check cannot ask a stopped engine, and says what it read here.
    let cgroup = run(doctor(home.path()).args(["--check", "cgroup"]).env(
        "DOCKER_HOST",
        "unix:///nonexistent/gantry-doctor/docker.sock",
    ))
    .await;
    assert!(
        cgroup.message("cgroup").starts_with("this machine mounts"),
        "{:#}",
        cgroup.check("cgroup")
    );

    if !gantry_testkit::docker_ready() {
        return;
    }
    let engine = gantry_agent::docker::Engine::connect(None, Duration::from_secs(30))
        .await
        .unwrap();
    let facts = engine.facts().await.unwrap();
    let running = run(doctor(home.path()).args(["--check", "docker", "--check", "cgroup"])).await;
    running.expect("docker", "ok", &[&format!("Docker {}", facts.version)]);
    let version = facts.cgroup_version.clone().unwrap_or_default();
    running.expect(
        "cgroup",
        running.status("cgroup"),
        &[&format!(
            "the engine runs containers under cgroup v{version}"
        )],
    );
    let only_docker = run(doctor(home.path()).args(["--check", "docker"])).await;
    assert_eq!(only_docker.code, 0, "all ok exits 0");
}

/// A TLS hub child with a node token; its CA in `ca.pem`, another CA's
/// certificate in `wrong.pem`.
struct TlsHub {
    hub: HubChild,
    node: String,
    dir: tempfile::TempDir,
}

impl TlsHub {
    fn start() -> TlsHub {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = built_gantry();
        let node = hub_admin(&gantry, &data, &["hub", "node", "add", "box"]).unwrap();
        let ca = TestCa::new("Gantry doctor test CA");
        ca.write(&dir.path().join("ca.pem"));
        TestCa::new("Someone else's CA").write(&dir.path().join("wrong.pem"));
        ca.server(&["localhost", "127.0.0.1"], 1)
            .write(&dir.path().join("hub.pem"), &dir.path().join("hub.key"));
        let hub = HubChild::start(
            hub_serve(&gantry, &data, "127.0.0.1:0")
                .arg("--tls-cert")
                .arg(dir.path().join("hub.pem"))
                .arg("--tls-key")
                .arg(dir.path().join("hub.key"))
                .stderr(Stdio::null()),
        )
        .unwrap();
        TlsHub { hub, node, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `gantry doctor` for this hub with the node token and `ca` as the CA file.
    fn doctor(&self, home: &Path, ca: Option<&str>) -> tokio::process::Command {
        let mut command = doctor(home);
        command
            .env("GANTRY_SERVER", self.hub.url(""))
            .env("GANTRY_TOKEN", &self.node);
        if let Some(ca) = ca {
            command.arg("--ca-file").arg(self.path(ca));
        }
        command
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_a_tls_failure_naming_the_ca_file() {
    let tls = tokio::task::spawn_blocking(TlsHub::start).await.unwrap();
    let home = home();

    let right = run(&mut tls.doctor(home.path(), Some("ca.pem"))).await;
    right.expect("tls", "ok", &["trusted by the CA file", "ca.pem"]);
    right.expect("hub", "ok", &["takes this node's token"]);

    let wrong = run(&mut tls.doctor(home.path(), Some("wrong.pem"))).await;
    let wrong_file = tls.path("wrong.pem").display().to_string();
    wrong.expect(
        "tls",
        "failure",
        &["not trusted by the CA file", &wrong_file],
    );
    assert!(
        wrong.check("tls")["fix"]
            .as_str()
            .unwrap()
            .contains(&wrong_file),
        "{:#}",
        wrong.check("tls")
    );
    assert_eq!(wrong.status("hub"), "failure");
    assert_eq!(wrong.code, 2);

    let system = run(&mut tls.doctor(home.path(), None)).await;
    system.expect("tls", "failure", &["the system's root certificates"]);

    std::fs::write(tls.path("junk.pem"), "not a certificate").unwrap();
    let junk = run(&mut tls.doctor(home.path(), Some("junk.pem"))).await;
    junk.expect(
        "tls",
        "failure",
        &[&tls.path("junk.pem").display().to_string()],
    );

    for run in [&right, &wrong, &system, &junk] {
        assert!(!run.text.contains(&tls.node), "the token was printed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_reqwest_uses_for_the_hub_is_named_and_used() {
    let tls = tokio::task::spawn_blocking(TlsHub::start).await.unwrap();
    let proxy = ConnectProxy::start();
    let home = home();

    let through = run(tls
        .doctor(home.path(), Some("ca.pem"))
        .args(["--check", "proxy", "--check", "hub"])
        .env("HTTPS_PROXY", proxy.url()))
    .await;
    through.expect(
        "proxy",
        "ok",
        &[
            &format!("through the proxy {} (HTTPS_PROXY)", proxy.url()),
            "reached the hub",
        ],
    );
    through.expect("hub", "ok", &[]);
    let tunnels = proxy.tunnels();
    assert!(
        tunnels > 0,
        "the doctor's calls did not go through the proxy"
    );

    let bypassed = run(tls
        .doctor(home.path(), Some("ca.pem"))
        .env("HTTPS_PROXY", proxy.url())
        .env("NO_PROXY", "localhost,127.0.0.1"))
    .await;
    bypassed.expect("proxy", "ok", &["NO_PROXY names the hub's host"]);
    bypassed.expect("hub", "ok", &[]);
    assert_eq!(
        proxy.tunnels(),
        tunnels,
        "NO_PROXY did not bypass the proxy"
    );

    let dead = format!("http://127.0.0.1:{}", gantry_testkit::free_port());
    let broken = run(tls
        .doctor(home.path(), Some("ca.pem"))
        .env("https_proxy", &dead))
    .await;
    broken.expect(
        "proxy",
        "failure",
        &[&format!("through the proxy {dead} (https_proxy)")],
    );
    assert_eq!(broken.status("hub"), "failure");
    assert!(!broken.text.contains(&tls.node), "the token was printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_is_compared_with_the_hubs_date() {
    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let token = hub.node("box", &[]).await;
    let home = home();
    let clock = || {
        let mut command = doctor(home.path());
        command
            .args(["--check", "clock", "--check", "hub"])
            .env("GANTRY_SERVER", &hub.url)
            .env("GANTRY_TOKEN", &token);
        command
    };

    // The hub's clock only moves forward: two hours behind real time first.
    set_hub_clock(&hub, -2 * 3600);
    let ahead = run(&mut clock()).await;
    ahead.expect(
        "clock",
        "failure",
        &["ahead of the hub's", "more than an hour"],
    );
    assert_eq!(ahead.code, 2);

    // Two seconds ahead, as the hub's clock stands still while the doctor
    // starts: the skew measured is 2.5 s less the time that takes.
    set_hub_clock(&hub, 2);
    let in_step = run(&mut clock()).await;
    in_step.expect("clock", "ok", &["within 5 s"]);
    in_step.expect("hub", "ok", &["takes this node's token"]);
    assert_eq!(in_step.code, 0);

    set_hub_clock(&hub, 60);
    let behind = run(&mut clock()).await;
    behind.expect("clock", "warning", &["s behind the hub's"]);
    assert_eq!(behind.code, 1, "a warning exits 1");

    for run in [&in_step, &behind, &ahead] {
        assert!(!run.text.contains(&token), "the token was printed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_refuses_a_wrong_token_and_the_token_is_never_printed() {
    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let home = home();
    let wrong = "gdoctor-not-a-token-7f3a9c";
    let json = run(doctor(home.path())
        .env("GANTRY_SERVER", &hub.url)
        .env("GANTRY_TOKEN", wrong))
    .await;
    json.expect("hub", "failure", &["refuses this node's token"]);
    assert!(!json.text.contains(wrong), "the token was printed");

    // Text for a person: a line per check, its fix under it, a count.
    let output = doctor_text(home.path())
        .args(["--check", "hub"])
        .env("GANTRY_SERVER", &hub.url)
        .env("GANTRY_TOKEN", wrong)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.starts_with("failure  hub  a Gantry hub"), "{text}");
    assert!(text.contains("refuses this node's token"), "{text}");
    assert!(
        text.contains(&format!("\n{}fix: ", " ".repeat(14))),
        "{text}"
    );
    assert!(
        text.ends_with("1 check: 0 ok, 0 warnings, 1 failure\n"),
        "{text}"
    );
    assert!(!text.contains(wrong), "the token was printed: {text}");
    assert_eq!(output.status.code(), Some(2));

    // No token at all: the hub answers, and the node cannot take tasks.
    let untokened = run(doctor(home.path())
        .args(["--check", "hub"])
        .env("GANTRY_SERVER", &hub.url))
    .await;
    untokened.expect("hub", "warning", &["no node token is configured"]);
    assert_eq!(untokened.code, 1);

    // Nothing listens: the hub fails, and the rest says it was not checked.
    let nowhere = format!("http://127.0.0.1:{}", gantry_testkit::free_port());
    let down = run(doctor(home.path()).env("GANTRY_SERVER", &nowhere)).await;
    down.expect("hub", "failure", &["cannot reach the hub"]);
    down.expect("clock", "warning", &["not checked"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nvidia_driver_is_read_through_nvml() {
    let home = home();
    let standin = NvmlStandin::build("doctor-driver").unwrap();
    standin
        .write(&[FakeGpu::idle(0, 24 << 30), FakeGpu::idle(1, 24 << 30)])
        .unwrap();
    let with_standin = |command: &mut tokio::process::Command| {
        for (name, value) in standin.env() {
            command.env(name, value);
        }
    };

    let mut command = doctor(home.path());
    with_standin(&mut command);
    let gpus = run(&mut command).await;
    gpus.expect(
        "nvidia-driver",
        "ok",
        &["550.0-standin", "2 GPUs", "Stand-in GPU"],
    );
    // NVIDIA GPUs and no toolkit on this machine: GPU tasks cannot run.
    gpus.expect(
        "nvidia-toolkit",
        "failure",
        &["no NVIDIA Container Toolkit"],
    );

    standin.write(&[]).unwrap();
    let mut command = doctor(home.path());
    with_standin(&mut command);
    let no_gpu = run(&mut command).await;
    no_gpu.expect("nvidia-driver", "warning", &["sees no GPU"]);

    // The library is there but cannot start (its file is gone): NVML fails.
    let mut command = doctor(home.path());
    with_standin(&mut command);
    command.env("GANTRY_NVML_STANDIN", home.path().join("missing.txt"));
    let broken = run(&mut command).await;
    broken.expect("nvidia-driver", "failure", &["NVML is installed but fails"]);

    if !Path::new("/dev/nvidiactl").exists() {
        let absent = run(&mut doctor(home.path())).await;
        absent.expect("nvidia-driver", "ok", &["no NVIDIA driver"]);
        absent.expect("nvidia-toolkit", "ok", &["not needed"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_toolkits_version_is_asked_and_known_escapes_warned() {
    let home = home();
    let standin = NvmlStandin::build("doctor-toolkit").unwrap();
    standin.write(&[FakeGpu::idle(0, 24 << 30)]).unwrap();
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (version, status, words) in [
        (
            "1.16.1",
            "warning",
            &["1.16.1", "CVE-2024-0132", "CVE-2025-23266"][..],
        ),
        ("1.17.7", "warning", &["CVE-2025-23266"][..]),
        ("1.17.8", "ok", &["nvidia-ctk 1.17.8"][..]),
    ] {
        // A stand-in nvidia-ctk that says what the real one says.
        let program = bin.join("nvidia-ctk");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\necho 'NVIDIA Container Toolkit CLI version {version}'\necho 'commit: 0a1b2c3'\n"
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut command = doctor(home.path());
        command
            .args(["--check", "nvidia-toolkit"])
            .env("PATH", &path);
        for (name, value) in standin.env() {
            command.env(name, value);
        }
        let run = run(&mut command).await;
        run.expect("nvidia-toolkit", status, words);
        if status == "warning" {
            assert!(
                run.check("nvidia-toolkit")["fix"]
                    .as_str()
                    .unwrap()
                    .contains("1.17.8 or later")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_socket_answers_when_an_agent_runs() {
    let home = home();
    let socket_check = || {
        let mut command = doctor(home.path());
        command.args(["--check", "control-socket"]);
        command
    };
    let none = run(&mut socket_check()).await;
    none.expect("control-socket", "warning", &["no agent is running"]);

    // A socket an agent left when it was killed: nobody answers on it.
    std::fs::create_dir_all(home.path().join("agent")).unwrap();
    drop(std::os::unix::net::UnixListener::bind(home.path().join("agent/agent.sock")).unwrap());
    let stale = run(&mut socket_check()).await;
    stale.expect(
        "control-socket",
        "warning",
        &["left from an agent that stopped"],
    );

    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let token = hub.node("doctor-box", &[]).await;
    let launch = AgentLaunch {
        gantry: built_gantry(),
        server: hub.url.clone(),
        token: token.clone(),
        name: "doctor-box".into(),
        host_dir: home.path().join("agent"),
        config_home: home.path().join("config"),
        docker_host: None,
        args: Vec::new(),
    };
    let log = std::fs::File::create(home.path().join("agent.log")).unwrap();
    let _agent = Process::spawn(launch.command().stdout(Stdio::null()).stderr(log)).unwrap();
    let socket = home.path().join("agent/agent.sock");
    gantry_testkit::until(60, "the agent to reach the hub", async || {
        agent_status(&socket)
            .await
            .filter(|status| status["connected"] == true)
    })
    .await;
    let running = run(&mut socket_check()).await;
    running.expect(
        "control-socket",
        "ok",
        &["the agent doctor-box answers", "connected to the hub"],
    );
    assert_eq!(running.code, 0);
}

/// This machine's address on its network (not loopback), if it has one:
/// the source address of a UDP socket pointed outward (nothing is sent).
fn network_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("10.255.255.255:1").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_beyond_this_machine_gets_no_token_unless_allowed() {
    let Some(ip) = network_address() else {
        eprintln!("SKIPPED: this machine has no address but loopback");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let gantry = built_gantry();
    let data = dir.path().join("hub");
    let node = hub_admin(&gantry, &data, &["hub", "node", "add", "box"]).unwrap();
    let hub = tokio::task::spawn_blocking(move || {
        HubChild::start(hub_serve(&gantry, &data, "0.0.0.0:0").stderr(Stdio::null())).unwrap()
    })
    .await
    .unwrap();
    let port = hub.address().rsplit(':').next().unwrap().to_owned();
    let server = format!("http://{ip}:{port}");
    let home = home();
    let command = || {
        let mut command = doctor(home.path());
        command
            .args(["--check", "hub", "--check", "tls"])
            .env("GANTRY_SERVER", &server)
            .env("GANTRY_TOKEN", &node);
        command
    };

    let refused = run(&mut command()).await;
    refused.expect("tls", "failure", &["plain http beyond this machine"]);
    refused.expect("hub", "warning", &["the node token was not sent"]);
    assert_eq!(refused.code, 2);

    let allowed = run(command().arg("--allow-insecure-http")).await;
    allowed.expect("tls", "warning", &["crosses the network unencrypted"]);
    allowed.expect("hub", "ok", &["takes this node's token"]);
    assert_eq!(allowed.code, 1);
    for run in [&refused, &allowed] {
        assert!(!run.text.contains(&node), "the token was printed");
    }
}
