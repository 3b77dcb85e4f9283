//! `cargo xtask bench desktop`: the desktop app's idle footprint, counting
//! the app and every process under it (WebKitGTK's web and network
//! processes), with its window hidden and shown, against the headless agent
//! idle in the same run.
//!
//! The app runs on a private desktop, as in its end-to-end tests: its own
//! D-Bus session bus with an unlocked GNOME Keyring, a notification server
//! and a tray host (python3-dbusmock), and an Xvfb display. It connects to a
//! release hub on loopback through `GANTRY_SERVER` and `GANTRY_TOKEN`, so no
//! wizard shows, and to the Docker engine the other benchmarks use.
//!
//! Each case waits until the agent's control socket says it reached the hub,
//! lets it settle, then reads /proc once a second for the measured seconds:
//! the resident memory of every process in the tree, and their CPU time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::hub::{HubProcess, Scratch, gantry_says};
use super::{machine, proc_field};
use crate::exec::{self, say};
use crate::services::DockerEngine;

/// How long a case sits idle after its agent connected, before sampling.
const SETTLE: Duration = Duration::from_secs(10);
/// How long the app or the agent may take to reach the hub.
const BOOT_LIMIT: Duration = Duration::from_secs(120);
/// How long the app may take to quit after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// How long the app's child processes may linger after it exited.
const CHILDREN_LIMIT: Duration = Duration::from_secs(5);
/// How long the private desktop's services may take to appear on the bus.
const DESKTOP_LIMIT: Duration = Duration::from_secs(30);
/// Linux reports CPU time in /proc/PID/stat in ticks of 1/100 s (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;
/// Busy CPU besides the measured tree, in % of one core, above which the
/// record says other work shared the machine.
const OTHER_WORK_PERCENT: f64 = 10.0;
/// The main window's title, as tauri.conf.json sets it.
const WINDOW_TITLE: &str = "Gantry";

/// The environment a person's own agent and session may have set, removed
/// from everything this benchmark starts and set again where it matters.
const CLEARED_ENV: &[&str] = &[
    "GANTRY_SERVER",
    "SERVER_ADDRESS",
    "GANTRY_TOKEN",
    "ACCESS_TOKEN",
    "GANTRY_HOST_DIR",
    "AGENT_HOST_DIR",
    "GANTRY_CONFIG",
    "GANTRY_ADMIN_TOKEN",
    "GANTRY_NAME",
    "GANTRY_LOG",
    "DOCKER_HOST",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "DBUS_SESSION_BUS_ADDRESS",
    "WEBKIT_DISABLE_DMABUF_RENDERER",
];

/// A StatusNotifierWatcher for python3-dbusmock: the tray host a desktop
/// panel provides, which the app's tray icon registers with.
const TRAY_HOST: &str = r#"import dbus

BUS_NAME = 'org.kde.StatusNotifierWatcher'
MAIN_OBJ = '/StatusNotifierWatcher'
MAIN_IFACE = 'org.kde.StatusNotifierWatcher'
SYSTEM_BUS = False


def load(mock, parameters):
    mock.AddProperties(MAIN_IFACE, {
        'IsStatusNotifierHostRegistered': dbus.Boolean(True),
        'ProtocolVersion': dbus.Int32(0),
        'RegisteredStatusNotifierItems': dbus.Array([], signature='s'),
    })
    mock.AddMethods(MAIN_IFACE, [
        ('RegisterStatusNotifierItem', 's', '', ''),
        ('RegisterStatusNotifierHost', 's', '', ''),
    ])
"#;

/// The options of `cargo xtask bench desktop`.
#[derive(Debug)]
pub struct Options {
    /// How long each case is sampled, in seconds.
    pub seconds: u64,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            seconds: 60,
            record: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--seconds" => {
                    options.seconds = args
                        .next()
                        .context("--seconds needs a number")?
                        .parse()
                        .context("--seconds needs a number")?;
                }
                "--no-record" => options.record = false,
                other => {
                    bail!("unknown option `{other}` for `bench desktop`; see `cargo xtask help`")
                }
            }
        }
        if options.seconds < 5 {
            bail!("--seconds needs at least 5 seconds");
        }
        Ok(options)
    }
}

/// What one run measured.
#[derive(Debug)]
pub struct Figures {
    seconds: u64,
    /// The headless agent: the floor.
    floor: Footprint,
    /// The app started with `--hidden`.
    hidden: Footprint,
    /// The app with its window shown.
    shown: Footprint,
    /// Which Docker engine the agents used, in words.
    docker: String,
    /// Processes of the app still alive after it quit, `name (pid)`.
    leftovers: Vec<String>,
}

/// A process tree's footprint over the sampled seconds.
#[derive(Debug, Default)]
struct Footprint {
    /// How many 1 s samples were read.
    samples: usize,
    /// How long the samples spanned.
    secs: f64,
    /// Processes in the tree at the last sample.
    processes: usize,
    /// Distinct processes seen in the tree over the samples.
    processes_seen: usize,
    /// The sum of every process's VmRSS: its mean and max over the samples, kB.
    rss_mean_kb: f64,
    rss_max_kb: u64,
    /// The sum of every process's Pss (shared pages split among their
    /// users), mean over the samples, kB.
    pss_mean_kb: f64,
    /// CPU time over the samples, as % of one core.
    cpu_percent: f64,
    /// The same, by program.
    programs: Vec<Program>,
    /// The 1-minute load average as the samples started and ended.
    load_start: f64,
    load_end: f64,
    /// The whole machine's busy CPU time over the samples (this tree, the
    /// display, the hub, the sampling and anything else), as % of one core.
    machine_percent: f64,
    /// The app's visible main windows at the end, when xdotool could tell.
    visible_windows: Option<usize>,
    /// Whether the app's tray icon registered with the tray host.
    tray: Option<bool>,
}

