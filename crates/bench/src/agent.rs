//! `bench agent`: the agent against the raw Docker floor, in one
//! run on one machine.
//!
//! - Dispatch: from a submit's answer to the task's first output byte at the
//!   hub, against `docker run` of the same image to its first output byte.
//! - Log throughput: a million lines from a container into the hub, against
//!   `docker run` plus `docker logs` of the same output.
//! - Idle: the agent's resident memory and CPU over a quiet minute.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use gantry_testkit::services::docker_command;
use gantry_testkit::{AgentLaunch, HubChild, Process, Scratch, image, procfs};
use tokio::io::AsyncReadExt;

use crate::hub::{BenchHub, bench_hub, stop_hub};
use crate::record::{machine, ms, percentile, sorted, stamp};
use crate::{built, docker_with_image, say};

/// Dispatches measured, after one to warm up.
const DISPATCHES: usize = 10;
/// The log flood: `seq 1 1000000`.
const LINES: u64 = 1_000_000;
/// The longest one measured step may take.
const STEP_LIMIT: Duration = Duration::from_secs(300);

/// The options of `bench agent`.
#[derive(Debug)]
pub struct Options {
    /// How long the quiet minute lasts, in seconds.
    pub idle_secs: u64,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            idle_secs: 60,
            record: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--idle" => {
                    options.idle_secs = args
                        .next()
                        .context("--idle needs seconds")?
                        .parse()
                        .context("--idle needs seconds")?;
                }
                "--no-record" => options.record = false,
                other => {
                    bail!("unknown option `{other}` for `bench agent`; see `cargo xtask help`")
                }
            }
        }
        Ok(options)
    }
}

/// What one run measured.
#[derive(Debug)]
pub struct Figures {
    dispatch_ms: Vec<f64>,
    docker_run_ms: Vec<f64>,
    flood: Duration,
    flood_floor: Duration,
    flood_bytes: u64,
    idle_secs: u64,
    idle_rss_kb: u64,
    idle_peak_kb: u64,
    idle_cpu_percent: f64,
}

/// The bytes `seq 1 N` prints: each number's digits and a newline.
fn seq_bytes(n: u64) -> u64 {
    (1..=n).map(|i| i.to_string().len() as u64 + 1).sum()
}

/// Runs the benchmark.
pub async fn run(options: &Options) -> Result<Figures> {
    let gantry = built("GANTRY_BENCH_CLI")?;
    docker_with_image()?;
    let scratch = Scratch::named("bench-agent")?;
    let BenchHub {
        hub,
        admin,
        mut nodes,
    } = bench_hub(&gantry, scratch.path(), &["bench"]).await?;
    let node = nodes.remove(0);
    let launch = AgentLaunch {
        gantry: gantry.clone(),
        server: hub.url(""),
        token: node,
        name: "bench".into(),
        host_dir: scratch.path().join("agent"),
        config_home: scratch.path().to_owned(),
        docker_host: None,
        args: Vec::new(),
    };
    let agent_log = std::fs::File::create(scratch.path().join("agent.log"))?;
    let mut agent = Process::spawn(
        launch
            .command()
            .env("PULL_ALWAYS", "false")
            .stdout(Stdio::null())
            .stderr(agent_log),
    )
    .context("cannot start the agent")?;
    let admin = format!("Bearer {admin}");
    let figures = measure(&hub, &admin, agent.pid(), options.idle_secs, scratch.path()).await;
    let _ = agent.terminate(Duration::from_secs(30));
    stop_hub(hub, "bench agent");
    figures
}

