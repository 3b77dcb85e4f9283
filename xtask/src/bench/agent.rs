//! `cargo xtask bench agent`: the agent against the raw Docker floor, in one
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
use tokio::io::AsyncReadExt;

use super::hub::{HubProcess, Scratch, build, gantry_says};
use super::{machine, ms, percentile, proc_field};
use crate::exec::say;
use crate::services::{DockerEngine, TEST_IMAGE};

/// Dispatches measured, after one to warm up.
const DISPATCHES: usize = 10;
/// The log flood: `seq 1 1000000`.
const LINES: u64 = 1_000_000;
/// The longest one measured step may take.
const STEP_LIMIT: Duration = Duration::from_secs(300);

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

/// Runs the benchmark; `idle_secs` is how long the quiet minute lasts.
pub async fn run(idle_secs: u64) -> Result<Figures> {
    let gantry = build().await?;
    let docker = tokio::task::spawn_blocking(|| {
        let engine = DockerEngine::start()?;
        engine.build_test_image()?;
        anyhow::Ok(engine)
    })
    .await??;
    let scratch = Scratch::named("agent")?;
    let data = scratch.0.join("hub");
    let admin = gantry_says(
        &gantry,
        &["hub", "token", "create", "--admin", "bench"],
        &data,
    )
    .await?;
    let node = gantry_says(&gantry, &["hub", "node", "add", "bench"], &data).await?;
    let hub = HubProcess::start(&gantry, &data, &scratch.0.join("hub.log")).await?;
    let host_dir = scratch.0.join("agent");
    let agent_log = std::fs::File::create(scratch.0.join("agent.log"))?;
    let mut agent = tokio::process::Command::new(&gantry)
        .args([
            "agent",
            "start",
            "--server",
            &hub.url(""),
            "--name",
            "bench",
            "--host-dir",
        ])
        .arg(&host_dir)
        .env("GANTRY_TOKEN", &node)
        .env("DOCKER_HOST", docker.host())
        .env("PULL_ALWAYS", "false")
        .env("XDG_CONFIG_HOME", &scratch.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(agent_log)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the agent")?;
    let agent_pid = agent.id().context("the agent exited at once")?;
    let client = reqwest::Client::new();
    let admin = format!("Bearer {admin}");

    let figures = async {
        say("bench agent: dispatch, submit to first output byte");
        let mut dispatch_ms = Vec::new();
        for round in 0..=DISPATCHES {
            let job = serde_json::json!({"image": TEST_IMAGE, "pull": "missing", "command": ["echo", "ready"]});
            let (took, bytes) = submit_and_follow(&client, &hub, &admin, &job, true).await?;
            if bytes == 0 {
                bail!("a dispatched task wrote nothing; see {}", scratch.0.join("agent.log").display());
            }
            if round > 0 {
                dispatch_ms.push(ms(took));
            }
        }
        say("bench agent: floor, docker run to first output byte");
        let mut docker_run_ms = Vec::new();
        for round in 0..=DISPATCHES {
            let took = docker_first_byte(&docker, &["run", "--rm", TEST_IMAGE, "echo", "ready"]).await?;
            if round > 0 {
                docker_run_ms.push(ms(took));
            }
        }
        say(format!("bench agent: {LINES} lines into the hub"));
        let expected = seq_bytes(LINES);
        let job = serde_json::json!({"image": TEST_IMAGE, "pull": "missing", "command": ["seq", "1", LINES.to_string()]});
        let (flood, flood_bytes) = submit_and_follow(&client, &hub, &admin, &job, false).await?;
        if flood_bytes != expected {
            bail!("the hub holds {flood_bytes} bytes of the flood, not {expected}");
        }
        say("bench agent: floor, docker run and docker logs of the same output");
        let flood_floor = docker_flood(&docker, expected).await?;

        say(format!("bench agent: the idle agent over {idle_secs} s"));
        let stat = format!("/proc/{agent_pid}/stat");
        let before = cpu_ticks(&stat)?;
        tokio::time::sleep(Duration::from_secs(idle_secs)).await;
        let after = cpu_ticks(&stat)?;
        let status = std::path::PathBuf::from(format!("/proc/{agent_pid}/status"));
        // Linux counts CPU time in ticks of 1/100 s (USER_HZ) for /proc.
        let idle_cpu_percent = (after - before) as f64 / 100.0 / idle_secs as f64 * 100.0;
        Ok(Figures {
            dispatch_ms: sorted(dispatch_ms),
            docker_run_ms: sorted(docker_run_ms),
            flood,
            flood_floor,
            flood_bytes,
            idle_secs,
            idle_rss_kb: proc_field(&status, "VmRSS").unwrap_or(0),
            idle_peak_kb: proc_field(&status, "VmHWM").unwrap_or(0),
            idle_cpu_percent,
        })
    }
    .await;
    let _ = tokio::process::Command::new("kill")
        .arg(agent_pid.to_string())
        .status()
        .await;
    let _ = tokio::time::timeout(Duration::from_secs(30), agent.wait()).await;
    hub.stop().await?;
    figures
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

/// Submits `job`, then follows its log: returns the time from the submit's
/// answer to the first byte (`first`) or to the end of the log, and the bytes seen.
async fn submit_and_follow(
    client: &reqwest::Client,
    hub: &HubProcess,
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
async fn docker_first_byte(docker: &DockerEngine, args: &[&str]) -> Result<Duration> {
    let mut command = tokio::process::Command::from(docker.docker());
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
async fn docker_flood(docker: &DockerEngine, expected: u64) -> Result<Duration> {
    let output = |args: Vec<String>| {
        let mut command = tokio::process::Command::from(docker.docker());
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
        TEST_IMAGE.into(),
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

/// utime + stime of a process, in ticks.
fn cpu_ticks(stat: &str) -> Result<u64> {
    let text = std::fs::read_to_string(stat).with_context(|| format!("cannot read {stat}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name and state.
    Ok(field(11) + field(12))
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
        stamp = super::stamp(),
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