/// One program's share of a footprint.
#[derive(Debug, Default, Clone)]
struct Program {
    name: String,
    /// Processes of it at the last sample.
    count: usize,
    rss_mean_kb: f64,
    pss_mean_kb: f64,
    cpu_percent: f64,
}

/// Builds everything, starts the hub, and measures the three cases.
pub async fn run(options: &Options) -> Result<Figures> {
    tokio::task::spawn_blocking(|| crate::ui::build(false))
        .await?
        .context("cannot build the UI in ui/, which the app embeds")?;
    let binaries = build().await?;
    let (docker, docker_words) = tokio::task::spawn_blocking(docker_engine).await?;
    let docker_host = docker.as_ref().map(|engine| engine.host().to_owned());
    say(format!("bench desktop: Docker: {docker_words}"));

    let scratch = Scratch::named("desktop")?;
    let data = scratch.0.join("hub");
    let floor_token =
        gantry_says(&binaries.gantry, &["hub", "node", "add", "floor"], &data).await?;
    let app_token =
        gantry_says(&binaries.gantry, &["hub", "node", "add", "desktop"], &data).await?;
    let hub = HubProcess::start(&binaries.gantry, &data, &scratch.0.join("hub.log")).await?;
    let server = hub.url("");
    let seconds = options.seconds;

    let figures = async {
        say(format!(
            "bench desktop: floor, the headless agent idle for {seconds} s"
        ));
        let floor = floor(
            &binaries.gantry,
            &scratch.0,
            &server,
            &floor_token,
            docker_host.as_deref(),
            seconds,
        )
        .await?;
        say(format!("bench desktop: floor: {}", floor.summary()));

        let root = scratch.0.join("desktop");
        let desktop = {
            let root = root.clone();
            tokio::task::spawn_blocking(move || PrivateDesktop::start(&root)).await??
        };
        let mut leftovers = Vec::new();
        let mut cases = Vec::new();
        for hidden in [true, false] {
            let name = if hidden { "hidden" } else { "shown" };
            say(format!(
                "bench desktop: the app, window {name}, idle for {seconds} s"
            ));
            let (footprint, left) = app_case(
                &binaries.desktop,
                &desktop,
                &server,
                &app_token,
                docker_host.as_deref(),
                hidden,
                seconds,
            )
            .await?;
            say(format!(
                "bench desktop: window {name}: {}",
                footprint.summary()
            ));
            if !left.is_empty() {
                say(format!(
                    "bench desktop: left behind after the app quit: {}",
                    left.join(", ")
                ));
            }
            leftovers.extend(left);
            cases.push(footprint);
        }
        drop(desktop);
        let shown = cases.pop().context("no shown case")?;
        let hidden = cases.pop().context("no hidden case")?;
        anyhow::Ok(Figures {
            seconds,
            floor,
            hidden,
            shown,
            docker: docker_words,
            leftovers,
        })
    }
    .await;
    hub.stop().await?;
    drop(docker);
    figures
}

/// The two release binaries.
struct Binaries {
    gantry: PathBuf,
    desktop: PathBuf,
}

/// `cargo build --release -p gantry-desktop -p gantry-cli`, with the
/// executables' paths read from cargo's own report so that any target dir works.
async fn build() -> Result<Binaries> {
    say("bench desktop: cargo build --release -p gantry-desktop -p gantry-cli");
    let mut command = exec::cargo();
    command.args([
        "build",
        "--release",
        "-p",
        "gantry-desktop",
        "-p",
        "gantry-cli",
        "--message-format=json-render-diagnostics",
    ]);
    let output = tokio::process::Command::from(command)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run cargo build")?;
    let messages: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    if !output.status.success() {
        let rendered: Vec<_> = messages
            .iter()
            .filter_map(|m| m["message"]["rendered"].as_str())
            .collect();
        bail!(
            "cargo build --release -p gantry-desktop -p gantry-cli failed ({}):\n{}",
            output.status,
            rendered.join("\n")
        );
    }
    let executable = |name: &str| {
        messages
            .iter()
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .with_context(|| format!("cargo built no `{name}` executable"))
    };
    Ok(Binaries {
        gantry: executable("gantry")?,
        desktop: executable("gantry-desktop")?,
    })
}

