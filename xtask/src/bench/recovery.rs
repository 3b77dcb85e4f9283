//! `cargo xtask bench recovery`: issue 4's "never lose a line", measured
//! with release binaries against the real Docker engine, each figure beside
//! a floor taken in the same run.
//!
//! - Re-attach: an agent running four chatty tasks is killed with SIGKILL and,
//!   a second later, started again on the same host dir; timed from the
//!   restart's spawn until its status lists all four as running and every
//!   task's log at the hub has grown past what the agent had spooled when it
//!   died. The floor is an agent's boot with no tasks (spawn → connected)
//!   plus the raw Docker work a re-attach needs (`docker ps` by label and
//!   `docker logs` of the four). Every line is then checked at the hub.
//! - Outage: one task floods a million lines while the hub is down (SIGKILL,
//!   then the same address and data dir again); the agent's memory before,
//!   during and after against its idle memory in the same run, the spool on
//!   disk, and the time from the hub's restart to its log being byte-exact.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::hub::{Scratch, build, gantry_says};
use super::{machine, ms, percentile, proc_field};
use crate::exec::say;
use crate::services::{DockerEngine, TEST_IMAGE};

/// How many tasks run while the agent is killed, and its `--max-tasks`.
const TASKS: usize = 4;
/// How long a restarted agent may take to re-attach before the run fails.
const REATTACH_LIMIT: Duration = Duration::from_secs(60);
/// How long the killed agent stays down before it is started again: the
/// tasks print about ten lines each meanwhile, which must reach the hub.
const DOWNTIME: Duration = Duration::from_secs(1);
/// How long any other wait may take (a boot, tasks starting, the catch-up).
const STEP_LIMIT: Duration = Duration::from_secs(300);
/// How often the agent's status and the hub are looked at while timing.
const POLL: Duration = Duration::from_millis(10);
/// How many lines each re-attach task prints at most, one every 100 ms:
/// half an hour, far longer than the rounds; the tasks are canceled after.
const TICKS: u64 = 18_000;
/// The flood: `seq 1 1000000`, in batches with sleeps between.
const FLOOD_LINES: u64 = 1_000_000;
const FLOOD_BATCHES: u64 = 100;
/// How long the agent sits idle before its idle memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(5);

/// The options of `cargo xtask bench recovery`.
#[derive(Debug)]
pub struct Options {
    /// How many times the agent is killed and restarted.
    pub rounds: usize,
    /// How long the hub stays down during the flood, in seconds.
    pub outage_secs: u64,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            rounds: 3,
            outage_secs: 60,
            record: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--rounds" => {
                    options.rounds = value()?.parse().context("--rounds needs a count")?
                }
                "--outage" => {
                    options.outage_secs = value()?.parse().context("--outage needs seconds")?;
                }
                "--no-record" => options.record = false,
                other => {
                    bail!("unknown option `{other}` for `bench recovery`; see `cargo xtask help`")
                }
            }
        }
        if options.rounds == 0 || options.outage_secs < 5 {
            bail!("--rounds needs a count above zero and --outage at least 5 seconds");
        }
        Ok(options)
    }
}

/// What one run measured.
#[derive(Debug)]
pub struct Figures {
    reattach: Reattach,
    outage: Outage,
}

/// Part 1: re-attaching after SIGKILL. Times in ms, sorted.
#[derive(Debug)]
struct Reattach {
    /// Restart spawn → status lists every task running and every hub log grew.
    reattach_ms: Vec<f64>,
    /// Restart spawn → status lists every task running.
    listed_ms: Vec<f64>,
    /// Spawn → `connected` for an agent with no tasks.
    boot_ms: Vec<f64>,
    /// `docker ps` by label and `docker logs` of every task's container.
    docker_ms: Vec<f64>,
    /// Each task's log at the hub, checked line by line after the rounds.
    lines: LineCheck,
}

/// Part 2: the flood while the hub is down.
#[derive(Debug)]
struct Outage {
    outage_secs: u64,
    /// How long the flood was spread over (its sleeps alone).
    flood_secs: f64,
    bytes: u64,
    idle: Memory,
    before: Memory,
    end: Memory,
    after: Memory,
    /// The highest VmRSS or VmHWM read, sampled through the outage and the
    /// catch-up: the kernel updates VmHWM lazily, so one late read of it
    /// can miss the peak.
    peak_kb: u64,
    /// Bytes in the task's spool files at the end of the outage.
    spool_bytes: u64,
    /// Bytes the hub held when it came back: what it got before the kill.
    hub_bytes_at_kill: u64,
    /// Hub restart spawn → it listens again.
    hub_boot: Duration,
    /// Hub restart spawn → the hub holds more than it did at the kill.
    resumed: Option<Duration>,
    /// Hub restart spawn → the agent's status says connected.
    reconnect: Option<Duration>,
    /// Hub restart spawn → the hub holds every byte.
    catch_up: Duration,
}

/// An agent's resident memory, in kB: now (VmRSS) and its peak so far (VmHWM).
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kb: u64,
    hwm_kb: u64,
}

impl Memory {
    fn peak(self) -> u64 {
        self.rss_kb.max(self.hwm_kb)
    }
}

