//! `bench transfer`: moving a 1 GiB file through the hub with the release
//! `gantry` CLI, against `curl` moving the same file against the same hub in
//! the same run, and the memory the CLI and the agent use meanwhile.
//!
//! - Upload: `gantry blob put` against `curl -T` to `PUT /v1/blobs/{sha256}`
//!   (the blob is removed from the hub's folder between rounds).
//! - Download of an output on the hub: `gantry task download` against
//!   `curl` of `GET /v1/blobs/{sha256}`.
//! - Download of an output kept on a node, relayed through the hub from the
//!   agent: `gantry task download` (and `curl` of the same route), against
//!   the same `curl` blob floor; the agent's peak memory while it sends.
//!
//! Two agents run the process executor (no Docker): one uploads outputs to
//! the hub, one keeps them (WITH_LOCAL_STORAGE); each task links its 1 GiB
//! input to its output.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_testkit::{AgentLaunch, HubChild, Process, Scratch, procfs};

use crate::hub::{start_hub, stop_hub};
use crate::record::{machine, stamp};
use crate::{built, hub_admin, say};

/// The file's size.
const SIZE: u64 = 1 << 30;
/// How long one transfer may take.
const LIMIT: Duration = Duration::from_secs(300);

/// The options of `bench transfer`.
#[derive(Debug)]
pub struct Options {
    /// Rounds of each measure; the median is kept.
    pub rounds: usize,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            rounds: 3,
            record: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--rounds" => {
                    options.rounds = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n > 0)
                        .context("--rounds needs a number of rounds, 1 or more")?;
                }
                "--no-record" => options.record = false,
                other => {
                    bail!("unknown option `{other}` for `bench transfer`; see `cargo xtask help`")
                }
            }
        }
        Ok(options)
    }
}

/// One measure: the median time, and the peak memory of what was watched.
#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    took: Duration,
    peak_kb: u64,
}

/// What one run measured.
#[derive(Debug)]
pub struct Figures {
    rounds: usize,
    upload_cli: Measure,
    upload_curl: Measure,
    hub_download_cli: Measure,
    blob_download_curl: Measure,
    node_download_cli: Measure,
    node_download_curl: Measure,
    /// The keeping agent's peak memory while it sent the file, and before.
    agent_peak_kb: u64,
    agent_idle_kb: u64,
}