/// The Docker engine the other benchmarks use, or none: then the agents run
/// without one and report Docker missing, which the record says.
///
/// A `dockerd` that someone else started on a private socket (a
/// `cargo xtask test` run, say) is left alone: a second engine with the
/// default bridge would fight it over docker0 and its iptables rules.
fn docker_engine() -> (Option<DockerEngine>, String) {
    let reachable = std::env::var("DOCKER_HOST").is_ok_and(|host| !host.is_empty())
        || Path::new("/var/run/docker.sock").exists();
    if !reachable && let Some(pid) = process_named("dockerd") {
        return (
            None,
            format!(
                "none: another dockerd (pid {pid}) runs on a private socket and a second would \
                 fight it over the default bridge, so the agents ran without Docker and report it missing"
            ),
        );
    }
    match DockerEngine::start() {
        Ok(engine) => {
            let version = engine
                .docker()
                .args(["version", "--format", "{{.Server.Version}}"])
                .stderr(Stdio::null())
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .unwrap_or_default();
            // `DockerEngine` starts its own engine on a socket in a folder named for this process.
            let whose = if engine.host().contains("gantry-xtask-docker-") {
                "a dockerd started for this run".to_owned()
            } else {
                format!("the engine at {}", engine.host())
            };
            let words = format!("Docker Engine {version}, {whose}");
            (Some(engine), words)
        }
        Err(error) => (
            None,
            format!("none ({error:#}), so the agents ran without Docker and report it missing"),
        ),
    }
}

/// The pid of a running process whose name is `name`, if any.
fn process_named(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
}

/// The floor: `gantry agent start` against the same hub, idle.
async fn floor(
    gantry: &Path,
    scratch: &Path,
    server: &str,
    token: &str,
    docker_host: Option<&str>,
    seconds: u64,
) -> Result<Footprint> {
    let host_dir = scratch.join("floor");
    let config_home = scratch.join("floor-config");
    std::fs::create_dir_all(&config_home)?;
    let log = scratch.join("floor.log");
    let mut command = tokio::process::Command::new(gantry);
    command
        .args(["agent", "start", "--server", server, "--name", "floor"])
        .arg("--host-dir")
        .arg(&host_dir);
    for name in CLEARED_ENV {
        command.env_remove(name);
    }
    command
        .env("GANTRY_TOKEN", token)
        .env("PULL_ALWAYS", "false")
        // No person's agent.toml.
        .env("XDG_CONFIG_HOME", &config_home);
    if let Some(host) = docker_host {
        command.env("DOCKER_HOST", host);
    }
    let agent = Measured::spawn(command, "the agent", &log)?;
    agent.wait_connected(&host_dir.join("agent.sock")).await?;
    tokio::time::sleep(SETTLE).await;
    let footprint = sample(agent.pid, seconds, "the agent").await?;
    let (left, _) = agent.stop().await;
    if !left.is_empty() {
        say(format!(
            "bench desktop: left behind by the agent: {}",
            left.join(", ")
        ));
    }
    Ok(footprint)
}

/// One case of the app: started with or without `--hidden`, sampled, quit
/// with SIGTERM. Returns its footprint and whatever it left running.
async fn app_case(
    app: &Path,
    desktop: &PrivateDesktop,
    server: &str,
    token: &str,
    docker_host: Option<&str>,
    hidden: bool,
    seconds: u64,
) -> Result<(Footprint, Vec<String>)> {
    let log = desktop.root.join(if hidden {
        "app-hidden.log"
    } else {
        "app-shown.log"
    });
    let mut command = tokio::process::Command::from(desktop.command(app));
    if hidden {
        command.arg("--hidden");
    }
    command
        .env("GANTRY_SERVER", server)
        .env("GANTRY_TOKEN", token)
        .env("GANTRY_NAME", "desktop")
        .env("PULL_ALWAYS", "false");
    if let Some(host) = docker_host {
        command.env("DOCKER_HOST", host);
    }
    let app = Measured::spawn(command, "the app", &log)?;
    app.wait_connected(&desktop.socket()).await?;
    tokio::time::sleep(SETTLE).await;
    let mut footprint = sample(app.pid, seconds, "the app").await?;
    footprint.visible_windows = desktop.visible_windows();
    footprint.tray = Some(desktop.tray_registered());
    let (left, status) = app.stop().await;
    if let Some(status) = status
        && !status.success()
    {
        say(format!(
            "bench desktop: the app exited with {status} after SIGTERM"
        ));
    }
    Ok((footprint, left))
}

/// A process under measurement, with its log. Dropping it kills its whole
/// tree, so that an error or Ctrl-C leaves nothing running.
struct Measured {
    child: Option<tokio::process::Child>,
    pid: u32,
    what: &'static str,
    log: PathBuf,
}

