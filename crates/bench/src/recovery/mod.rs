//! `bench recovery`: the agent's "never lose a line", measured
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

mod api;
mod report;
mod rig;

pub use report::report;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_testkit::children::{agent_connected, agent_status};
use gantry_testkit::procfs::Memory;
use gantry_testkit::services::docker_command;
use gantry_testkit::{Process, image};
use serde_json::Value;

use crate::hub::{start_hub, stop_hub};
use crate::record::{ms, sorted};
use crate::{built, docker_with_image, say, tail};
use api::HubApi;
use rig::{Rig, append, exited, memory, spawn_agent, stop_agent, wait_until};

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

/// The options of `bench recovery`.
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
    let gantry = built("GANTRY_BENCH_CLI")?;
    docker_with_image()?;
    say(format!(
        "bench recovery: part 1, {TASKS} tasks re-attached after SIGKILL, {} rounds",
        options.rounds
    ));
    let reattach = reattach(&gantry, options.rounds).await;
    match &reattach {
        Ok(figures) => say(format!("bench recovery: part 1: {}", figures.summary())),
        Err(error) => say(format!("bench recovery: part 1 failed: {error:#}")),
    }
    say(format!(
        "bench recovery: part 2, {FLOOD_LINES} lines while the hub is down for {} s",
        options.outage_secs
    ));
    let outage = outage(&gantry, options.outage_secs).await?;
    say(format!("bench recovery: part 2: {}", outage.summary()));
    let reattach = reattach.context(
        "part 1 (re-attach after SIGKILL) failed, so nothing is recorded; part 2's figures are above",
    )?;
    Ok(Figures { reattach, outage })
}

/// Part 1.
async fn reattach(gantry: &Path, rounds: usize) -> Result<Reattach> {
    let node = format!("bench-recovery-{}", std::process::id());
    let mut rig = Rig::start(gantry, "bench-recovery-reattach", node, TASKS).await?;
    say("bench recovery: floor, an agent with no tasks from spawn to connected");
    let mut boot_ms = Vec::new();
    for round in 0..=rounds {
        let started = Instant::now();
        let agent = rig.agent().await?;
        if round > 0 {
            boot_ms.push(ms(started.elapsed()));
        }
        stop_agent(agent);
    }

    let agent = rig.agent().await?;
    // A number every 100 ms, so that the hub's copy shows any line lost or
    // doubled across the kills.
    let script = format!("i=0; while [ $i -lt {TICKS} ]; do echo $i; i=$((i+1)); sleep 0.1; done");
    let job = serde_json::json!({
        "image": image(),
        "pull": "missing",
        "command": ["sh", "-c", script],
    });
    let mut ids = Vec::new();
    for _ in 0..TASKS {
        ids.push(rig.submit(&job).await?);
    }
    let (agent, rounds) = kill_and_restart(&rig, agent, &ids, rounds).await?;

    // Let a second of output flow after the last restart, then read every log.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut lines = LineCheck::default();
    for id in &ids {
        let log = rig.api.log(id).await?;
        lines.add(check_lines(&log));
    }
    if lines.missing + lines.doubled + lines.garbled > 0 {
        say(format!(
            "bench recovery: the hub's logs are not exact: {} lines missing, {} doubled, {} garbled",
            lines.missing, lines.doubled, lines.garbled
        ));
    }

    for id in &ids {
        rig.api.cancel(id).await?;
    }
    rig.wait(
        &agent,
        "the canceled tasks to leave the agent",
        async || {
            Ok(agent_status(&rig.socket)
                .await
                .is_some_and(|status| held(&status).is_empty()))
        },
    )
    .await?;
    stop_agent(agent);
    stop_hub(rig.hub, "bench recovery");
    Ok(Reattach {
        reattach_ms: sorted(rounds.reattach_ms),
        listed_ms: sorted(rounds.listed_ms),
        boot_ms: sorted(boot_ms),
        docker_ms: sorted(rounds.docker_ms),
        lines,
    })
}

/// The times of part 1's rounds, in ms, in the order measured.
#[derive(Debug, Default)]
struct Rounds {
    reattach_ms: Vec<f64>,
    listed_ms: Vec<f64>,
    docker_ms: Vec<f64>,
}