/// A child's time and its peak resident memory, sampled every 10 ms.
async fn watched(
    mut command: tokio::process::Command,
    also: Option<u32>,
) -> Result<(Measure, u64)> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command.spawn().context("cannot start the transfer")?;
    let pid = child.id().context("the transfer has no pid")?;
    let (mut peak, mut also_peak) = (0u64, 0u64);
    let status = loop {
        if let Some(memory) = procfs::memory(pid) {
            peak = peak.max(memory.peak());
        }
        if let Some(memory) = also.and_then(procfs::memory) {
            also_peak = also_peak.max(memory.rss_kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > LIMIT {
            bail!("a transfer took longer than {} s", LIMIT.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let took = started.elapsed();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use tokio::io::AsyncReadExt;
            let _ = pipe.read_to_string(&mut stderr).await;
        }
        bail!("a transfer failed ({status}): {stderr}");
    }
    Ok((
        Measure {
            took,
            peak_kb: peak,
        },
        also_peak,
    ))
}

/// The median of `rounds` runs of `one`, by time; the highest peak.
async fn median<F, Fut>(rounds: usize, mut one: F) -> Result<(Measure, u64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(Measure, u64)>>,
{
    let mut all = Vec::new();
    for _ in 0..rounds {
        all.push(one().await?);
    }
    let peak = all.iter().map(|(m, _)| m.peak_kb).max().unwrap_or(0);
    let also = all.iter().map(|(_, a)| *a).max().unwrap_or(0);
    all.sort_by_key(|(m, _)| m.took);
    let mut middle = all[all.len() / 2].0;
    middle.peak_kb = peak;
    Ok((middle, also))
}

/// The hub, the two agents and the file, for one run.
struct Rig {
    gantry: PathBuf,
    scratch: Scratch,
    hub: Option<HubChild>,
    admin: String,
    agents: Vec<Process>,
    file: PathBuf,
    sha256: String,
}

impl Rig {
    async fn start() -> Result<Rig> {
        let gantry = built("GANTRY_BENCH_CLI")?;
        let scratch = Scratch::named("bench-transfer")?;
        let data = scratch.path().join("hub");
        let admin = hub_admin(
            &gantry,
            &data,
            &["hub", "token", "create", "--admin", "bench"],
        )
        .await?;
        let hub = start_hub(
            &gantry,
            &data,
            "127.0.0.1:0",
            std::fs::File::create(scratch.path().join("hub.log"))?,
        )?;
        let mut agents = Vec::new();
        for (name, keep) in [("uploader", false), ("keeper", true)] {
            let node = hub_admin(
                &gantry,
                &data,
                &["hub", "node", "add", name, "--label", name],
            )
            .await?;
            let launch = AgentLaunch {
                gantry: gantry.clone(),
                server: hub.url(""),
                token: node,
                name: name.into(),
                host_dir: scratch.path().join(name),
                config_home: scratch.path().to_owned(),
                docker_host: Some("unix:///nonexistent/docker.sock".into()),
                args: Vec::new(),
            };
            agents.push(
                Process::spawn(
                    launch
                        .command()
                        .env("WITH_LOCAL_STORAGE", keep.to_string())
                        .stdout(Stdio::null())
                        .stderr(std::fs::File::create(
                            scratch.path().join(format!("{name}.log")),
                        )?),
                )
                .context("cannot start an agent")?,
            );
        }
        say("bench transfer: writing the 1 GiB file");
        let file = scratch.path().join("data.bin");
        write_file(&file)?;
        let sha256 = sha256sum(&file)?;
        Ok(Rig {
            gantry,
            admin,
            hub: Some(hub),
            agents,
            file,
            sha256,
            scratch,
        })
    }

    fn url(&self, path: &str) -> String {
        self.hub.as_ref().expect("the hub runs").url(path)
    }

    fn cli(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.gantry);
        command
            .args(args)
            .env("GANTRY_SERVER", self.url(""))
            .env("GANTRY_ADMIN_TOKEN", &self.admin)
            .current_dir(self.scratch.path());
        command
    }

    fn curl(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new("curl");
        command
            .args(["-sSf", "-H"])
            .arg(format!("Authorization: Bearer {}", self.admin))
            .args(args)
            .current_dir(self.scratch.path());
        command
    }

    /// Removes the blob from the hub's folder, so the next upload sends it.
    fn forget_blob(&self) {
        let s = &self.sha256;
        let _ = std::fs::remove_file(
            self.scratch
                .path()
                .join("hub/blobs")
                .join(&s[..2])
                .join(&s[2..5])
                .join(s),
        );
    }

    /// Submits the job that links the input to `out/data.bin` on `node`,
    /// waits for it to succeed; its id.
    async fn task_on(&self, node: &str) -> Result<String> {
        let job = self.scratch.path().join(format!("{node}.yaml"));
        std::fs::write(
            &job,
            format!(
                "executor: process\nlabels: [{node}]\ncommand: [sh, -c, 'mkdir -p out && ln in.bin out/data.bin']\n\
                 inputs: {{{}: in.bin}}\noutputs: [out/data.bin]\n",
                self.sha256
            ),
        )?;
        let output = self
            .cli(&["task", "submit", "--wait", job.to_str().unwrap()])
            .output()
            .await?;
        if !output.status.success() {
            bail!(
                "the task on {node} did not succeed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

/// Writes [`SIZE`] bytes that do not compress (xorshift).
fn write_file(path: &Path) -> Result<()> {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..SIZE >> 20 {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        file.write_all(&block)?;
    }
    file.flush()?;
    Ok(())
}

fn sha256sum(path: &Path) -> Result<String> {
    let output = std::process::Command::new("sha256sum").arg(path).output()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
        .context("sha256sum printed nothing")
}

/// Runs the benchmark.
pub async fn run(options: &Options) -> Result<Figures> {
    let mut rig = Rig::start().await?;
    let figures = measure(&rig, options.rounds).await;
    for agent in &mut rig.agents {
        let _ = agent.terminate(Duration::from_secs(30));
    }
    if let Some(hub) = rig.hub.take() {
        stop_hub(hub, "bench transfer");
    }
    figures
}

async fn measure(rig: &Rig, rounds: usize) -> Result<Figures> {
    let sha = rig.sha256.clone();
    let file = rig.file.to_str().unwrap().to_owned();
    say("bench transfer: uploads");
    let (upload_curl, _) = median(rounds, || {
        rig.forget_blob();
        watched(
            rig.curl(&[
                "-T",
                &file,
                "-o",
                "/dev/null",
                &rig.url(&format!("/v1/blobs/{sha}")),
            ]),
            None,
        )
    })
    .await?;
    let (upload_cli, _) = median(rounds, || {
        rig.forget_blob();
        watched(rig.cli(&["blob", "put", &file]), None)
    })
    .await?;

    // The disk holds a few copies at most: the file is on the hub now, and
    // each download is removed once measured.
    let _ = std::fs::remove_file(&rig.file);
    say("bench transfer: an output on the hub");
    let on_hub = rig.task_on("uploader").await?;
    // The uploading agent's copy of the input is not needed again.
    let _ = std::fs::remove_dir_all(rig.scratch.path().join("uploader/storage/blobs"));
    let got = rig.scratch.path().join("got");
    let (hub_download_cli, _) = median(rounds, || {
        let _ = std::fs::remove_dir_all(&got);
        watched(
            rig.cli(&["task", "download", &on_hub, "--out", got.to_str().unwrap()]),
            None,
        )
    })
    .await?;
    let _ = std::fs::remove_dir_all(&got);
    // curl writes to a file on the same disk, as the CLI does.
    let curl_out = rig.scratch.path().join("curl.bin");
    let curl_out = curl_out.to_str().unwrap();
    let (blob_download_curl, _) = median(rounds, || {
        let _ = std::fs::remove_file(curl_out);
        watched(
            rig.curl(&["-o", curl_out, &rig.url(&format!("/v1/blobs/{sha}"))]),
            None,
        )
    })
    .await?;

    let _ = std::fs::remove_file(curl_out);
    say("bench transfer: an output kept on a node");
    let kept = rig.task_on("keeper").await?;
    let keeper = rig.agents[1].pid();
    let agent_idle_kb = procfs::memory(keeper).map_or(0, |m| m.rss_kb);
    let (node_download_cli, agent_cli) = median(rounds, || {
        let _ = std::fs::remove_dir_all(&got);
        watched(
            rig.cli(&["task", "download", &kept, "--out", got.to_str().unwrap()]),
            Some(keeper),
        )
    })
    .await?;
    let route = rig.url(&format!("/v1/tasks/{kept}/outputs/out/data.bin"));
    let _ = std::fs::remove_dir_all(&got);
    let (node_download_curl, agent_curl) = median(rounds, || {
        let _ = std::fs::remove_file(curl_out);
        watched(rig.curl(&["-o", curl_out, &route]), Some(keeper))
    })
    .await?;
    let _ = std::fs::remove_dir_all(&got);
    let _ = std::fs::remove_file(curl_out);
    Ok(Figures {
        rounds,
        upload_cli,
        upload_curl,
        hub_download_cli,
        blob_download_curl,
        node_download_cli,
        node_download_curl,
        agent_peak_kb: agent_cli.max(agent_curl),
        agent_idle_kb,
    })
}

/// The section for docs/benchmarks.md.
pub fn report(figures: &Figures) -> String {
    let mibs = |m: &Measure| SIZE as f64 / (1024.0 * 1024.0) / m.took.as_secs_f64();
    let row = |what: &str, m: &Measure, floor: &Measure, rss: bool| {
        format!(
            "| {what} | {:.2} s ({:.0} MiB/s) | {:.2} s ({:.0} MiB/s) | {:.2}x | {} |\n",
            m.took.as_secs_f64(),
            mibs(m),
            floor.took.as_secs_f64(),
            mibs(floor),
            m.took.as_secs_f64() / floor.took.as_secs_f64(),
            if rss {
                format!("{:.1} MiB", m.peak_kb as f64 / 1024.0)
            } else {
                String::new()
            }
        )
    };
    format!(
        "<!-- bench transfer: begin (written by `cargo xtask bench transfer`; edits inside are overwritten) -->\n\
         ## Transfer: a 1 GiB file through the hub, against curl\n\n\
         Recorded {stamp} on {machine}, hub, agents and clients on the same machine (loopback).\n\n\
         | measure | Gantry | curl floor | ratio | CLI peak RSS |\n|---|---:|---:|---:|---:|\n\
         {up}{hub}{node}{node_curl}\
         | agent sending a node-kept output: RSS peak (before) | {agent:.1} MiB ({idle:.1} MiB) | | | |\n\n\
         Median of {rounds} rounds each, release build. Upload: `gantry blob put` (hashes the file, asks the hub, \
         streams it) against `curl -T` to `PUT /v1/blobs/{{sha256}}`; the blob is removed from the hub between \
         rounds. Downloads: `gantry task download` (streams to a temporary file while hashing it, \
         fsyncs, verifies the sha256, renames) against `curl -o FILE` (same disk, no hash, no fsync) of \
         `GET /v1/blobs/{{sha256}}`, served from the hub's disk; the node-kept output is asked of the agent, \
         which streams it to the hub, which pipes it to the download without storing it. \
         RSS: VmRSS/VmHWM from /proc every 10 ms.\n\
         <!-- bench transfer: end -->\n",
        stamp = stamp(),
        machine = machine(),
        up = row(
            "upload (`blob put` / `curl -T`)",
            &figures.upload_cli,
            &figures.upload_curl,
            true
        ),
        hub = row(
            "download, output on the hub (`task download` / `curl` GET blob)",
            &figures.hub_download_cli,
            &figures.blob_download_curl,
            true
        ),
        node = row(
            "download, output kept on a node, relayed (`task download` / `curl` GET blob)",
            &figures.node_download_cli,
            &figures.blob_download_curl,
            true
        ),
        node_curl = row(
            "download, output kept on a node, relayed, by `curl` / `curl` GET blob",
            &figures.node_download_curl,
            &figures.blob_download_curl,
            false
        ),
        agent = figures.agent_peak_kb as f64 / 1024.0,
        idle = figures.agent_idle_kb as f64 / 1024.0,
        rounds = figures.rounds,
    )
}