impl Measured {
    fn spawn(
        mut command: tokio::process::Command,
        what: &'static str,
        log: &Path,
    ) -> Result<Measured> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let pid = child
            .id()
            .with_context(|| format!("{what} exited at once"))?;
        Ok(Measured {
            child: Some(child),
            pid,
            what,
            log: log.to_owned(),
        })
    }

    /// Waits until the control socket's status says the agent reached the hub.
    async fn wait_connected(&self, socket: &Path) -> Result<()> {
        let started = Instant::now();
        loop {
            if agent_status(socket)
                .await
                .is_some_and(|status| status["connected"] == true)
            {
                return Ok(());
            }
            if !alive(self.pid) {
                bail!(
                    "{} exited before it connected{}",
                    self.what,
                    tail(&self.log)
                );
            }
            if started.elapsed() > BOOT_LIMIT {
                bail!(
                    "{} did not connect to the hub within {} s{}",
                    self.what,
                    BOOT_LIMIT.as_secs(),
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGTERM, as a session ending or a service manager sends, then a
    /// bounded wait; returns the processes of its tree still alive after it
    /// (then killed), and its exit status.
    async fn stop(mut self) -> (Vec<String>, Option<std::process::ExitStatus>) {
        let before: Vec<(u32, String)> = tree(self.pid)
            .into_iter()
            .filter(|&pid| pid != self.pid)
            .map(|pid| (pid, program_name(pid)))
            .collect();
        let Some(mut child) = self.child.take() else {
            return (Vec::new(), None);
        };
        signal(&[self.pid], "TERM");
        let status = match tokio::time::timeout(STOP_LIMIT, child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                say(format!(
                    "bench desktop: {} ignored SIGTERM for {} s; killing it",
                    self.what,
                    STOP_LIMIT.as_secs()
                ));
                let _ = child.kill().await;
                None
            }
        };
        let started = Instant::now();
        let mut left: Vec<(u32, String)> = before;
        while !left.is_empty() && started.elapsed() < CHILDREN_LIMIT {
            left.retain(|(pid, name)| alive(*pid) && program_name(*pid) == *name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        left.retain(|(pid, name)| alive(*pid) && program_name(*pid) == *name);
        let pids: Vec<u32> = left.iter().map(|(pid, _)| *pid).collect();
        signal(&pids, "KILL");
        let left = left
            .into_iter()
            .map(|(pid, name)| format!("{name} ({pid})"))
            .collect();
        (left, status)
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        if self.child.is_some() {
            let mut pids = tree(self.pid);
            pids.reverse();
            signal(&pids, "KILL");
        }
    }
}

/// Sends `kill -SIG` to each of `pids`.
fn signal(pids: &[u32], signal: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The agent's status from its control socket (`{"op":"status"}`, what
/// `gantry agent status --json` asks), or `None` while nothing answers there.
async fn agent_status(socket: &Path) -> Option<Value> {
    let call = async {
        let stream = tokio::net::UnixStream::connect(socket).await.ok()?;
        let (read, mut write) = stream.into_split();
        write.write_all(b"{\"op\":\"status\"}\n").await.ok()?;
        let mut line = String::new();
        tokio::io::BufReader::new(read)
            .read_line(&mut line)
            .await
            .ok()?;
        let mut answer: Value = serde_json::from_str(&line).ok()?;
        Some(answer.get_mut("status")?.take())
    };
    tokio::time::timeout(Duration::from_secs(2), call)
        .await
        .ok()
        .flatten()
}

/// What /proc/PID/stat says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    ppid: u32,
    /// utime + stime, in ticks.
    ticks: u64,
}

/// Parses /proc/PID/stat; the command name is in parentheses and may hold
/// spaces and parentheses itself, so the fields are read after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, after) = text.rsplit_once(')')?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state (field 3), ppid (4), …, utime (14), stime (15).
    let number = |n: usize| fields.get(n)?.parse::<u64>().ok();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: u32::try_from(number(1)?).ok()?,
        ticks: number(11)? + number(12)?,
    })
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Whether a process runs: it exists and is not a zombie.
fn alive(pid: u32) -> bool {
    read_stat(pid).is_some_and(|stat| stat.state != 'Z' && stat.state != 'X')
}

/// `root` and every process under it, parents first; empty when `root` is gone.
fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut exists = false;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(stat) = read_stat(pid) {
                exists |= pid == root;
                children.entry(stat.ppid).or_default().push(pid);
            }
        }
    }
    descendants(root, exists, &children)
}

/// `root` and what lies under it in a parent → children map, parents first.
fn descendants(root: u32, exists: bool, children: &HashMap<u32, Vec<u32>>) -> Vec<u32> {
    if !exists {
        return Vec::new();
    }
    let mut found = vec![root];
    let mut seen = HashSet::from([root]);
    let mut next = 0;
    while next < found.len() {
        let pid = found[next];
        next += 1;
        for &child in children.get(&pid).into_iter().flatten() {
            if seen.insert(child) {
                found.push(child);
            }
        }
    }
    found
}

