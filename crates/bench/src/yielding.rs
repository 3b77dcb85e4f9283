//! `bench yield`: how fast a node steps aside for its person and comes back,
//! with a release `gantry hub serve`, a release `gantry agent start` and the
//! real Docker engine, against the engine's own floor in the same run.
//!
//! The person is played by a real program named like the agent's
//! `--exclusive-app` (a copy of `sleep` under that name), so the whole path
//! is measured: the rule engine's /proc read, the verdict, the agent's
//! action and the engine's. What the engine reports is read with
//! `docker inspect`, back to back, for Gantry and for the floor alike.
//!
//! - Freeze: the program's start until the task's container is `paused`;
//!   floor: `docker pause` of a container by hand, from the call to `paused`.
//! - Resume (`--settle 2`): the program killed until the container runs again;
//!   floor: `docker unpause`, from the call to `running`.
//! - Release (`--yield-action release --yield-grace 10`), a task that ignores
//!   SIGTERM: the program's start until its container is gone and the hub
//!   shows the task queued; floor: `docker stop -t 10` and `docker rm` of the
//!   same kind of container.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_testkit::services::docker_command;
use gantry_testkit::{AgentLaunch, HubChild, Process, Scratch, image};

use crate::hub::{BenchHub, bench_hub, stop_hub};
use crate::record::{machine, ms, percentile, sorted, stamp};
use crate::{built, docker_with_image, say, tail};

/// The exclusive app the bench's person runs (at most 15 characters, the
/// length of a process's comm).
const APP: &str = "yieldbenchgame";
/// `--settle` of the freeze agent, as the target names it.
const SETTLE_SECS: u64 = 2;
/// `--yield-grace` of the release agent, as the target names it.
const GRACE_SECS: u64 = 10;
/// How often the agent's rule engine reads the rules, NVML's process lists
/// included: `TICK` in crates/agent/src/yielding/engine.rs (a test below
/// keeps the two in step).
const RULE_PERIOD_SECS: u64 = 1;
/// A task that ignores SIGTERM, so a release waits out the whole grace.
const STUBBORN: &str = "trap '' TERM; while :; do sleep 1; done";
/// The longest one observed step may take.
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// The options of `bench yield`.
#[derive(Debug)]
pub struct Options {
    /// Freeze and resume rounds, and their floors'.
    pub rounds: usize,
    /// Release rounds, and their floor's (each waits out the grace).
    pub release_rounds: usize,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            rounds: 10,
            release_rounds: 5,
            record: true,
        };
        let mut args = args.iter();
        let count = |flag: &str, value: Option<&String>| -> Result<usize> {
            value
                .and_then(|v| v.parse().ok())
                .filter(|&n: &usize| n > 0)
                .with_context(|| format!("{flag} needs a number of rounds, 1 or more"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--rounds" => options.rounds = count("--rounds", args.next())?,
                "--release-rounds" => {
                    options.release_rounds = count("--release-rounds", args.next())?;
                }
                "--no-record" => options.record = false,
                other => {
                    bail!("unknown option `{other}` for `bench yield`; see `cargo xtask help`")
                }
            }
        }
        Ok(options)
    }
}

/// What one run measured, in milliseconds, each sorted.
#[derive(Debug)]
pub struct Figures {
    freeze_ms: Vec<f64>,
    pause_floor_ms: Vec<f64>,
    resume_ms: Vec<f64>,
    unpause_floor_ms: Vec<f64>,
    release_ms: Vec<f64>,
    stop_floor_ms: Vec<f64>,
    /// How long one `docker inspect` took: the observation's resolution.
    inspect_ms: Vec<f64>,
}

/// Containers removed with `docker rm -f` when the run ends, however it ends.
#[derive(Debug, Default)]
struct Containers(Vec<String>);