/// The three measures, against `hub` and the agent `agent_pid`.
async fn measure(
    hub: &HubChild,
    admin: &str,
    agent_pid: u32,
    idle_secs: u64,
    scratch: &std::path::Path,
) -> Result<Figures> {
    let client = reqwest::Client::new();
    let image = image();
    say("bench agent: dispatch, submit to first output byte");
    let mut dispatch_ms = Vec::new();
    for round in 0..=DISPATCHES {
        let job =
            serde_json::json!({"image": image, "pull": "missing", "command": ["echo", "ready"]});
        let (took, bytes) = submit_and_follow(&client, hub, admin, &job, true).await?;
        if bytes == 0 {
            bail!(
                "a dispatched task wrote nothing; see {}",
                scratch.join("agent.log").display()
            );
        }
        if round > 0 {
            dispatch_ms.push(ms(took));
        }
    }
    say("bench agent: floor, docker run to first output byte");
    let mut docker_run_ms = Vec::new();
    for round in 0..=DISPATCHES {
        let took = docker_first_byte(&["run", "--rm", &image, "echo", "ready"]).await?;
        if round > 0 {
            docker_run_ms.push(ms(took));
        }
    }
    say(format!("bench agent: {LINES} lines into the hub"));
    let expected = seq_bytes(LINES);
    let job = serde_json::json!({"image": image, "pull": "missing", "command": ["seq", "1", LINES.to_string()]});
    let (flood, flood_bytes) = submit_and_follow(&client, hub, admin, &job, false).await?;
    if flood_bytes != expected {
        bail!("the hub holds {flood_bytes} bytes of the flood, not {expected}");
    }
    say("bench agent: floor, docker run and docker logs of the same output");
    let flood_floor = docker_flood(&image, expected).await?;

    say(format!("bench agent: the idle agent over {idle_secs} s"));
    let ticks = || procfs::read_stat(agent_pid).map(|stat| stat.ticks);
    let before = ticks().context("the agent exited")?;
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let after = ticks().context("the agent exited")?;
    let memory = procfs::memory(agent_pid).unwrap_or_default();
    let idle_cpu_percent =
        (after - before) as f64 / procfs::TICKS_PER_SECOND / idle_secs as f64 * 100.0;
    Ok(Figures {
        dispatch_ms: sorted(dispatch_ms),
        docker_run_ms: sorted(docker_run_ms),
        flood,
        flood_floor,
        flood_bytes,
        idle_secs,
        idle_rss_kb: memory.rss_kb,
        idle_peak_kb: memory.hwm_kb,
        idle_cpu_percent,
    })
}