/// A program's name: its executable's file name (WebKitGTK's helpers have
/// names longer than the 15 characters of /proc/PID/comm), else comm.
fn program_name(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .and_then(|exe| {
            let name = exe.file_name()?.to_string_lossy().into_owned();
            // An executable replaced on disk reads `name (deleted)`.
            Some(name.trim_end_matches(" (deleted)").to_owned())
        })
        .or_else(|| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .ok()
                .map(|comm| comm.trim().to_owned())
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// One process in one sample.
#[derive(Debug)]
struct Seen {
    pid: u32,
    name: String,
    ticks: u64,
    rss_kb: u64,
    pss_kb: u64,
}

/// Every live process in `root`'s tree now.
fn snapshot(root: u32) -> Vec<Seen> {
    tree(root)
        .into_iter()
        .filter_map(|pid| {
            let stat = read_stat(pid)?;
            let status = PathBuf::from(format!("/proc/{pid}/status"));
            // A zombie has exited: it holds no memory and its CPU time went
            // to its parent's children's time, which is not counted here.
            let rss_kb = proc_field(&status, "VmRSS")?;
            let pss_kb =
                proc_field(Path::new(&format!("/proc/{pid}/smaps_rollup")), "Pss").unwrap_or(0);
            Some(Seen {
                pid,
                name: program_name(pid),
                ticks: stat.ticks,
                rss_kb,
                pss_kb,
            })
        })
        .collect()
}

/// Reads `root`'s tree once a second for `seconds` seconds (`seconds + 1`
/// samples) and sums it up. CPU: each process's ticks at its last sample
/// less those at its first, or less none for one born after the first sample.
async fn sample(root: u32, seconds: u64, what: &str) -> Result<Footprint> {
    let load_start = load_average();
    let mut machine_start = machine_busy_ticks();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut started = Instant::now();
    let mut first_ticks: HashMap<u32, u64> = HashMap::new();
    let mut last: HashMap<u32, (String, u64)> = HashMap::new();
    let mut rss_totals = Vec::new();
    let mut pss_totals = Vec::new();
    // By program: RSS and PSS summed over the samples, and the last count.
    let mut by_name: BTreeMap<String, (u64, u64, usize)> = BTreeMap::new();
    let mut processes = 0;
    for n in 0..=seconds {
        every.tick().await;
        let seen = snapshot(root);
        if seen.is_empty() {
            bail!("{what} exited while it was measured");
        }
        if n == 0 {
            started = Instant::now();
            machine_start = machine_busy_ticks();
        }
        for (_, (_, _, count)) in by_name.iter_mut() {
            *count = 0;
        }
        for process in &seen {
            let before = if n == 0 { process.ticks } else { 0 };
            first_ticks.entry(process.pid).or_insert(before);
            last.insert(process.pid, (process.name.clone(), process.ticks));
            let entry = by_name.entry(process.name.clone()).or_default();
            entry.0 += process.rss_kb;
            entry.1 += process.pss_kb;
            entry.2 += 1;
        }
        rss_totals.push(seen.iter().map(|p| p.rss_kb).sum::<u64>());
        pss_totals.push(seen.iter().map(|p| p.pss_kb).sum::<u64>());
        processes = seen.len();
    }
    let secs = started.elapsed().as_secs_f64();
    let machine_ticks = machine_busy_ticks().saturating_sub(machine_start);
    let samples = rss_totals.len();
    let mean = |total: u64| total as f64 / samples as f64;
    let percent = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / secs * 100.0;
    let mut cpu_by_name: HashMap<&str, u64> = HashMap::new();
    for (pid, (name, ticks)) in &last {
        let used = ticks.saturating_sub(first_ticks.get(pid).copied().unwrap_or(0));
        *cpu_by_name.entry(name.as_str()).or_default() += used;
    }
    let mut programs: Vec<Program> = by_name
        .iter()
        .map(|(name, &(rss, pss, count))| Program {
            name: name.clone(),
            count,
            rss_mean_kb: mean(rss),
            pss_mean_kb: mean(pss),
            cpu_percent: percent(cpu_by_name.get(name.as_str()).copied().unwrap_or(0)),
        })
        .collect();
    programs.sort_by(|a, b| b.rss_mean_kb.total_cmp(&a.rss_mean_kb));
    Ok(Footprint {
        samples,
        secs,
        processes,
        processes_seen: last.len(),
        rss_mean_kb: mean(rss_totals.iter().sum()),
        rss_max_kb: rss_totals.iter().copied().max().unwrap_or(0),
        pss_mean_kb: mean(pss_totals.iter().sum()),
        cpu_percent: percent(cpu_by_name.values().sum()),
        programs,
        load_start,
        load_end: load_average(),
        machine_percent: percent(machine_ticks),
        visible_windows: None,
        tray: None,
    })
}

impl Footprint {
    fn summary(&self) -> String {
        format!(
            "{} samples over {:.1} s; {} processes at the end ({}), {} seen; RSS mean {:.1} MiB, max {:.1} MiB; \
             PSS mean {:.1} MiB; CPU {:.2} % of one core (whole machine {:.1} %); load {:.2} → {:.2}",
            self.samples,
            self.secs,
            self.processes,
            self.programs
                .iter()
                .map(|p| format!("{} ×{}", p.name, p.count))
                .collect::<Vec<_>>()
                .join(", "),
            self.processes_seen,
            mib(self.rss_mean_kb),
            mib(self.rss_max_kb as f64),
            mib(self.pss_mean_kb),
            self.cpu_percent,
            self.machine_percent,
            self.load_start,
            self.load_end,
        )
    }
}

/// The 1-minute load average, or NaN where /proc/loadavg cannot be read.
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The machine's busy CPU time so far, in ticks over all cores: the first
/// line of /proc/stat less its idle and iowait columns.
fn machine_busy_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|line| line.starts_with("cpu ")) else {
        return 0;
    };
    busy_ticks(line)
}

/// The busy ticks of a `cpu  user nice system idle iowait irq softirq steal
/// guest guest_nice` line; guest time is already inside user and nice.
fn busy_ticks(line: &str) -> u64 {
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    total.saturating_sub(idle)
}

/// The last lines of a log, to append to an error: the folder it lives in
/// is removed when the run ends.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    format!(
        "\n  last lines of {}:\n    {}",
        log.display(),
        lines[lines.len().saturating_sub(15)..].join("\n    ")
    )
}