/// What the line check of the re-attach tasks found.
#[derive(Debug, Default, Clone, Copy)]
struct LineCheck {
    /// Complete lines read from the hub, over every task.
    lines: u64,
    /// Numbers skipped: lines the hub never got.
    missing: u64,
    /// Numbers seen again or out of order.
    doubled: u64,
    /// Lines that were not a number.
    garbled: u64,
}

/// Runs both parts. A failed part 1 (the agent did not re-attach) does not
/// stop part 2; the run still fails after it, with part 1's error.
pub async fn run(options: &Options) -> Result<Figures> {
    let gantry = build().await?;
    let docker = tokio::task::spawn_blocking(|| {
        let engine = DockerEngine::start()?;
        engine.build_test_image()?;
        anyhow::Ok(engine)
    })
    .await??;
    say(format!(
        "bench recovery: part 1, {TASKS} tasks re-attached after SIGKILL, {} rounds",
        options.rounds
    ));
    let reattach = reattach(&gantry, &docker, options.rounds).await;
    match &reattach {
        Ok(figures) => say(format!("bench recovery: part 1: {}", figures.summary())),
        Err(error) => say(format!("bench recovery: part 1 failed: {error:#}")),
    }
    say(format!(
        "bench recovery: part 2, {FLOOD_LINES} lines while the hub is down for {} s",
        options.outage_secs
    ));
    let outage = outage(&gantry, &docker, options.outage_secs).await?;
    say(format!("bench recovery: part 2: {}", outage.summary()));
    let reattach = reattach.context(
        "part 1 (re-attach after SIGKILL) failed, so nothing is recorded; part 2's figures are above",
    )?;
    Ok(Figures { reattach, outage })
}

impl Reattach {
    fn summary(&self) -> String {
        format!(
            "re-attach median {:.0} ms, max {:.0} ms; agent boot median {:.0} ms; docker ps + logs median {:.0} ms; \
             {} lines checked, {} missing, {} doubled, {} garbled",
            percentile(&self.reattach_ms, 50.0),
            percentile(&self.reattach_ms, 100.0),
            percentile(&self.boot_ms, 50.0),
            percentile(&self.docker_ms, 50.0),
            self.lines.lines,
            self.lines.missing,
            self.lines.doubled,
            self.lines.garbled,
        )
    }
}

impl Outage {
    fn summary(&self) -> String {
        format!(
            "agent RSS idle {:.1} MiB; before the outage {:.1} MiB; at its end {:.1} MiB; \
             after the catch-up {:.1} MiB; peak {:.1} MiB ({:.2}x idle RSS); spool {:.1} MiB of {:.1} MiB; \
             hub restart → first new byte {}, → agent connected {}, → log complete {:.2} s",
            mib(self.idle.rss_kb * 1024),
            mib(self.before.rss_kb * 1024),
            mib(self.end.rss_kb * 1024),
            mib(self.after.rss_kb * 1024),
            mib(self.peak_kb * 1024),
            self.peak_ratio(),
            mib(self.spool_bytes),
            mib(self.bytes),
            seconds(self.resumed),
            seconds(self.reconnect),
            self.catch_up.as_secs_f64(),
        )
    }

    /// The agent's peak over the whole run against its idle RSS.
    fn peak_ratio(&self) -> f64 {
        ratio(self.peak_kb as f64, self.idle.rss_kb as f64)
    }
}