impl Drop for Containers {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let _ = docker_command()
            .args(["rm", "-f"])
            .args(&self.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Runs the benchmark.
pub async fn run(options: &Options) -> Result<Figures> {
    let gantry = built("GANTRY_BENCH_CLI")?;
    docker_with_image()?;
    let scratch = Scratch::named("bench-yield")?;
    let dir = scratch.path();
    let BenchHub { hub, admin, nodes } = bench_hub(&gantry, dir, &["freezer", "releaser"]).await?;
    let [freezer, releaser]: [String; 2] = nodes.try_into().expect("two nodes asked for");
    let app = dir.join(APP);
    std::fs::copy("/bin/sleep", &app).context("cannot copy /bin/sleep as the person's program")?;
    let mut containers = Containers::default();
    let bench = Bench {
        hub: &hub,
        admin: format!("Bearer {admin}"),
        client: reqwest::Client::new(),
        dir,
        app: &app,
        inspect_ms: Vec::new(),
    };
    let figures = bench
        .measure(options, &gantry, [freezer, releaser], &mut containers)
        .await;
    drop(containers);
    stop_hub(hub, "bench yield");
    figures
}

/// One run's hub, its admin and the person's program.
struct Bench<'a> {
    hub: &'a HubChild,
    admin: String,
    client: reqwest::Client,
    dir: &'a Path,
    app: &'a Path,
    inspect_ms: Vec<f64>,
}

impl Bench<'_> {
    async fn measure(
        mut self,
        options: &Options,
        gantry: &Path,
        [freezer, releaser]: [String; 2],
        containers: &mut Containers,
    ) -> Result<Figures> {
        let settle = SETTLE_SECS.to_string();
        let flags = ["--exclusive-app", APP, "--settle", &settle];
        let agent = self.agent(gantry, "freezer", freezer, &flags)?;
        say(format!(
            "bench yield: freeze and resume, {} rounds",
            options.rounds
        ));
        let (freeze_ms, resume_ms) = self.freeze_and_resume(options.rounds, containers).await?;
        stop_agent(agent, "freezer");

        let grace = GRACE_SECS.to_string();
        let flags = [
            "--exclusive-app",
            APP,
            "--settle",
            "1",
            "--yield-action",
            "release",
            "--yield-grace",
            &grace,
        ];
        let agent = self.agent(gantry, "releaser", releaser, &flags)?;
        say(format!(
            "bench yield: release with a {GRACE_SECS} s grace, {} rounds",
            options.release_rounds
        ));
        let release_ms = self.release(options.release_rounds, containers).await?;
        stop_agent(agent, "releaser");

        say("bench yield: floors, docker pause / unpause and docker stop -t by hand");
        let (pause_floor_ms, unpause_floor_ms) =
            self.pause_floor(options.rounds, containers).await?;
        let stop_floor_ms = self.stop_floor(options.release_rounds, containers).await?;
        Ok(Figures {
            freeze_ms: sorted(freeze_ms),
            pause_floor_ms: sorted(pause_floor_ms),
            resume_ms: sorted(resume_ms),
            unpause_floor_ms: sorted(unpause_floor_ms),
            release_ms: sorted(release_ms),
            stop_floor_ms: sorted(stop_floor_ms),
            inspect_ms: sorted(self.inspect_ms),
        })
    }

    /// Starts `gantry agent start` for node `name` with `flags`.
    fn agent(&self, gantry: &Path, name: &str, token: String, flags: &[&str]) -> Result<Process> {
        let launch = AgentLaunch {
            gantry: gantry.to_owned(),
            server: self.hub.url(""),
            token,
            name: name.into(),
            host_dir: self.dir.join(name),
            config_home: self.dir.to_owned(),
            docker_host: None,
            args: flags.iter().map(|flag| flag.to_string()).collect(),
        };
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        Process::spawn(
            launch
                .command()
                .env("PULL_ALWAYS", "false")
                .stdout(Stdio::null())
                .stderr(log),
        )
        .with_context(|| format!("cannot start the agent {name}"))
    }