/// Kills `agent` with SIGKILL and starts it again, `rounds` times, timing
/// each re-attach and its Docker floor; returns the agent running last.
async fn kill_and_restart(
    rig: &Rig,
    mut agent: Process,
    ids: &[String],
    rounds: usize,
) -> Result<(Process, Rounds)> {
    let mut times = Rounds::default();
    for round in 1..=rounds {
        wait_all_running(&rig.api, &agent, &rig.socket, ids, &rig.agent_log).await?;
        let docker = docker_reattach_floor(&rig.launch.name, ids.len()).await?;
        times.docker_ms.push(ms(docker));

        agent.kill();
        // With the agent dead, neither the hub's copy nor the spool moves
        // any more: new bytes past both can only be output written after
        // the kill, read back by the restarted agent.
        let mut past = HashMap::new();
        for id in ids {
            let hub_size = rig.api.task(id).await?.log_size;
            let spooled = spool_bytes(&rig.launch.host_dir, id);
            past.insert(id.clone(), hub_size.max(spooled));
        }

        tokio::time::sleep(DOWNTIME).await;
        let started = Instant::now();
        agent = spawn_agent(&rig.launch, &rig.agent_log)?;
        let (listed, done) = wait_reattached(rig, &agent, ids, &past, started)
            .await
            .with_context(|| format!("round {round} of {rounds}"))?;
        say(format!(
            "bench recovery: round {round}: status listed all {TASKS} running after {:.0} ms, re-attached after {:.0} ms",
            ms(listed),
            ms(done)
        ));
        times.listed_ms.push(ms(listed));
        times.reattach_ms.push(ms(done));
    }
    Ok((agent, times))
}

/// Waits until the hub says every task runs with output, and the agent's
/// status lists every one running.
async fn wait_all_running(
    hub: &HubApi,
    agent: &Process,
    socket: &Path,
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
        Ok(agent_status(socket)
            .await
            .is_some_and(|status| all_running(&status, ids)))
    })
    .await
}