/// Part 1.
async fn reattach(gantry: &Path, docker: &DockerEngine, rounds: usize) -> Result<Reattach> {
    // Declared first, dropped last: the processes and containers go before
    // their folder does.
    let scratch = Scratch::named("recovery-reattach")?;
    let name = format!("bench-recovery-{}", std::process::id());
    let mut leftovers = Leftovers {
        docker,
        node: name.clone(),
        tasks: Vec::new(),
    };
    let data = scratch.0.join("hub");
    let admin = gantry_says(
        gantry,
        &["hub", "token", "create", "--admin", "bench"],
        &data,
    )
    .await?;
    let node = gantry_says(gantry, &["hub", "node", "add", &name], &data).await?;
    let hub = Hub::start(gantry, &data, "127.0.0.1:0", &scratch.0.join("hub.log")).await?;
    let hub_api = HubApi::new(&hub, &admin)?;
    let host_dir = scratch.0.join("agent");
    let launch = Launch {
        gantry,
        docker,
        server: hub.url(""),
        token: &node,
        name: &name,
        host_dir: &host_dir,
        max_tasks: TASKS,
        log: scratch.0.join("agent.log"),
        config_home: &scratch.0,
    };

    say("bench recovery: floor, an agent with no tasks from spawn to connected");
    let mut boot_ms = Vec::new();
    for round in 0..=rounds {
        let started = Instant::now();
        let agent = launch.spawn()?;
        wait_connected(&agent, &host_dir, &launch.log).await?;
        if round > 0 {
            boot_ms.push(ms(started.elapsed()));
        }
        agent.stop().await;
    }

    let mut agent = launch.spawn()?;
    wait_connected(&agent, &host_dir, &launch.log).await?;
    // A number every 100 ms, so that the hub's copy shows any line lost or
    // doubled across the kills.
    let script = format!("i=0; while [ $i -lt {TICKS} ]; do echo $i; i=$((i+1)); sleep 0.1; done");
    let job = serde_json::json!({
        "image": TEST_IMAGE,
        "pull": "missing",
        "command": ["sh", "-c", script],
    });
    let mut ids = Vec::new();
    for _ in 0..TASKS {
        let id = hub_api.submit(&job).await?;
        leftovers.tasks.push(id.clone());
        ids.push(id);
    }

    let mut reattach_ms = Vec::new();
    let mut listed_ms = Vec::new();
    let mut docker_ms = Vec::new();
    for round in 1..=rounds {
        wait_all_running(&hub_api, &agent, &host_dir, &ids, &launch.log).await?;
        docker_ms.push(ms(docker_reattach_floor(docker, &name, ids.len()).await?));

        agent.kill().await?;
        // With the agent dead, neither the hub's copy nor the spool moves
        // any more: new bytes past both can only be output written after
        // the kill, read back by the restarted agent.
        let mut past = HashMap::new();
        for id in &ids {
            let hub_size = hub_api.task(id).await?.log_size;
            let spooled = spool_bytes(&host_dir, id);
            past.insert(id.clone(), hub_size.max(spooled));
        }

        tokio::time::sleep(DOWNTIME).await;
        let started = Instant::now();
        agent = launch.spawn()?;
        let (listed, done) = wait_reattached(
            &hub_api,
            &agent,
            &host_dir,
            &ids,
            &past,
            started,
            &launch.log,
        )
        .await
        .with_context(|| format!("round {round} of {rounds}"))?;
        say(format!(
            "bench recovery: round {round}: status listed all {TASKS} running after {:.0} ms, re-attached after {:.0} ms",
            ms(listed),
            ms(done)
        ));
        listed_ms.push(ms(listed));
        reattach_ms.push(ms(done));
    }

    // Let a second of output flow after the last restart, then read every log.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut lines = LineCheck::default();
    for id in &ids {
        let log = hub_api.log(id).await?;
        lines.add(check_lines(&log));
    }
    if lines.missing + lines.doubled + lines.garbled > 0 {
        say(format!(
            "bench recovery: the hub's logs are not exact: {} lines missing, {} doubled, {} garbled",
            lines.missing, lines.doubled, lines.garbled
        ));
    }

    for id in &ids {
        hub_api.cancel(id).await?;
    }
    wait_until(
        &agent,
        &launch.log,
        "the canceled tasks to leave the agent",
        async || {
            Ok(agent_status(&host_dir)
                .await
                .is_some_and(|status| held(&status).is_empty()))
        },
    )
    .await?;
    agent.stop().await;
    hub.stop().await;
    Ok(Reattach {
        reattach_ms: sorted(reattach_ms),
        listed_ms: sorted(listed_ms),
        boot_ms: sorted(boot_ms),
        docker_ms: sorted(docker_ms),
        lines,
    })
}

/// Waits until the hub says every task runs with output, and the agent's
/// status lists every one running.
async fn wait_all_running(
    hub: &HubApi,
    agent: &AgentProcess,
    host_dir: &Path,
    ids: &[String],
    log: &Path,
) -> Result<()> {
    wait_until(agent, log, "every task running with output", async || {
        for id in ids {
            let task = hub.task(id).await?;
            if task.state != "running" || task.log_size == 0 {
                return Ok(false);
            }
        }
        Ok(agent_status(host_dir)
            .await
            .is_some_and(|status| all_running(&status, ids)))
    })
    .await
}