    /// Freezes and resumes one running task `rounds` times.
    async fn freeze_and_resume(
        &mut self,
        rounds: usize,
        containers: &mut Containers,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let id = self.submit(&["sleep", "100000"]).await?;
        let name = format!("gantry-{id}");
        containers.0.push(name.clone());
        self.until_status(&name, "running", "freezer").await?;
        let (mut freeze, mut resume) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Spread over the rule engine's tick, which the loop would
            // otherwise fall into step with.
            tokio::time::sleep(offset(round)).await;
            let started = Instant::now();
            let mut program = self.person()?;
            freeze.push(ms(
                self.until_status(&name, "paused", "freezer").await? - started
            ));
            tokio::time::sleep(offset(round + 3)).await;
            let killed = Instant::now();
            program.kill();
            resume.push(ms(
                self.until_status(&name, "running", "freezer").await? - killed
            ));
        }
        self.cancel(&id).await?;
        Ok((freeze, resume))
    }

    /// Releases one stubborn task `rounds` times, waiting each time until
    /// the node takes it back.
    async fn release(&mut self, rounds: usize, containers: &mut Containers) -> Result<Vec<f64>> {
        let id = self.submit(&["sh", "-c", STUBBORN]).await?;
        let name = format!("gantry-{id}");
        containers.0.push(name.clone());
        let mut released = Vec::new();
        for round in 0..rounds {
            self.until_status(&name, "running", "releaser").await?;
            tokio::time::sleep(offset(round)).await;
            let started = Instant::now();
            let mut program = self.person()?;
            let queued = self.until_queued(&id, &name).await?;
            released.push(ms(queued - started));
            program.kill();
        }
        let task = self.task(&id).await?;
        let yields = task["history"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| {
                t["state"] == "queued"
                    && t["reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("yielding:"))
            });
        if yields.count() < rounds {
            bail!("the task's history holds fewer than {rounds} releases: {task}");
        }
        self.until_status(&name, "running", "releaser").await?;
        self.cancel(&id).await?;
        Ok(released)
    }

    /// `docker pause` and `docker unpause` by hand, from the call to what
    /// `docker inspect` says, `rounds` times.
    async fn pause_floor(
        &mut self,
        rounds: usize,
        containers: &mut Containers,
    ) -> Result<(Vec<f64>, Vec<f64>)> {
        let name = format!("gantry-bench-yield-pause-{}", std::process::id());
        containers.0.push(name.clone());
        docker(&[
            "run",
            "-d",
            "--init",
            "--name",
            &name,
            &image(),
            "sleep",
            "100000",
        ])
        .await?;
        self.until_status(&name, "running", "docker").await?;
        let (mut pause, mut unpause) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            pause.push(self.by_hand("pause", &name, "paused").await?);
            unpause.push(self.by_hand("unpause", &name, "running").await?);
        }
        Ok((pause, unpause))
    }

    /// `docker VERB NAME`, from the call until `docker inspect` says `status`.
    async fn by_hand(&mut self, verb: &str, name: &str, status: &str) -> Result<f64> {
        let started = Instant::now();
        let mut command = tokio::process::Command::from(docker_command());
        command
            .args([verb, name])
            .stdout(Stdio::null())
            .kill_on_drop(true);
        let mut call = command.spawn().context("cannot run docker")?;
        let took = ms(self.until_status(name, status, "docker").await? - started);
        if !call.wait().await?.success() {
            bail!("docker {verb} {name} failed");
        }
        Ok(took)
    }

    /// `docker stop -t GRACE` and `docker rm` of a stubborn container, `rounds` times.
    async fn stop_floor(&mut self, rounds: usize, containers: &mut Containers) -> Result<Vec<f64>> {
        let mut took = Vec::new();
        for round in 0..rounds {
            let name = format!("gantry-bench-yield-stop-{}-{round}", std::process::id());
            containers.0.push(name.clone());
            docker(&[
                "run",
                "-d",
                "--init",
                "--name",
                &name,
                &image(),
                "sh",
                "-c",
                STUBBORN,
            ])
            .await?;
            self.until_status(&name, "running", "docker").await?;
            let started = Instant::now();
            docker(&["stop", "-t", &GRACE_SECS.to_string(), &name]).await?;
            docker(&["rm", &name]).await?;
            took.push(ms(started.elapsed()));
        }
        Ok(took)
    }

    /// Starts the person's program.
    fn person(&self) -> Result<Process> {
        let mut command = std::process::Command::new(self.app);
        command.arg("300").stdin(Stdio::null());
        Process::spawn(&mut command).context("cannot start the person's program")
    }

    /// Submits a job running `command` in the test image; its id.
    async fn submit(&self, command: &[&str]) -> Result<String> {
        let job = serde_json::json!({"image": image(), "pull": "missing", "command": command});
        let task: serde_json::Value = self
            .client
            .post(self.hub.url("/v1/tasks"))
            .header("authorization", &self.admin)
            .json(&job)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(task["id"]
            .as_str()
            .context("the submit returned no id")?
            .to_owned())
    }

    /// The task as the hub shows it.
    async fn task(&self, id: &str) -> Result<serde_json::Value> {
        let response = self.client.get(self.hub.url(&format!("/v1/tasks/{id}")));
        let response = response.header("authorization", &self.admin).send().await?;
        Ok(response.error_for_status()?.json().await?)
    }

    /// Cancels the task and waits until its container is gone.
    async fn cancel(&mut self, id: &str) -> Result<()> {
        self.client
            .post(self.hub.url(&format!("/v1/tasks/{id}/cancel")))
            .header("authorization", &self.admin)
            .send()
            .await?
            .error_for_status()?;
        self.until_queued_or_gone(id, &format!("gantry-{id}"), false)
            .await
            .map(drop)
    }

    /// When the hub shows the task queued and its container is gone.
    async fn until_queued(&mut self, id: &str, name: &str) -> Result<Instant> {
        self.until_queued_or_gone(id, name, true).await
    }

    async fn until_queued_or_gone(
        &mut self,
        id: &str,
        name: &str,
        queued: bool,
    ) -> Result<Instant> {
        let limit = Instant::now() + STEP_LIMIT;
        while Instant::now() < limit {
            let state = self.task(id).await?["state"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if (!queued || state == "queued") && self.status(name).await?.is_none() {
                return Ok(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        bail!(
            "task {id} was not {} within {STEP_LIMIT:?}{}",
            if queued {
                "queued with its container gone"
            } else {
                "gone"
            },
            tail(&self.dir.join("releaser.log"))
        )
    }

    /// When `docker inspect` first says the container `name` is `status`;
    /// `whose` names the log to show when it never does.
    async fn until_status(&mut self, name: &str, status: &str, whose: &str) -> Result<Instant> {
        let limit = Instant::now() + STEP_LIMIT;
        while Instant::now() < limit {
            if self.status(name).await?.as_deref() == Some(status) {
                return Ok(Instant::now());
            }
        }
        bail!(
            "{name} was not {status} within {STEP_LIMIT:?}{}",
            tail(&self.dir.join(format!("{whose}.log")))
        )
    }

    /// The container's status as `docker inspect` says it, `None` when there is none.
    async fn status(&mut self, name: &str) -> Result<Option<String>> {
        let started = Instant::now();
        let mut command = tokio::process::Command::from(docker_command());
        command
            .args(["inspect", "--format", "{{.State.Status}}", name])
            .kill_on_drop(true);
        let output = command
            .output()
            .await
            .context("cannot run docker inspect")?;
        self.inspect_ms.push(ms(started.elapsed()));
        if output.status.success() {
            return Ok(Some(
                String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            ));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No such") {
            return Ok(None);
        }
        bail!("docker inspect {name}: {}", stderr.trim())
    }
}

/// SIGTERM to an agent, as a service manager sends, and up to 30 s.
fn stop_agent(mut agent: Process, name: &str) {
    if agent.terminate(Duration::from_secs(30)).is_none() {
        say(format!(
            "bench yield: the agent {name} ignored SIGTERM for 30 s and was killed"
        ));
    }
}

/// The pause before round `round`'s step: 0.2 s to 1.2 s, spread.
fn offset(round: usize) -> Duration {
    Duration::from_millis(200 + (round as u64 * 379) % 1000)
}

/// Runs `docker ARGS` to its end; fails with its stderr.
async fn docker(args: &[&str]) -> Result<()> {
    let mut command = tokio::process::Command::from(docker_command());
    let output = command.args(args).kill_on_drop(true).output().await?;
    if !output.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The section for docs/benchmarks.md.
pub fn report(figures: &Figures) -> String {
    let row = |what: &str, gantry: &[f64], floor: &[f64], target: &str| {
        let p = |values: &[f64], q: f64| percentile(values, q) / 1000.0;
        format!(
            "| {what} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {target} |\n",
            p(gantry, 50.0),
            p(gantry, 99.0),
            p(floor, 50.0),
            p(floor, 99.0)
        )
    };
    format!(
        "<!-- bench yield: begin (written by `cargo xtask bench yield`; edits inside are overwritten) -->\n\
         ## Yield: stepping aside for the person and coming back, against the Docker floor\n\n\
         Recorded {stamp} on {machine}, Docker engine, hub and agent on the same machine.\n\n\
         | measure | Gantry p50 | Gantry p99 | floor p50 | floor p99 | target |\n|---|---:|---:|---:|---:|---|\n\
         {freeze}{resume}{release}\n\
         The person is a real program named like the agent's `--exclusive-app` (a copy of `sleep`); \
         the task runs in the busybox test image under a release `gantry agent start` with a release hub. \
         **Freeze** ({n} rounds): from spawning the program until `docker inspect` says the task's container \
         is `paused`; floor: `docker pause` of a container by hand, from the call to `paused`. \
         **Resume** ({n} rounds, `--settle {settle}`): from killing the program until the container is \
         `running` again; floor: `docker unpause`, from the call to `running`. \
         **Release** ({r} rounds, `--yield-action release --yield-grace {grace}`): a task that ignores SIGTERM \
         (`{stubborn}`), from spawning the program until its container is gone and the hub shows it `queued` \
         (its history says `yielding: …`); floor: `docker stop -t {grace}` and `docker rm` of the same kind of \
         container. Each step is started at an offset spread over the rule engine's tick. The engine's state \
         is read with `docker inspect` back to back (one call took {i50:.0} ms p50, {i99:.0} ms p99), which \
         bounds the resolution of Gantry's figures and the floors' alike; with {r} rounds p99 is the slowest.\n\n\
         What Gantry detects: the agent reads its rules once every {period} s (`TICK` in \
         crates/agent/src/yielding/engine.rs), so a step waits up to {period} s for the next read: that is most of \
         the freeze time and the part of release and resume above the grace or settle time. GPU programs come \
         from NVML's process lists at the same read, once a second, and NVML lists a process only while it holds \
         the GPU: a GPU program that lives under a second may be missed, as BOINC misses them; one that lives \
         longer is seen within a second of its start.\n\
         <!-- bench yield: end -->\n",
        stamp = stamp(),
        machine = machine(),
        freeze = row(
            "program started → task frozen",
            &figures.freeze_ms,
            &figures.pause_floor_ms,
            "≤ 1 s"
        ),
        resume = row(
            &format!("program gone → task running again (settle {SETTLE_SECS} s)"),
            &figures.resume_ms,
            &figures.unpause_floor_ms,
            &format!("≤ {} s", SETTLE_SECS + 1)
        ),
        release = row(
            &format!("program started → container gone, task queued (grace {GRACE_SECS} s)"),
            &figures.release_ms,
            &figures.stop_floor_ms,
            &format!("≤ {} s", GRACE_SECS + 2)
        ),
        n = figures.freeze_ms.len(),
        r = figures.release_ms.len(),
        settle = SETTLE_SECS,
        grace = GRACE_SECS,
        stubborn = STUBBORN,
        i50 = percentile(&figures.inspect_ms, 50.0),
        i99 = percentile(&figures.inspect_ms, 99.0),
        period = RULE_PERIOD_SECS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_period_said_is_the_agents() {
        let engine = include_str!("../../agent/src/yielding/engine.rs");
        let tick = format!("pub const TICK: Duration = Duration::from_secs({RULE_PERIOD_SECS});");
        assert!(engine.contains(&tick), "engine.rs no longer says `{tick}`");
    }

    #[test]
    fn the_app_name_fits_a_comm() {
        assert!(APP.len() <= 15);
    }

    #[test]
    fn rounds_are_counted() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let options = Options::parse(&args(&["--rounds", "3", "--no-record"])).unwrap();
        assert_eq!(
            (options.rounds, options.release_rounds, options.record),
            (3, 5, false)
        );
        let error = Options::parse(&args(&["--rounds", "0"])).unwrap_err();
        assert!(error.to_string().contains("1 or more"), "{error}");
    }
}
