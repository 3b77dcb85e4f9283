//! `bench desktop`: the desktop app's idle footprint, counting the app and
//! every process under it (WebKitGTK's web and network processes), with
//! its window hidden and shown, against the headless agent idle in the same
//! run.
//!
//! The app runs on the private desktop its end-to-end tests use
//! (`gantry_testkit::desktop`): its own D-Bus session bus with an unlocked
//! GNOME Keyring, a notification server (python3-dbusmock), a
//! StatusNotifierWatcher that plays the tray host, and an Xvfb display. It
//! connects to a release hub on loopback through `GANTRY_SERVER` and
//! `GANTRY_TOKEN`, so no wizard shows, and to the Docker engine
//! `cargo xtask bench` chose.
//!
//! Each case waits until the agent's control socket says it reached the hub,
//! lets it settle, then reads /proc once a second for the measured seconds
//! (`gantry_testkit::sampler`): the resident memory of every process in the
//! tree, and their CPU time.

mod report;

pub use report::report;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_testkit::children::agent_connected;
use gantry_testkit::desktop::{Desktop, missing_programs};
use gantry_testkit::procfs::{alive, program_name, tree};
use gantry_testkit::sampler::{Footprint, sample};
use gantry_testkit::{AgentLaunch, Scratch};

use crate::hub::{start_hub, stop_hub};
use crate::{built, hub_admin, say, tail};

/// How long a case sits idle after its agent connected, before sampling.
const SETTLE: Duration = Duration::from_secs(10);
/// How long the app or the agent may take to reach the hub.
const BOOT_LIMIT: Duration = Duration::from_secs(120);
/// How long the app may take to quit after SIGTERM.
const STOP_LIMIT: Duration = Duration::from_secs(30);
/// How long the app's child processes may linger after it exited.
const CHILDREN_LIMIT: Duration = Duration::from_secs(5);
/// The main window's title, as tauri.conf.json sets it.
const WINDOW_TITLE: &str = "Gantry";

/// Settings a person's session may hold that nothing this benchmark starts
/// may inherit (the agent's own are the kit's business), set again where
/// they matter. The app's DMA-BUF switch is left to the app, as a person
/// gets it.
const CLEARED_ENV: &[&str] = &[
    "GANTRY_LOG",
    "DOCKER_HOST",
    "WEBKIT_DISABLE_DMABUF_RENDERER",
];

/// The session a headless agent does not have.
const SESSION_ENV: &[&str] = &["DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"];

/// The options of `bench desktop`.
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
    floor: Case,
    /// The app started with `--hidden`.
    hidden: Case,
    /// The app with its window shown.
    shown: Case,
    /// Which Docker engine the agents used, in words.
    docker: String,
    /// Processes of the app still alive after it quit, `name (pid)`.
    leftovers: Vec<String>,
}

/// One case: its process tree's footprint and what the desktop showed.
#[derive(Debug, Default)]
struct Case {
    footprint: Footprint,
    /// The app's visible main windows at the end, when xdotool could tell.
    visible_windows: Option<usize>,
    /// Whether the app's tray icon registered with the tray host.
    tray: Option<bool>,
}

/// The binaries xtask built, the hub, and the three cases in turn.
pub async fn run(options: &Options) -> Result<Figures> {
    let gantry = built("GANTRY_BENCH_CLI")?;
    let app = built("GANTRY_BENCH_DESKTOP")?;
    let missing = missing_programs();
    if !missing.is_empty() {
        bail!("the app's private desktop needs {}", missing.join(", "));
    }
    let docker_host = std::env::var("DOCKER_HOST")
        .ok()
        .filter(|host| !host.is_empty());
    let docker = docker_words(docker_host.as_deref());
    say(format!("bench desktop: Docker: {docker}"));

    let scratch = Scratch::named("bench-desktop")?;
    let data = scratch.path().join("hub");
    let floor_token = hub_admin(&gantry, &data, &["hub", "node", "add", "floor"]).await?;
    let app_token = hub_admin(&gantry, &data, &["hub", "node", "add", "desktop"]).await?;
    let hub = start_hub(
        &gantry,
        &data,
        "127.0.0.1:0",
        std::fs::File::create(scratch.path().join("hub.log"))?,
    )?;
    let seconds = options.seconds;
    let floor_agent = AgentLaunch {
        gantry: gantry.clone(),
        server: hub.url(""),
        token: floor_token,
        name: "floor".into(),
        host_dir: scratch.path().join("floor"),
        config_home: scratch.path().join("floor-config"),
        docker_host: None,
        args: Vec::new(),
    };
    let app = App {
        binary: app,
        server: hub.url(""),
        token: app_token,
        docker_host,
    };
    let figures = async {
        say(format!(
            "bench desktop: floor, the headless agent idle for {seconds} s"
        ));
        let floor = floor(&floor_agent, &app.docker_host, scratch.path(), seconds).await?;
        say(format!(
            "bench desktop: floor: {}",
            summary(&floor.footprint)
        ));
        let (hidden, shown, leftovers) = app_cases(&app, seconds).await?;
        anyhow::Ok(Figures {
            seconds,
            floor,
            hidden,
            shown,
            docker,
            leftovers,
        })
    }
    .await;
    stop_hub(hub, "bench desktop");
    figures
}