/// Submits `job`, then follows its log: returns the time from the submit's
/// answer to the first byte (`first`) or to the end of the log, and the bytes seen.
async fn submit_and_follow(
    client: &reqwest::Client,
    hub: &HubChild,
    admin: &str,
    job: &serde_json::Value,
    first: bool,
) -> Result<(Duration, u64)> {
    let submitted: serde_json::Value = client
        .post(hub.url("/v1/tasks"))
        .header("authorization", admin)
        .json(job)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let started = Instant::now();
    let id = submitted["id"]
        .as_str()
        .context("the submit returned no id")?
        .to_owned();
    let follow = client
        .get(hub.url(&format!("/v1/tasks/{id}/log?follow=true")))
        .header("authorization", admin)
        .send()
        .await?
        .error_for_status()?;
    let mut stream = follow.bytes_stream();
    let mut bytes = 0u64;
    let mut first_at = None;
    let read = async {
        while let Some(chunk) = stream.next().await {
            bytes += chunk?.len() as u64;
            first_at.get_or_insert_with(|| started.elapsed());
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(STEP_LIMIT, read)
        .await
        .context("the task did not end in time")??;
    let took = if first {
        first_at.unwrap_or_else(|| started.elapsed())
    } else {
        started.elapsed()
    };
    Ok((took, bytes))
}

/// Runs `docker ARGS` and returns the time to its first byte on stdout.
async fn docker_first_byte(args: &[&str]) -> Result<Duration> {
    let mut command = tokio::process::Command::from(docker_command());
    command.args(args).stdout(Stdio::piped()).kill_on_drop(true);
    let started = Instant::now();
    let mut child = command.spawn().context("cannot run docker")?;
    let mut stdout = child.stdout.take().context("no stdout")?;
    let mut byte = [0u8; 1];
    stdout
        .read_exact(&mut byte)
        .await
        .context("docker run printed nothing")?;
    let took = started.elapsed();
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).await?;
    child.wait().await?;
    Ok(took)
}

/// `docker run -d` of the flood, `docker wait`, then `docker logs`, timed
/// together: the engine's own way to get the same output out.
async fn docker_flood(image: &str, expected: u64) -> Result<Duration> {
    let output = |args: Vec<String>| {
        let mut command = tokio::process::Command::from(docker_command());
        command
            .args(args)
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        async move { command.output().await.context("cannot run docker") }
    };
    let started = Instant::now();
    let run = output(vec![
        "run".into(),
        "-d".into(),
        image.into(),
        "seq".into(),
        "1".into(),
        LINES.to_string(),
    ])
    .await?;
    let id = String::from_utf8_lossy(&run.stdout).trim().to_owned();
    output(vec!["wait".into(), id.clone()]).await?;
    let logs = output(vec!["logs".into(), id.clone()]).await?;
    let took = started.elapsed();
    output(vec!["rm".into(), "-f".into(), id]).await?;
    if logs.stdout.len() as u64 != expected {
        bail!(
            "docker logs gave {} bytes, not {expected}",
            logs.stdout.len()
        );
    }
    Ok(took)
}

/// The section for docs/benchmarks.md.
pub fn report(figures: &Figures) -> String {
    let p = |values: &[f64], q: f64| percentile(values, q);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let mbps = |bytes: u64, took: Duration| bytes as f64 / (1024.0 * 1024.0) / took.as_secs_f64();
    format!(
        "<!-- bench agent: begin (written by `cargo xtask bench agent`; edits inside are overwritten) -->\n\
         ## Agent: dispatch, log throughput and idle cost against the raw Docker floor\n\n\
         Recorded {stamp} on {machine}, Docker engine and hub on the same machine.\n\n\
         | measure | Gantry | raw Docker floor | ratio |\n|---|---:|---:|---:|\n\
         | dispatch p50 (submit → first output byte at the hub / `docker run` → first byte) | {d50:.1} ms | {f50:.1} ms | {r50:.2}x |\n\
         | dispatch p99 | {d99:.1} ms | {f99:.1} ms | {r99:.2}x |\n\
         | {lines} lines ({mib:.1} MiB) into the hub / `docker run` + `docker logs` | {flood:.2} s ({gm:.1} MiB/s) | {floor:.2} s ({fm:.1} MiB/s) | {rf:.2}x |\n\
         | idle agent over {idle} s: RSS (peak) | {rss:.1} MiB ({peak:.1} MiB) | | |\n\
         | idle agent over {idle} s: CPU | {cpu:.2} % of one core | | |\n\n\
         {n} dispatches after one to warm up, one at a time, each `echo ready` in the FROM-scratch busybox image \
         with `pull: missing`; the floor is `docker run --rm` of the same image and command from the docker CLI. \
         The Gantry figure includes the hub queue, the long-poll, container create/attach/start, the spool and the \
         shipper's first append. The flood is `seq 1 {lines}`, timed from the submit's answer to the end of the \
         followed log at the hub, every byte checked. Idle: the agent's VmRSS/VmHWM and utime+stime from /proc \
         while it heartbeats and long-polls with nothing to do.\n\
         <!-- bench agent: end -->\n",
        stamp = stamp(),
        machine = machine(),
        d50 = p(&figures.dispatch_ms, 50.0),
        f50 = p(&figures.docker_run_ms, 50.0),
        r50 = ratio(
            p(&figures.dispatch_ms, 50.0),
            p(&figures.docker_run_ms, 50.0)
        ),
        d99 = p(&figures.dispatch_ms, 99.0),
        f99 = p(&figures.docker_run_ms, 99.0),
        r99 = ratio(
            p(&figures.dispatch_ms, 99.0),
            p(&figures.docker_run_ms, 99.0)
        ),
        lines = LINES,
        mib = figures.flood_bytes as f64 / (1024.0 * 1024.0),
        flood = figures.flood.as_secs_f64(),
        gm = mbps(figures.flood_bytes, figures.flood),
        floor = figures.flood_floor.as_secs_f64(),
        fm = mbps(figures.flood_bytes, figures.flood_floor),
        rf = ratio(
            figures.flood.as_secs_f64(),
            figures.flood_floor.as_secs_f64()
        ),
        idle = figures.idle_secs,
        rss = figures.idle_rss_kb as f64 / 1024.0,
        peak = figures.idle_peak_kb as f64 / 1024.0,
        cpu = figures.idle_cpu_percent,
        n = DISPATCHES,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_sizes() {
        assert_eq!(seq_bytes(10), 21);
        assert_eq!(seq_bytes(1_000_000), 6_888_896);
    }
}