/// Polls until the restarted agent lists every task running and every
/// task's log at the hub has grown past `past`; returns the time from
/// `started` to the first and to both.
async fn wait_reattached(
    hub: &HubApi,
    agent: &AgentProcess,
    host_dir: &Path,
    ids: &[String],
    past: &HashMap<String, u64>,
    started: Instant,
    log: &Path,
) -> Result<(Duration, Duration)> {
    let mut listed = None;
    let mut grown: HashSet<String> = HashSet::new();
    let mut last_status = None;
    loop {
        let status = agent_status(host_dir).await;
        let running = status.as_ref().is_some_and(|s| all_running(s, ids));
        if running {
            listed.get_or_insert_with(|| started.elapsed());
        }
        for id in ids {
            if !grown.contains(id) && hub.task(id).await?.log_size > past[id] {
                grown.insert(id.clone());
            }
        }
        if running && grown.len() == ids.len() {
            let done = started.elapsed();
            return Ok((listed.unwrap_or(done), done));
        }
        if status.is_some() {
            last_status = status;
        }
        if started.elapsed() > REATTACH_LIMIT {
            let mut states = Vec::new();
            for id in ids {
                states.push(format!("{id} {}", hub.task(id).await?.state));
            }
            let listed = last_status
                .as_ref()
                .map(|status| {
                    let tasks = held(status);
                    if tasks.is_empty() {
                        "no tasks".to_owned()
                    } else {
                        tasks
                            .iter()
                            .map(|(id, state)| format!("{id} {state}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                })
                .unwrap_or_else(|| "nothing (its control socket never answered)".to_owned());
            bail!(
                "the restarted agent did not re-attach its {} running tasks within {} s: its status lists {listed}; \
                 {} of {} hub logs grew past what was spooled at the kill; the hub says {}. \
                 Re-attaching after SIGKILL (issue 4) may not be implemented in this agent yet.{}",
                ids.len(),
                REATTACH_LIMIT.as_secs(),
                grown.len(),
                ids.len(),
                states.join(", "),
                tail(log),
            );
        }
        if agent.exited() {
            bail!(
                "the restarted agent exited before it re-attached{}",
                tail(log)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The raw Docker work a re-attach needs, from the docker CLI: the node's
/// task containers by label, then every one's log, at once. Spawn → all done.
async fn docker_reattach_floor(
    docker: &DockerEngine,
    node: &str,
    tasks: usize,
) -> Result<Duration> {
    let started = Instant::now();
    let listed = tokio::process::Command::from(docker.docker())
        .args(["ps", "--no-trunc", "--filter", "label=gantry.task"])
        .args(["--filter", &format!("label=gantry.node={node}")])
        .args(["--format", "{{.ID}} {{.Label \"gantry.task\"}}"])
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .context("cannot run docker ps")?;
    let containers: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect();
    if containers.len() != tasks {
        bail!(
            "docker ps lists {} running task containers of this node, not {tasks}",
            containers.len()
        );
    }
    let logs = containers.iter().map(|id| {
        let mut command = tokio::process::Command::from(docker.docker());
        command
            .args(["logs", id])
            .stderr(Stdio::null())
            .kill_on_drop(true);
        async move { command.output().await.context("cannot run docker logs") }
    });
    for output in futures::future::join_all(logs).await {
        let output = output?;
        if !output.status.success() || output.stdout.is_empty() {
            bail!("docker logs failed or printed nothing ({})", output.status);
        }
    }
    Ok(started.elapsed())
}

/// Part 2.
async fn outage(gantry: &Path, docker: &DockerEngine, outage_secs: u64) -> Result<Outage> {
    let scratch = Scratch::named("recovery-outage")?;
    let name = format!("bench-outage-{}", std::process::id());
    let mut leftovers = Leftovers {
        docker,
        node: name.clone(),
        tasks: Vec::new(),
    };
    let data = scratch.0.join("hub");
    let hub_log = scratch.0.join("hub.log");
    let admin = gantry_says(
        gantry,
        &["hub", "token", "create", "--admin", "bench"],
        &data,
    )
    .await?;
    let node = gantry_says(gantry, &["hub", "node", "add", &name], &data).await?;
    let hub = Hub::start(gantry, &data, "127.0.0.1:0", &hub_log).await?;
    let address = hub.address().to_owned();
    let hub_api = HubApi::new(&hub, &admin)?;
    let host_dir = scratch.0.join("agent");
    let launch = Launch {
        gantry,
        docker,
        server: hub.url(""),
        token: &node,
        name: &name,
        host_dir: &host_dir,
        max_tasks: 1,
        log: scratch.0.join("agent.log"),
        config_home: &scratch.0,
    };
    let agent = launch.spawn()?;
    wait_connected(&agent, &host_dir, &launch.log).await?;
    tokio::time::sleep(IDLE_SETTLE).await;
    let idle = agent.memory();

    // The flood ends well before the hub comes back, so that the catch-up
    // is the backlog alone.
    let flood_secs = (outage_secs as f64 * 0.75).max(3.0);
    let pause = flood_secs / FLOOD_BATCHES as f64;
    let batch = FLOOD_LINES / FLOOD_BATCHES;
    let script = format!(
        "i=0; while [ $i -lt {FLOOD_BATCHES} ]; do seq $((i*{batch}+1)) $((i*{batch}+{batch})); i=$((i+1)); sleep {pause:.3}; done"
    );
    let expected: String = (1..=FLOOD_LINES).map(|i| format!("{i}\n")).collect();
    let bytes = expected.len() as u64;
    let job = serde_json::json!({
        "image": TEST_IMAGE,
        "pull": "missing",
        "command": ["sh", "-c", script],
    });
    let id = hub_api.submit(&job).await?;
    leftovers.tasks.push(id.clone());
    wait_until(
        &agent,
        &launch.log,
        "the flood's first bytes at the hub",
        async || Ok(hub_api.task(&id).await?.log_size > 0),
    )
    .await?;
    let before = agent.memory();
    let mut peak_kb = before.peak();
    hub.kill().await?;
    say(format!(
        "bench recovery: the hub is down for {outage_secs} s"
    ));
    let back_at = Instant::now() + Duration::from_secs(outage_secs);
    while Instant::now() < back_at {
        if agent.exited() {
            bail!(
                "the agent exited while the hub was down{}",
                tail(&launch.log)
            );
        }
        peak_kb = peak_kb.max(agent.memory().peak());
        tokio::time::sleep(Duration::from_millis(100).min(back_at - Instant::now())).await;
    }
    let end = agent.memory();
    peak_kb = peak_kb.max(end.peak());
    let spooled = spool_bytes(&host_dir, &id);
    if spooled < bytes {
        say(format!(
            "bench recovery: the flood was still running when the hub came back ({spooled} of {bytes} bytes spooled)"
        ));
    }

    let restarted = Instant::now();
    let hub = Hub::start(gantry, &data, &address, &hub_log).await?;
    let hub_boot = restarted.elapsed();
    let hub_bytes_at_kill = hub_api.task(&id).await?.log_size;
    let mut reconnect = None;
    let mut resumed = None;
    let catch_up = loop {
        if reconnect.is_none() && agent_connected(&host_dir).await {
            reconnect = Some(restarted.elapsed());
        }
        peak_kb = peak_kb.max(agent.memory().peak());
        let size = hub_api.task(&id).await?.log_size;
        if size > hub_bytes_at_kill {
            resumed.get_or_insert_with(|| restarted.elapsed());
        }
        if size == bytes {
            break restarted.elapsed();
        }
        if size > bytes {
            bail!("the hub holds {size} bytes of the flood, more than the {bytes} it printed");
        }
        if restarted.elapsed() > STEP_LIMIT {
            bail!(
                "the hub held {size} of {bytes} bytes {} s after it came back{}",
                STEP_LIMIT.as_secs(),
                tail(&launch.log)
            );
        }
        if agent.exited() {
            bail!("the agent exited during the catch-up{}", tail(&launch.log));
        }
        tokio::time::sleep(POLL).await;
    };
    let log = hub_api.log(&id).await?;
    if log != expected.as_bytes() {
        let at = log
            .iter()
            .zip(expected.as_bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(log.len().min(expected.len()));
        bail!("the hub's copy of the flood differs from `seq 1 {FLOOD_LINES}` at byte {at}");
    }
    wait_until(
        &agent,
        &launch.log,
        "the flood task to succeed",
        async || {
            let state = hub_api.task(&id).await?.state;
            if matches!(state.as_str(), "failed" | "canceled" | "lost") {
                bail!("the flood task ended {state}");
            }
            Ok(state == "succeeded")
        },
    )
    .await?;
    // The heartbeat loop reconnects on its own backoff, which may end after
    // the shipper's.
    if reconnect.is_none() {
        wait_until(&agent, &launch.log, "the agent to reconnect", async || {
            Ok(agent_connected(&host_dir).await)
        })
        .await?;
        reconnect = Some(restarted.elapsed());
    }
    let after = agent.memory();
    peak_kb = peak_kb.max(after.peak());
    agent.stop().await;
    hub.stop().await;
    Ok(Outage {
        outage_secs,
        flood_secs,
        bytes,
        idle,
        before,
        end,
        after,
        peak_kb,
        spool_bytes: spooled,
        hub_bytes_at_kill,
        hub_boot,
        resumed,
        reconnect,
        catch_up,
    })
}

/// Everything an agent is started with, so that a restart is the same.
struct Launch<'a> {
    gantry: &'a Path,
    docker: &'a DockerEngine,
    server: String,
    token: &'a str,
    name: &'a str,
    host_dir: &'a Path,
    max_tasks: usize,
    /// Its stderr, appended to across restarts.
    log: PathBuf,
    config_home: &'a Path,
}

impl Launch<'_> {
    fn spawn(&self) -> Result<AgentProcess> {
        let log = append(&self.log)?;
        let child = tokio::process::Command::new(self.gantry)
            .args([
                "agent",
                "start",
                "--server",
                &self.server,
                "--name",
                self.name,
            ])
            .args(["--max-tasks", &self.max_tasks.to_string(), "--host-dir"])
            .arg(self.host_dir)
            .env("GANTRY_TOKEN", self.token)
            .env("DOCKER_HOST", self.docker.host())
            .env("PULL_ALWAYS", "false")
            // No person's agent.toml.
            .env("XDG_CONFIG_HOME", self.config_home)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the agent")?;
        let pid = child.id().context("the agent exited at once")?;
        Ok(AgentProcess {
            child: Some(child),
            pid,
        })
    }
}

/// A `gantry agent start` child. Dropping it kills it and waits a moment
/// for it to be gone, so its host dir can be removed after.
struct AgentProcess {
    child: Option<tokio::process::Child>,
    pid: u32,
}

impl AgentProcess {
    /// SIGKILL, and wait until it is reaped.
    async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("cannot kill the agent")?;
        }
        Ok(())
    }

    /// SIGTERM, as a service manager would send, then SIGKILL after 30 s.
    async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(self.pid, "TERM").await;
        if tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .is_err()
        {
            say("bench recovery: the agent ignored SIGTERM for 30 s; killing it");
            let _ = child.kill().await;
        }
    }

    /// Whether it has exited: a process that exited (a zombie, or reaped)
    /// has no VmRSS.
    fn exited(&self) -> bool {
        let status = PathBuf::from(format!("/proc/{}/status", self.pid));
        self.child.is_none() || proc_field(&status, "VmRSS").is_none()
    }

    fn memory(&self) -> Memory {
        let status = PathBuf::from(format!("/proc/{}/status", self.pid));
        Memory {
            rss_kb: proc_field(&status, "VmRSS").unwrap_or(0),
            hwm_kb: proc_field(&status, "VmHWM").unwrap_or(0),
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            reap(child);
        }
    }
}

/// Kills a child at once and waits up to 5 s for it to be gone.
fn reap(child: &mut tokio::process::Child) {
    if child.try_wait().is_ok_and(|status| status.is_some()) {
        return;
    }
    let _ = child.start_kill();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if child.try_wait().is_ok_and(|status| status.is_some()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `gantry hub serve` child that can be killed and started again on the
/// same address and data dir.
struct Hub {
    child: Option<tokio::process::Child>,
    pid: u32,
    base: String,
}

impl Hub {
    /// Starts a hub on `listen`, appending its log to `log`, and waits for
    /// its first line, `listening on http://ADDR`.
    async fn start(gantry: &Path, data: &Path, listen: &str, log: &Path) -> Result<Hub> {
        let mut child = tokio::process::Command::new(gantry)
            .args(["hub", "serve", "--listen", listen, "--data-dir"])
            .arg(data)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(append(log)?)
            .kill_on_drop(true)
            .spawn()
            .context("cannot start the hub")?;
        let pid = child.id().context("the hub exited at once")?;
        let stdout = child
            .stdout
            .take()
            .context("the hub's stdout was not piped")?;
        let mut hub = Hub {
            child: Some(child),
            pid,
            base: String::new(),
        };
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .context("the hub did not say where it listens within 30 s")??;
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            bail!(
                "the hub's first line was {line:?}, not `listening on http://ADDR`{}",
                tail(log)
            );
        };
        hub.base = base.to_owned();
        Ok(hub)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `127.0.0.1:PORT`, for `--listen` on a restart.
    fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// SIGKILL, and wait until it is reaped.
    async fn kill(mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await.context("cannot kill the hub")?;
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after 10 s.
    async fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal(self.pid, "TERM").await;
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            say("bench recovery: the hub ignored SIGTERM for 10 s; killing it");
            let _ = child.kill().await;
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            reap(child);
        }
    }
}

/// The containers and networks a run's agent left, removed on drop: a
/// killed agent cannot remove its own.
struct Leftovers<'a> {
    docker: &'a DockerEngine,
    node: String,
    tasks: Vec<String>,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        let labels = std::iter::once(format!("label=gantry.node={}", self.node)).chain(
            self.tasks
                .iter()
                .map(|id| format!("label=gantry.task={id}")),
        );
        for label in labels {
            for kind in ["container", "network"] {
                let listed = self
                    .docker
                    .docker()
                    .args([kind, "ls", "-q", "--filter", &label])
                    .args(if kind == "container" {
                        &["-a"][..]
                    } else {
                        &[]
                    })
                    .stderr(Stdio::null())
                    .output();
                let Ok(listed) = listed else { continue };
                let ids: Vec<String> = String::from_utf8_lossy(&listed.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let remove: &[&str] = if kind == "container" {
                    &["container", "rm", "-f", "-v"]
                } else {
                    &["network", "rm"]
                };
                let _ = self
                    .docker
                    .docker()
                    .args(remove)
                    .args(&ids)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// A task as the hub shows it, the two fields used here.
struct TaskView {
    state: String,
    log_size: u64,
}

/// The admin's calls to the hub.
struct HubApi {
    client: reqwest::Client,
    base: String,
    admin: String,
}

impl HubApi {
    fn new(hub: &Hub, admin: &str) -> Result<HubApi> {
        Ok(HubApi {
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()?,
            base: hub.url(""),
            admin: admin.to_owned(),
        })
    }

    async fn submit(&self, job: &Value) -> Result<String> {
        let answer: Value = self
            .client
            .post(format!("{}/v1/tasks", self.base))
            .bearer_auth(&self.admin)
            .json(job)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(answer["id"]
            .as_str()
            .context("the submit returned no id")?
            .to_owned())
    }

    async fn task(&self, id: &str) -> Result<TaskView> {
        let task: Value = self
            .client
            .get(format!("{}/v1/tasks/{id}", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(TaskView {
            state: task["state"].as_str().unwrap_or_default().to_owned(),
            log_size: task["log_size"].as_u64().unwrap_or(0),
        })
    }

    async fn log(&self, id: &str) -> Result<Vec<u8>> {
        Ok(self
            .client
            .get(format!("{}/v1/tasks/{id}/log", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?
            .to_vec())
    }

    async fn cancel(&self, id: &str) -> Result<()> {
        self.client
            .post(format!("{}/v1/tasks/{id}/cancel", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

/// The agent's status from its control socket (`{"op":"status"}`, the
/// request `gantry agent status --json` sends), or `None` while nothing
/// answers there.
async fn agent_status(host_dir: &Path) -> Option<Value> {
    let call = async {
        let stream = tokio::net::UnixStream::connect(host_dir.join("agent.sock"))
            .await
            .ok()?;
        let (read, mut write) = stream.into_split();
        write.write_all(b"{\"op\":\"status\"}\n").await.ok()?;
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await.ok()?;
        let mut answer: Value = serde_json::from_str(&line).ok()?;
        Some(answer.get_mut("status")?.take())
    };
    tokio::time::timeout(Duration::from_secs(2), call)
        .await
        .ok()
        .flatten()
}

/// The tasks a status lists, with their states.
fn held(status: &Value) -> Vec<(String, String)> {
    status["tasks"]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .map(|task| {
                    (
                        task["id"].as_str().unwrap_or_default().to_owned(),
                        task["state"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a status lists every one of `ids` as running.
fn all_running(status: &Value, ids: &[String]) -> bool {
    let held = held(status);
    ids.iter().all(|id| {
        held.iter()
            .any(|(held, state)| held == id && state == "running")
    })
}

/// Whether the agent's status says it reached the hub on its last call.
async fn agent_connected(host_dir: &Path) -> bool {
    agent_status(host_dir)
        .await
        .is_some_and(|status| status["connected"] == true)
}

/// Waits until a freshly spawned agent's status says connected.
async fn wait_connected(agent: &AgentProcess, host_dir: &Path, log: &Path) -> Result<()> {
    wait_until(agent, log, "the agent to connect", async || {
        Ok(agent_connected(host_dir).await)
    })
    .await
}

/// Polls `done` every [`POLL`] until it holds, for at most [`STEP_LIMIT`];
/// fails at once if the agent exits meanwhile.
async fn wait_until(
    agent: &AgentProcess,
    log: &Path,
    what: &str,
    mut done: impl AsyncFnMut() -> Result<bool>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        if done().await? {
            return Ok(());
        }
        if agent.exited() {
            bail!("the agent exited while waiting for {what}{}", tail(log));
        }
        if started.elapsed() > STEP_LIMIT {
            bail!("waited {} s for {what}{}", STEP_LIMIT.as_secs(), tail(log));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The bytes of a task's spool files, `HOST_DIR/tasks/<id>/logs/*`.
fn spool_bytes(host_dir: &Path, id: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(host_dir.join("tasks").join(id).join("logs")) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}

/// Checks that a log is `0\n1\n2\n…`, each number once and in order; a last
/// line without its newline yet is left out.
fn check_lines(log: &[u8]) -> LineCheck {
    let text = String::from_utf8_lossy(log);
    let complete = text.rsplit_once('\n').map_or("", |(complete, _)| complete);
    let mut check = LineCheck::default();
    let mut next = 0u64;
    for line in complete.split('\n').filter(|_| !complete.is_empty()) {
        check.lines += 1;
        match line.parse::<u64>() {
            Ok(n) if n == next => next += 1,
            Ok(n) if n > next => {
                check.missing += n - next;
                next = n + 1;
            }
            Ok(_) => check.doubled += 1,
            Err(_) => check.garbled += 1,
        }
    }
    check
}

impl LineCheck {
    fn add(&mut self, other: LineCheck) {
        self.lines += other.lines;
        self.missing += other.missing;
        self.doubled += other.doubled;
        self.garbled += other.garbled;
    }
}

/// Opens `path` for appending, creating it.
fn append(path: &Path) -> Result<std::fs::File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

/// Sends `kill -SIG pid`.
async fn signal(pid: u32, signal: &str) {
    let _ = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await;
}

/// The last lines of a child's log, to append to an error: the folder it
/// lives in is removed when the run ends.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    if lines.is_empty() {
        return String::new();
    }
    let shown = &lines[lines.len().saturating_sub(15)..];
    format!(
        "\n  last lines of {}:\n    {}",
        log.file_name().unwrap_or_default().to_string_lossy(),
        shown.join("\n    ")
    )
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or("not seen".to_owned(), |d| {
        format!("{:.2} s", d.as_secs_f64())
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The section for docs/benchmarks.md.
pub fn report(options: &Options, figures: &Figures) -> String {
    let Reattach {
        reattach_ms,
        listed_ms,
        boot_ms,
        docker_ms,
        lines,
    } = &figures.reattach;
    let med = |values: &[f64]| percentile(values, 50.0);
    let max = |values: &[f64]| percentile(values, 100.0);
    let floor_med = med(boot_ms) + med(docker_ms);
    let floor_max = max(boot_ms) + max(docker_ms);
    let o = &figures.outage;
    let rss = |m: Memory| format!("{:.1} MiB", mib(m.rss_kb * 1024));
    // The backlog the agent shipped once the hub was back, and how fast.
    let backlog = o.bytes.saturating_sub(o.hub_bytes_at_kill);
    let shipping = o
        .resumed
        .map(|resumed| o.catch_up.saturating_sub(resumed))
        .filter(|took| !took.is_zero());
    format!(
        "<!-- bench recovery: begin (written by `cargo xtask bench recovery`; edits inside are overwritten) -->\n\
         ## Recovery: re-attaching after SIGKILL, and a flood while the hub is down\n\n\
         Recorded {stamp} on {machine}, Docker engine, hub and agent on the same machine, release builds.\n\n\
         ### Agent killed with SIGKILL and started again, {tasks} tasks running ({rounds} rounds)\n\n\
         | measure | median | max |\n|---|---:|---:|\n\
         | re-attach: restart → status lists all {tasks} running and every hub log grew | {r50:.0} ms | {rmax:.0} ms |\n\
         | of which: restart → status lists all {tasks} running | {l50:.0} ms | {lmax:.0} ms |\n\
         | floor: agent boot, spawn → connected with no tasks | {b50:.0} ms | {bmax:.0} ms |\n\
         | floor: `docker ps` by label + `docker logs` of the {tasks} containers | {d50:.0} ms | {dmax:.0} ms |\n\
         | floor: the two together | {f50:.0} ms | {fmax:.0} ms |\n\
         | **re-attach / floor** | **{rr:.2}x** | {rrmax:.2}x |\n\n\
         Lines at the hub after {rounds} kills, checked one by one: {checked} lines, {missing} missing, \
         {doubled} doubled, {garbled} garbled.\n\n\
         A release hub and agent (`--max-tasks {tasks}`) run {tasks} tasks, each printing a counter every 100 ms \
         in the FROM-scratch busybox image. Once the hub shows all {tasks} running with output and the agent's \
         status lists them running, the agent gets SIGKILL, stays down {down} s (about {down_lines} lines a task \
         go to Docker alone meanwhile), and is started again on the same host dir. The clock runs from that \
         spawn until the control socket's status (what `gantry agent status --json` shows) lists every task \
         `running` and every task's log at the hub has grown past both the hub's copy and the agent's spool at \
         the kill, so output written after the kill has arrived; a task prints every 100 ms, so up to that much \
         of the figure is waiting for a line. The same tasks go through every round; the status and the hub are \
         looked at every {poll} ms. Floor, in the same run: an agent with no tasks on the same host dir, spawn to \
         `connected` (after one to warm up), plus the raw Docker work a re-attach needs, timed from the docker \
         CLI's spawn: `docker ps --filter label=gantry.task` and `docker logs` of the {tasks} containers at once \
         (the max column adds the two maxima). After the last round every hub log must read `0`, `1`, `2`, … \
         with no number skipped (missing) or repeated (doubled).\n\n\
         ### Hub down for {outage} s while a task floods {lines} lines\n\n\
         | measure | value |\n|---|---:|\n\
         | agent RSS, idle | {idle} |\n\
         | agent RSS before the outage (flood started) | {before} |\n\
         | agent RSS at the end of the outage | {end} |\n\
         | agent RSS after the catch-up | {after} |\n\
         | agent peak over the run | {peak:.1} MiB |\n\
         | **agent peak / idle RSS** | **{peak_ratio:.2}x** |\n\
         | spool on disk at the end of the outage | {spool:.1} MiB of {total:.1} MiB |\n\
         | hub restart → listening | {hub_boot:.0} ms |\n\
         | hub restart → first byte past the kill at the hub | {resumed} |\n\
         | hub restart → agent's status says connected | {reconnect} |\n\
         | **hub restart → hub holds all {bytes} bytes, byte-exact** | **{catch_up:.2} s** |\n\
         | backlog shipped ({backlog:.1} MiB), first byte → complete | {shipped} |\n\n\
         One release agent and hub. The idle RSS is read after the agent has been connected for {settle} s with \
         nothing to do. A task prints `seq 1 {lines}` in {batches} batches with sleeps between, over about \
         {flood_secs:.0} s, so that it is done before the hub returns. Once its first bytes reach the hub \
         ({at_kill} bytes were in), the hub gets SIGKILL, stays down {outage} s, and starts again on the same \
         address and data dir. RSS is VmRSS from /proc; the peak is the highest VmRSS or VmHWM read, sampled \
         every 100 ms through the outage and every {poll} ms through the catch-up (the kernel updates VmHWM \
         lazily). The spool is the size of the task's files under `HOST_DIR/tasks/<id>/logs/`. The catch-up runs \
         from the hub's spawn until the hub's log size equals the flood's; the log is then read back and \
         compared with `seq 1 {lines}` byte for byte, and the task must end `succeeded`. The agent retries with \
         jittered backoff capped at 30 s, so the first byte waits for the retry the task's shipper was \
         sleeping in when the hub came back; `connected` is the heartbeat's view, on its own backoff, so either \
         may come first.\n\
         <!-- bench recovery: end -->\n",
        stamp = super::stamp(),
        machine = machine(),
        tasks = TASKS,
        rounds = options.rounds,
        r50 = med(reattach_ms),
        rmax = max(reattach_ms),
        l50 = med(listed_ms),
        lmax = max(listed_ms),
        b50 = med(boot_ms),
        bmax = max(boot_ms),
        d50 = med(docker_ms),
        dmax = max(docker_ms),
        f50 = floor_med,
        fmax = floor_max,
        rr = ratio(med(reattach_ms), floor_med),
        rrmax = ratio(max(reattach_ms), floor_max),
        checked = lines.lines,
        missing = lines.missing,
        doubled = lines.doubled,
        garbled = lines.garbled,
        down = DOWNTIME.as_secs_f64(),
        down_lines = DOWNTIME.as_millis() / 100,
        poll = POLL.as_millis(),
        outage = o.outage_secs,
        lines = FLOOD_LINES,
        idle = rss(o.idle),
        before = rss(o.before),
        end = rss(o.end),
        after = rss(o.after),
        peak = mib(o.peak_kb * 1024),
        peak_ratio = o.peak_ratio(),
        spool = mib(o.spool_bytes),
        total = mib(o.bytes),
        hub_boot = ms(o.hub_boot),
        resumed = seconds(o.resumed),
        reconnect = seconds(o.reconnect),
        bytes = o.bytes,
        catch_up = o.catch_up.as_secs_f64(),
        backlog = mib(backlog),
        shipped = shipping.map_or("-".to_owned(), |took| format!(
            "{:.2} s ({:.1} MiB/s)",
            took.as_secs_f64(),
            mib(backlog) / took.as_secs_f64()
        )),
        settle = IDLE_SETTLE.as_secs(),
        batches = FLOOD_BATCHES,
        flood_secs = o.flood_secs,
        at_kill = o.hub_bytes_at_kill,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked_in_order() {
        let check = check_lines(b"0\n1\n2\n3\n4");
        assert_eq!((check.lines, check.missing, check.doubled), (4, 0, 0));
        let check = check_lines(b"0\n1\n4\n2\n5\nx\n");
        assert_eq!(
            (check.lines, check.missing, check.doubled, check.garbled),
            (6, 2, 1, 1)
        );
        assert_eq!(check_lines(b"").lines, 0);
        assert_eq!(check_lines(b"0").lines, 0);
    }
}