/// Polls until the restarted agent lists every task running and every
/// task's log at the hub has grown past `past`; returns the time from
/// `started` to the first and to both.
async fn wait_reattached(
    rig: &Rig,
    agent: &Process,
    ids: &[String],
    past: &HashMap<String, u64>,
    started: Instant,
) -> Result<(Duration, Duration)> {
    let mut listed = None;
    let mut grown: HashSet<String> = HashSet::new();
    let mut last_status = None;
    loop {
        let status = agent_status(&rig.socket).await;
        let running = status.as_ref().is_some_and(|s| all_running(s, ids));
        if running {
            listed.get_or_insert_with(|| started.elapsed());
        }
        for id in ids {
            if !grown.contains(id) && rig.api.task(id).await?.log_size > past[id] {
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
                states.push(format!("{id} {}", rig.api.task(id).await?.state));
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
                 The agent did not pick its tasks up again after SIGKILL.{}",
                ids.len(),
                REATTACH_LIMIT.as_secs(),
                grown.len(),
                ids.len(),
                states.join(", "),
                tail(&rig.agent_log),
            );
        }
        if exited(agent) {
            bail!(
                "the restarted agent exited before it re-attached{}",
                tail(&rig.agent_log)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The raw Docker work a re-attach needs, from the docker CLI: the node's
/// task containers by label, then every one's log, at once. Spawn → all done.
async fn docker_reattach_floor(node: &str, tasks: usize) -> Result<Duration> {
    let started = Instant::now();
    let listed = tokio::process::Command::from(docker_command())
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
        let mut command = tokio::process::Command::from(docker_command());
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
async fn outage(gantry: &Path, outage_secs: u64) -> Result<Outage> {
    let node = format!("bench-outage-{}", std::process::id());
    let mut rig = Rig::start(gantry, "bench-recovery-outage", node, 1).await?;
    let agent = rig.agent().await?;
    tokio::time::sleep(IDLE_SETTLE).await;
    let idle = memory(&agent);

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
        "image": image(),
        "pull": "missing",
        "command": ["sh", "-c", script],
    });
    let id = rig.submit(&job).await?;
    rig.wait(&agent, "the flood's first bytes at the hub", async || {
        Ok(rig.api.task(&id).await?.log_size > 0)
    })
    .await?;
    let before = memory(&agent);
    let address = rig.hub.address().to_owned();
    rig.hub.process.kill();
    say(format!(
        "bench recovery: the hub is down for {outage_secs} s"
    ));
    let back_at = Instant::now() + Duration::from_secs(outage_secs);
    let mut peak_kb = before.peak();
    while Instant::now() < back_at {
        if exited(&agent) {
            bail!(
                "the agent exited while the hub was down{}",
                tail(&rig.agent_log)
            );
        }
        peak_kb = peak_kb.max(memory(&agent).peak());
        tokio::time::sleep(Duration::from_millis(100).min(back_at - Instant::now())).await;
    }
    let end = memory(&agent);
    let spooled = spool_bytes(&rig.launch.host_dir, &id);
    if spooled < bytes {
        say(format!(
            "bench recovery: the flood was still running when the hub came back ({spooled} of {bytes} bytes spooled)"
        ));
    }

    let restarted = Instant::now();
    rig.hub = start_hub(gantry, &rig.data, &address, append(&rig.hub_log)?)?;
    let hub_boot = restarted.elapsed();
    let caught = catch_up(&rig, &agent, &id, &expected, restarted).await?;
    let after = memory(&agent);
    stop_agent(agent);
    stop_hub(rig.hub, "bench recovery");
    Ok(Outage {
        outage_secs,
        flood_secs,
        bytes,
        idle,
        before,
        end,
        after,
        peak_kb: [peak_kb, end.peak(), caught.peak_kb, after.peak()]
            .into_iter()
            .max()
            .unwrap_or(0),
        spool_bytes: spooled,
        hub_bytes_at_kill: caught.hub_bytes_at_kill,
        hub_boot,
        resumed: caught.resumed,
        reconnect: caught.reconnect,
        catch_up: caught.catch_up,
    })
}

/// What part 2 saw from the hub's restart on.
#[derive(Debug)]
struct CatchUp {
    /// Bytes the hub held when it came back: what it got before the kill.
    hub_bytes_at_kill: u64,
    /// Restart → the hub holds more than it did at the kill.
    resumed: Option<Duration>,
    /// Restart → the agent's status says connected.
    reconnect: Option<Duration>,
    /// Restart → the hub holds every byte.
    catch_up: Duration,
    /// The agent's highest VmRSS or VmHWM read meanwhile, kB.
    peak_kb: u64,
}

/// Waits, from the hub's restart at `restarted`, until the hub holds the
/// task's whole log, checks it against `expected` byte for byte, and waits
/// for the task to succeed and the agent to say it is connected.
async fn catch_up(
    rig: &Rig,
    agent: &Process,
    id: &str,
    expected: &str,
    restarted: Instant,
) -> Result<CatchUp> {
    let bytes = expected.len() as u64;
    let hub_bytes_at_kill = rig.api.task(id).await?.log_size;
    let mut reconnect = None;
    let mut resumed = None;
    let mut peak_kb = 0;
    let catch_up = loop {
        if reconnect.is_none() && agent_connected(&rig.socket).await {
            reconnect = Some(restarted.elapsed());
        }
        peak_kb = peak_kb.max(memory(agent).peak());
        let size = rig.api.task(id).await?.log_size;
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
                tail(&rig.agent_log)
            );
        }
        if exited(agent) {
            bail!(
                "the agent exited during the catch-up{}",
                tail(&rig.agent_log)
            );
        }
        tokio::time::sleep(POLL).await;
    };
    let log = rig.api.log(id).await?;
    if log != expected.as_bytes() {
        let at = log
            .iter()
            .zip(expected.as_bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(log.len().min(expected.len()));
        bail!("the hub's copy of the flood differs from `seq 1 {FLOOD_LINES}` at byte {at}");
    }
    rig.wait(agent, "the flood task to succeed", async || {
        let state = rig.api.task(id).await?.state;
        if matches!(state.as_str(), "failed" | "canceled" | "lost") {
            bail!("the flood task ended {state}");
        }
        Ok(state == "succeeded")
    })
    .await?;
    // The heartbeat loop reconnects on its own backoff, which may end after
    // the shipper's.
    if reconnect.is_none() {
        rig.wait(agent, "the agent to reconnect", async || {
            Ok(agent_connected(&rig.socket).await)
        })
        .await?;
        reconnect = Some(restarted.elapsed());
    }
    Ok(CatchUp {
        hub_bytes_at_kill,
        resumed,
        reconnect,
        catch_up,
        peak_kb,
    })
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

/// The bytes of a task's spool files, `HOST_DIR/tasks/<id>/logs/*`.
fn spool_bytes(host_dir: &Path, id: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir(host_dir.join("tasks").join(id).join("logs")) else {
        return 0;
    };
    // The log files only (`log_<time>.txt`): the `.streams` and `.times`
    // sidecars beside them are the spool's bookkeeping, not output, and
    // counting them asked the hub for bytes that never come.
    entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "txt"))
        .filter_map(|entry| entry.metadata().ok())
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