/// The Docker engine the agents use, in words for the record: as
/// `cargo xtask bench` described the one it chose (`GANTRY_BENCH_DOCKER`),
/// else from `DOCKER_HOST`.
fn docker_words(docker_host: Option<&str>) -> String {
    std::env::var("GANTRY_BENCH_DOCKER")
        .ok()
        .filter(|words| !words.is_empty())
        .unwrap_or_else(|| match docker_host {
            Some(host) => format!("the engine at {host}"),
            None => "none, so the agents ran without Docker and report it missing".to_owned(),
        })
}

/// The app under measurement and what it connects to.
#[derive(Debug)]
struct App {
    binary: PathBuf,
    server: String,
    token: String,
    docker_host: Option<String>,
}

/// The app's two cases, hidden then shown, on one private desktop; returns
/// them and what the app left running after each.
async fn app_cases(app: &App, seconds: u64) -> Result<(Case, Case, Vec<String>)> {
    let desktop = Desktop::start().await;
    let mut leftovers = Vec::new();
    let mut cases = Vec::new();
    for hidden in [true, false] {
        let name = if hidden { "hidden" } else { "shown" };
        say(format!(
            "bench desktop: the app, window {name}, idle for {seconds} s"
        ));
        let (case, left) = app_case(app, &desktop, hidden, seconds).await?;
        say(format!(
            "bench desktop: window {name}: {}",
            summary(&case.footprint)
        ));
        if !left.is_empty() {
            say(format!(
                "bench desktop: left behind after the app quit: {}",
                left.join(", ")
            ));
        }
        leftovers.extend(left);
        cases.push(case);
    }
    drop(desktop);
    let shown = cases.pop().context("no shown case")?;
    let hidden = cases.pop().context("no hidden case")?;
    Ok((hidden, shown, leftovers))
}

/// The floor: `gantry agent start` against the same hub, idle.
async fn floor(
    launch: &AgentLaunch,
    docker_host: &Option<String>,
    scratch: &Path,
    seconds: u64,
) -> Result<Case> {
    std::fs::create_dir_all(&launch.config_home)?;
    let mut command = launch.command();
    for name in CLEARED_ENV.iter().chain(SESSION_ENV) {
        command.env_remove(name);
    }
    command.env("PULL_ALWAYS", "false");
    if let Some(host) = docker_host {
        command.env("DOCKER_HOST", host);
    }
    let agent = Measured::spawn(command, "the agent", &scratch.join("floor.log"))?;
    agent
        .wait_connected(&launch.host_dir.join("agent.sock"))
        .await?;
    tokio::time::sleep(SETTLE).await;
    let footprint = sample(agent.pid, seconds)
        .await
        .context("the agent exited while it was measured")?;
    let (left, _) = agent.stop().await;
    if !left.is_empty() {
        say(format!(
            "bench desktop: left behind by the agent: {}",
            left.join(", ")
        ));
    }
    Ok(Case {
        footprint,
        ..Case::default()
    })
}

/// One case of the app: started with or without `--hidden`, sampled, quit
/// with SIGTERM. Returns its case and whatever it left running.
async fn app_case(
    app: &App,
    desktop: &Desktop,
    hidden: bool,
    seconds: u64,
) -> Result<(Case, Vec<String>)> {
    let log = desktop.dir.path().join(if hidden {
        "app-hidden.log"
    } else {
        "app-shown.log"
    });
    let mut command = desktop.command(&app.binary);
    for name in CLEARED_ENV {
        command.env_remove(name);
    }
    if hidden {
        command.arg("--hidden");
    }
    command
        .env("GANTRY_SERVER", &app.server)
        .env("GANTRY_TOKEN", &app.token)
        .env("GANTRY_NAME", "desktop")
        .env("PULL_ALWAYS", "false");
    if let Some(host) = &app.docker_host {
        command.env("DOCKER_HOST", host);
    }
    let measured = Measured::spawn(command, "the app", &log)?;
    measured
        .wait_connected(&desktop.host_dir().join("agent.sock"))
        .await?;
    tokio::time::sleep(SETTLE).await;
    let footprint = sample(measured.pid, seconds)
        .await
        .context("the app exited while it was measured")?;
    let case = Case {
        footprint,
        visible_windows: desktop.count_visible_windows(WINDOW_TITLE),
        tray: Some(desktop.tray.registered()),
    };
    let (left, status) = measured.stop().await;
    if let Some(status) = status
        && !status.success()
    {
        say(format!(
            "bench desktop: the app exited with {status} after SIGTERM"
        ));
    }
    Ok((case, left))
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
    fn spawn(command: Command, what: &'static str, log: &Path) -> Result<Measured> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = tokio::process::Command::from(command)
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
            if agent_connected(socket).await {
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

/// A footprint in one line, for the console.
fn summary(footprint: &Footprint) -> String {
    let f = footprint;
    format!(
        "{} samples over {:.1} s; {} processes at the end ({}), {} seen; RSS mean {:.1} MiB, max {:.1} MiB; \
         PSS mean {:.1} MiB; CPU {:.2} % of one core (whole machine {:.1} %); load {:.2} → {:.2}",
        f.samples,
        f.secs,
        f.processes,
        f.programs
            .iter()
            .map(|p| format!("{} ×{}", p.name, p.count))
            .collect::<Vec<_>>()
            .join(", "),
        f.processes_seen,
        report::mib(f.rss_mean_kb),
        report::mib(f.rss_max_kb as f64),
        report::mib(f.pss_mean_kb),
        f.cpu_percent,
        f.machine_percent,
        f.load_start,
        f.load_end,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