fn mib(kb: f64) -> f64 {
    kb / 1024.0
}

/// The app's private desktop: a D-Bus session bus, GNOME Keyring unlocked
/// on it, a notification server and a tray host, and an Xvfb display, all
/// stopped on drop.
struct PrivateDesktop {
    root: PathBuf,
    bus: String,
    bus_pid: Option<u32>,
    display: String,
    children: Vec<Child>,
}

impl PrivateDesktop {
    /// Starts the services in `root`, which holds the session's home,
    /// config, data and runtime folders.
    fn start(root: &Path) -> Result<PrivateDesktop> {
        for sub in ["home", "config", "data", "runtime"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        std::fs::set_permissions(
            root.join("runtime"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        let mut desktop = PrivateDesktop {
            root: root.to_owned(),
            bus: String::new(),
            bus_pid: None,
            display: String::new(),
            children: Vec::new(),
        };
        // The session bus forks and prints its address and pid.
        let out = Command::new("dbus-daemon")
            .args(["--session", "--fork", "--print-address=1", "--print-pid=1"])
            .stdin(Stdio::null())
            .output()
            .context("cannot run dbus-daemon: is the `dbus` package installed?")?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        desktop.bus = lines.next().unwrap_or_default().trim().to_owned();
        desktop.bus_pid = lines.next().and_then(|pid| pid.trim().parse().ok());
        if desktop.bus.is_empty() || desktop.bus_pid.is_none() {
            bail!(
                "dbus-daemon printed no address and pid: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The keyring, unlocked with a password on stdin, as a login does.
        let mut keyring = desktop
            .command("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(
                "cannot run gnome-keyring-daemon: is the `gnome-keyring` package installed?",
            )?;
        let stdin = keyring.stdin.take();
        desktop.children.push(keyring);
        stdin
            .context("the keyring's stdin was not piped")?
            .write_all(b"bench-password")?;
        // Debian's python3 has python3-dbusmock; the python3 on PATH may not.
        let notifications = desktop
            .command("/usr/bin/python3")
            .args(["-m", "dbusmock", "--template", "notification_daemon"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run /usr/bin/python3 -m dbusmock: is python3-dbusmock installed?")?;
        desktop.children.push(notifications);
        let template = root.join("tray_host.py");
        std::fs::write(&template, TRAY_HOST)?;
        let tray = desktop
            .command("/usr/bin/python3")
            .args(["-m", "dbusmock", "--template"])
            .arg(&template)
            .arg("-l")
            .arg(root.join("tray.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run /usr/bin/python3 -m dbusmock for the tray host")?;
        desktop.children.push(tray);
        // The display: Xvfb picks a free number and writes it to stdout.
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot run Xvfb: is the `xvfb` package installed?")?;
        let stdout = xvfb.stdout.take();
        desktop.children.push(xvfb);
        let mut line = String::new();
        BufReader::new(stdout.context("Xvfb's stdout was not piped")?).read_line(&mut line)?;
        if line.trim().is_empty() {
            bail!("Xvfb printed no display number");
        }
        desktop.display = format!(":{}", line.trim());
        desktop.wait_for_names(&[
            "org.freedesktop.secrets",
            "org.freedesktop.Notifications",
            "org.kde.StatusNotifierWatcher",
        ])?;
        Ok(desktop)
    }

    /// A command in this desktop's session, with the agent's and the
    /// session's settings from this process's environment removed.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        for name in CLEARED_ENV {
            command.env_remove(name);
        }
        command
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("HOME", self.root.join("home"))
            .env("XDG_CONFIG_HOME", self.root.join("config"))
            .env("XDG_DATA_HOME", self.root.join("data"))
            .env("XDG_CACHE_HOME", self.root.join("home/.cache"))
            .env("XDG_RUNTIME_DIR", self.root.join("runtime"))
            .env("NO_AT_BRIDGE", "1");
        if !self.display.is_empty() {
            command.env("DISPLAY", &self.display);
        }
        command
    }

    /// The app's agent's control socket, in its default host dir.
    fn socket(&self) -> PathBuf {
        self.root.join("data/gantry/agent/agent.sock")
    }

    /// Waits until the bus has these names.
    fn wait_for_names(&self, names: &[&str]) -> Result<()> {
        let started = Instant::now();
        loop {
            let out = self
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.ListNames",
                ])
                .stdin(Stdio::null())
                .output()
                .context("cannot run dbus-send")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let missing: Vec<&&str> = names.iter().filter(|n| !text.contains(**n)).collect();
            if missing.is_empty() {
                return Ok(());
            }
            if started.elapsed() > DESKTOP_LIMIT {
                bail!(
                    "the private session bus never got {missing:?} within {} s",
                    DESKTOP_LIMIT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// How many visible windows are titled like the app's, when xdotool is
    /// installed to tell.
    fn visible_windows(&self) -> Option<usize> {
        let out = self
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", WINDOW_TITLE])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).lines().count())
    }

    /// Whether a tray icon registered with the tray host so far.
    fn tray_registered(&self) -> bool {
        std::fs::read_to_string(self.root.join("tray.log"))
            .is_ok_and(|log| log.contains("RegisterStatusNotifierItem"))
    }
}

impl Drop for PrivateDesktop {
    fn drop(&mut self) {
        // Children first (they talk on the bus), then the bus.
        let pids: Vec<u32> = self.children.iter().rev().map(Child::id).collect();
        signal(&pids, "TERM");
        for child in self.children.iter_mut().rev() {
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                if child.try_wait().is_ok_and(|status| status.is_some()) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(pid) = self.bus_pid {
            signal(&[pid], "TERM");
        }
    }
}

/// The section for docs/benchmarks.md.
pub fn report(figures: &Figures) -> String {
    let Figures {
        seconds,
        floor,
        hidden,
        shown,
        docker,
        leftovers,
    } = figures;
    let cases = [floor, hidden, shown];
    let row = |label: &str, cell: &dyn Fn(&Footprint) -> String| {
        format!(
            "| {label} | {} |\n",
            cases
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let mut table = String::from(
        "| measure | headless agent (floor) | app, `--hidden` | app, window shown |\n|---|---:|---:|---:|\n",
    );
    table.push_str(&row("processes in the tree (at the end)", &|c| {
        let names: Vec<String> = c
            .programs
            .iter()
            .map(|p| {
                if p.count > 1 {
                    format!("{} ×{}", p.name, p.count)
                } else {
                    p.name.clone()
                }
            })
            .collect();
        let seen = if c.processes_seen > c.processes {
            format!("; {} seen over the samples", c.processes_seen)
        } else {
            String::new()
        };
        format!("{} ({}){seen}", c.processes, names.join(", "))
    }));
    table.push_str(&row("RSS total, mean of 1 s samples", &|c| {
        format!("{:.1} MiB", mib(c.rss_mean_kb))
    }));
    table.push_str(&row("RSS total, max", &|c| {
        format!("{:.1} MiB", mib(c.rss_max_kb as f64))
    }));
    table.push_str(&row("**RSS total / floor**", &|c| {
        format!("**{:.1}x**", ratio(c.rss_mean_kb, floor.rss_mean_kb))
    }));
    table.push_str(&row("PSS total, mean (shared pages split)", &|c| {
        format!("{:.1} MiB", mib(c.pss_mean_kb))
    }));
    table.push_str(&row("PSS total / floor", &|c| {
        format!("{:.1}x", ratio(c.pss_mean_kb, floor.pss_mean_kb))
    }));
    table.push_str(&row(
        &format!("CPU over {seconds} s, % of one core"),
        &|c| format!("{:.2} %", c.cpu_percent),
    ));
    table.push_str(&row(
        "whole machine's busy CPU meanwhile, % of one core",
        &|c| format!("{:.1} %", c.machine_percent),
    ));
    table.push_str(&row("load average (1 min), start → end", &|c| {
        format!("{:.2} → {:.2}", c.load_start, c.load_end)
    }));
    table.push_str(&row(
        "visible main windows / tray icon registered",
        &|c| match (c.visible_windows, c.tray) {
            (Some(windows), Some(tray)) => {
                format!("{windows} / {}", if tray { "yes" } else { "no" })
            }
            (None, Some(tray)) => format!("? / {}", if tray { "yes" } else { "no" }),
            _ => "-".to_owned(),
        },
    ));

    let mut breakdown = String::from(
        "| case | program | processes | RSS mean | PSS mean | CPU |\n|---|---|---:|---:|---:|---:|\n",
    );
    for (case, footprint) in [("`--hidden`", hidden), ("window shown", shown)] {
        for p in &footprint.programs {
            breakdown.push_str(&format!(
                "| {case} | {} | {} | {:.1} MiB | {:.1} MiB | {:.2} % |\n",
                p.name,
                p.count,
                mib(p.rss_mean_kb),
                mib(p.pss_mean_kb),
                p.cpu_percent
            ));
        }
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // What ran besides the measured tree: the display, the hub and the
    // sampling take well under 10 % of one core; more is other work.
    let busiest = cases
        .iter()
        .map(|c| c.machine_percent - c.cpu_percent)
        .fold(f64::NAN, f64::max);
    let load_note = if busiest >= OTHER_WORK_PERCENT {
        format!(
            " Other work shared the machine during this run (besides the measured tree, up to \
             {busiest:.0} % of one core busy on {cores} cores), so the CPU figures, though small, may be \
             somewhat inflated by cache and scheduler contention; the memory figures are not affected."
        )
    } else {
        format!(
            " The machine was otherwise quiet while sampling (at most {busiest:.1} % of one core busy \
             besides the measured tree, on {cores} cores: the display, the hub, the sampling); the load \
             average lags, and at a window's start still shows the build before it."
        )
    };
    let leftover_note = if leftovers.is_empty() {
        "After SIGTERM the app quit and left no process behind in either case.".to_owned()
    } else {
        format!(
            "After SIGTERM these processes of the app were still running {} s later and were killed: {}.",
            CHILDREN_LIMIT.as_secs(),
            leftovers.join(", ")
        )
    };
    format!(
        "<!-- bench desktop: begin (written by `cargo xtask bench desktop`; edits inside are overwritten) -->\n\
         ## Desktop app: idle footprint with its webview processes, window hidden and shown\n\n\
         Recorded {stamp} on {machine}; release builds; hub on loopback; Docker: {docker}. \
         Command: `cargo xtask bench desktop --seconds {seconds}`.\n\n\
         {table}\n\
         By program, in the app's cases:\n\n\
         {breakdown}\n\
         {dominant}\n\n\
         Each case runs alone, in turn: first the floor, `gantry agent start` (the same agent core, headless), \
         then the app `gantry-desktop --hidden`, then `gantry-desktop` with its window shown, each connected \
         to the same release hub with its own node token and no tasks. The app runs on a private desktop \
         like its end-to-end tests: its own D-Bus session bus with an unlocked GNOME Keyring, a notification \
         server and a StatusNotifierWatcher tray host (python3-dbusmock), an Xvfb display with no window \
         manager, and `GANTRY_SERVER`/`GANTRY_TOKEN` in the environment so that no wizard shows. Each case \
         waits until the agent's control socket says it reached the hub, sits {settle} s, then reads /proc \
         once a second for {seconds} s ({seconds} + 1 samples): the process and every process under it by \
         parent pid. RSS is the sum of each process's VmRSS, which counts shared libraries once per process; \
         PSS (from smaps_rollup) splits shared pages among their users, so its sum is closer to what the tree \
         costs the machine. CPU is utime + stime of every process in the tree between its first and last \
         sample, over the elapsed time, as a percentage of one core; Linux counts it in 10 ms ticks, so one \
         tick over {seconds} s is {tick:.3} %. The display server, the bus and the \
         other session services are not counted.{load_note} {leftover_note}\n\
         <!-- bench desktop: end -->\n",
        stamp = super::stamp(),
        machine = machine(),
        dominant = dominant(hidden, shown, floor),
        settle = SETTLE.as_secs(),
        tick = 100.0 / TICKS_PER_SECOND / *seconds as f64,
    )
}

/// A sentence on what dominates the app's footprint.
fn dominant(hidden: &Footprint, shown: &Footprint, floor: &Footprint) -> String {
    let largest = |f: &Footprint| f.programs.first().cloned().unwrap_or_default();
    let top = largest(shown);
    let app_rss = |f: &Footprint| {
        f.programs
            .iter()
            .find(|p| p.name == "gantry-desktop")
            .map_or(0.0, |p| p.rss_mean_kb)
    };
    let web = |f: &Footprint| {
        f.programs
            .iter()
            .filter(|p| p.name.starts_with("WebKit"))
            .map(|p| p.rss_mean_kb)
            .sum::<f64>()
    };
    let hidden_web = hidden.programs.iter().any(|p| p.name == "WebKitWebProcess");
    let hidden_note = if hidden_web {
        format!(
            " With `--hidden` the main window already exists, unmapped, so its web process runs too \
             and hiding saves only {:.1} MiB RSS.",
            mib(shown.rss_mean_kb - hidden.rss_mean_kb)
        )
    } else {
        String::new()
    };
    format!(
        "With the window shown, the largest program is {} at {:.1} MiB RSS of {:.1} MiB; WebKitGTK's \
         helper processes hold {:.1} MiB RSS shown and {:.1} MiB hidden. The app's own process \
         (agent core, tray, GTK and the webview's UI side) holds {:.1} MiB shown and {:.1} MiB hidden, \
         against {:.1} MiB for the headless agent.{hidden_note}",
        top.name,
        mib(top.rss_mean_kb),
        mib(shown.rss_mean_kb),
        mib(web(shown)),
        mib(web(hidden)),
        mib(app_rss(shown)),
        mib(app_rss(hidden)),
        mib(floor.rss_mean_kb),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_read_after_the_name() {
        let line = "4242 (Web Content (x)) S 4200 4242 4200 0 -1 4194560 900 0 0 0 \
                    150 37 0 0 20 0 12 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                ppid: 4200,
                ticks: 187
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn a_tree_holds_every_descendant_once() {
        let children = HashMap::from([
            (1, vec![10, 20]),
            (10, vec![11]),
            (11, vec![12]),
            (20, vec![]),
        ]);
        assert_eq!(descendants(10, true, &children), vec![10, 11, 12]);
        assert_eq!(descendants(1, true, &children), vec![1, 10, 20, 11, 12]);
        assert_eq!(descendants(10, false, &children), Vec::<u32>::new());
        // A loop (pid reuse between reads) ends.
        let looped = HashMap::from([(1, vec![2]), (2, vec![1])]);
        assert_eq!(descendants(1, true, &looped), vec![1, 2]);
    }

    #[test]
    fn machine_busy_leaves_out_idle_and_iowait() {
        assert_eq!(busy_ticks("cpu  100 5 50 1000 20 3 2 1 0 0"), 161);
        assert_eq!(busy_ticks("cpu"), 0);
    }

    #[test]
    fn options_take_seconds_and_no_record() {
        let args = ["--seconds", "30", "--no-record"].map(String::from);
        let options = Options::parse(&args).unwrap();
        assert_eq!((options.seconds, options.record), (30, false));
        let options = Options::parse(&[]).unwrap();
        assert_eq!((options.seconds, options.record), (60, true));
        assert!(Options::parse(&["--seconds".to_owned(), "1".to_owned()]).is_err());
        assert!(Options::parse(&["--fast".to_owned()]).is_err());
    }
}
