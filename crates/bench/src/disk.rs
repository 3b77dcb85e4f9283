//! `bench disk`: what the disk budget adds to a task's start, against a
//! `docker run` of the same image, in the same run.
//!
//! The agent's check before a pull (`task/prepare_disk.rs`) is: the image's
//! size estimated from its registry's manifest, the disk ledger noted, and
//! `disk::room::make_room` (stock taken of the host dir and the engine's
//! images, the disk measured, what is over evicted). This runs exactly
//! those calls, from the agent's library, on a host dir filled like a
//! node's after weeks (task folders with logs, blobs, kept results) and
//! the real engine and registry:
//!
//! - **check**: nothing to evict (the budget leaves room);
//! - **check + eviction**: the budget forces one image Gantry pulled (the
//!   least recently used) to go, `docker rmi` included;
//! - **floor**: `docker run --rm IMAGE true` of the image pulled, present.
//!
//! The ratio of each to the floor is the figure; the target is under 5 %.
//!
//! With `--soak [--tasks N]`, the soak instead ([`crate::disk_soak`]).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_agent::disk::ledger::Ledger;
use gantry_agent::disk::{DiskBudget, Sources, estimate, room};
use gantry_agent::docker::{Engine, RegistryLogin};
use gantry_agent::host::HostDir;
use gantry_testkit::services::docker_command;
use gantry_testkit::sized_images;

use crate::record::{machine, ms, percentile, sorted, stamp};
use crate::{docker_with_image, say};

/// Finished task folders in the host dir, each with a log.
const TASK_FOLDERS: usize = 200;
/// Blobs in the store.
const BLOBS: usize = 300;
/// Kept results, each linking one blob.
const RESULTS: usize = 20;

/// The options of `bench disk`.
#[derive(Debug)]
pub struct Options {
    /// Rounds of each measure.
    pub rounds: usize,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
    /// The soak instead (`--soak`), with this many tasks (`--tasks`).
    pub soak: Option<usize>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            rounds: 10,
            record: true,
            soak: None,
        };
        let mut tasks = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--rounds" => {
                    options.rounds = args
                        .next()
                        .and_then(|v| v.parse().ok())
                        .filter(|&n: &usize| n > 0)
                        .context("--rounds needs a number of rounds, 1 or more")?;
                }
                "--no-record" => options.record = false,
                "--soak" => options.soak = Some(crate::disk_soak::TASKS),
                "--tasks" => {
                    tasks = Some(
                        args.next()
                            .and_then(|v| v.parse().ok())
                            .filter(|&n: &usize| n > 0)
                            .context("--tasks needs a number of tasks, 1 or more")?,
                    );
                }
                other => bail!("unknown option `{other}` for `bench disk`; see `cargo xtask help`"),
            }
        }
        match (tasks, &mut options.soak) {
            (Some(n), Some(soak)) => *soak = n,
            (Some(_), None) => bail!("--tasks is the soak's: write `bench disk --soak --tasks N`"),
            _ => {}
        }
        Ok(options)
    }
}

/// What was measured, in ms.
#[derive(Debug)]
pub struct Figures {
    check: Vec<f64>,
    evict: Vec<f64>,
    floor: Vec<f64>,
    rounds: usize,
    items: usize,
}

/// A host dir filled like a node's after weeks of tasks.
fn fill(host: &HostDir) -> Result<()> {
    for i in 0..TASK_FOLDERS {
        let logs = host.task_dir(&format!("bench-task-{i}")).join("logs");
        std::fs::create_dir_all(&logs)?;
        std::fs::write(logs.join("log_1.txt"), vec![b'x'; 64 * 1024])?;
    }
    for i in 0..BLOBS {
        let sha = format!("{i:064x}");
        let path = host.blob(&sha);
        std::fs::create_dir_all(path.parent().expect("blobs have folders"))?;
        std::fs::write(&path, vec![b'b'; 16 * 1024])?;
        if i < RESULTS {
            let result = host.results(&format!("bench-result-{i}"));
            std::fs::create_dir_all(&result)?;
            std::fs::hard_link(&path, result.join("out.bin"))?;
        }
    }
    Ok(())
}

/// The agent's check before a pull of `image`, as `task/prepare_disk.rs`
/// runs it: the estimate from the registry while the host dir and the
/// engine are read, the ledger noted, room made.
async fn check(
    sources: Sources<'_>,
    budget: &DiskBudget,
    image: &str,
    login: &RegistryLogin,
) -> Result<usize> {
    let (needs, standing) = tokio::join!(
        estimate::image_needs(image, std::slice::from_ref(login)),
        room::standing(sources, budget)
    );
    let needs = needs.context("the registry gave no size")?;
    let now = gantry_agent::clock::now_ms();
    Ledger::update(sources.host, |l| l.used(image, false, now))?;
    let evicted = room::make_room_from(sources, &standing, needs)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(evicted.len())
}

fn timed_run(image: &str) -> Result<f64> {
    let started = Instant::now();
    let status = docker_command()
        .args(["run", "--rm", image, "true"])
        .status()
        .context("cannot run docker")?;
    let elapsed = ms(started.elapsed());
    if !status.success() {
        bail!("docker run {image} failed");
    }
    Ok(elapsed)
}

/// Measures what `options` ask; the section for docs/benchmarks.md.
pub async fn measure(options: &Options) -> Result<String> {
    match options.soak {
        Some(tasks) => Ok(crate::disk_soak::report(
            &crate::disk_soak::run(tasks).await?,
        )),
        None => Ok(report(&run(options).await?)),
    }
}

pub async fn run(options: &Options) -> Result<Figures> {
    docker_with_image()?;
    let (registry, login) = crate::disk_soak::registry()?;
    say("bench disk: building and pushing two images");
    let (evicted_image, pulled_image) = {
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || {
            (
                sized_images::build_and_push(&registry, "bench-old", 2),
                sized_images::build_and_push(&registry, "bench-new", 4),
            )
        })
        .await?
    };
    let scratch = tempfile::tempdir()?;
    let host = HostDir::open(scratch.path())?;
    fill(&host)?;
    let engine = Engine::connect(
        std::env::var("DOCKER_HOST").ok().as_deref(),
        Duration::from_secs(60),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sources = Sources {
        host: &host,
        engine: Some(&engine),
        hub: None,
        evict_unsynced_results: false,
    };
    let roomy = DiskBudget {
        max_bytes: None,
        max_percent: None,
        min_free_bytes: None,
    };
    let mut figures = Figures {
        check: Vec::new(),
        evict: Vec::new(),
        floor: Vec::new(),
        rounds: options.rounds,
        items: 0,
    };
    for round in 0..options.rounds {
        say(format!("bench disk: round {}", round + 1));
        // Untimed: the old image pulled by Gantry, least recently used; the new one absent.
        sized_images::pull(&registry, &evicted_image.reference);
        sized_images::remove(&pulled_image.reference);
        Ledger::update(&host, |l| {
            l.images.clear();
            l.used(&evicted_image.reference, false, 0);
        })?;
        let started = Instant::now();
        check(sources, &roomy, &pulled_image.reference, &login).await?;
        figures.check.push(ms(started.elapsed()));

        // A budget the new image fits in only once the old one went.
        let standing = room::standing(sources, &roomy).await;
        figures.items = standing.inventory.items.len();
        let needs = estimate::image_needs(&pulled_image.reference, std::slice::from_ref(&login))
            .await
            .context("the registry gave no size")?;
        let tight = DiskBudget {
            max_bytes: Some(standing.figures.used_by_gantry + needs - evicted_image.size / 2),
            ..roomy
        };
        let started = Instant::now();
        let evicted = check(sources, &tight, &pulled_image.reference, &login).await?;
        figures.evict.push(ms(started.elapsed()));
        if evicted == 0 || sized_images::present(&evicted_image.reference) {
            bail!("the tight budget evicted nothing");
        }

        sized_images::pull(&registry, &pulled_image.reference);
        figures.floor.push(timed_run(&pulled_image.reference)?);
    }
    sized_images::remove(&pulled_image.reference);
    sized_images::remove(&evicted_image.reference);
    Ok(figures)
}

pub fn report(figures: &Figures) -> String {
    let check = sorted(figures.check.clone());
    let evict = sorted(figures.evict.clone());
    let floor = sorted(figures.floor.clone());
    let p50 = |v: &[f64]| percentile(v, 50.0);
    let ratio = |v: &[f64]| 100.0 * p50(v) / p50(&floor);
    format!(
        "<!-- bench disk: begin (written by `cargo xtask bench disk`; edits inside are overwritten) -->\n\
         ## Disk budget: the check before a pull, against a `docker run` of the image\n\n\
         Recorded {stamp} on {machine}, Docker engine and registry (`docker-registry`, htpasswd login) on the same machine.\n\n\
         | measure | p50 | p99 | share of the floor's p50 | target |\n|---|---:|---:|---:|---|\n\
         | check: estimate from the registry, ledger, stock-taking, nothing to evict | {c50:.1} ms | {c99:.1} ms | {cr:.1} % | under 5 % |\n\
         | check + eviction of one image (`docker rmi`) | {e50:.1} ms | {e99:.1} ms | {er:.1} % | under 5 % |\n\
         | floor: `docker run --rm IMAGE true`, image present | {f50:.1} ms | {f99:.1} ms | | |\n\n\
         {rounds} rounds. The host dir holds what a node keeps after weeks ({items} things counted: \
         {tasks} finished task folders with a 64 KiB log each, {blobs} blobs, {results} kept results); \
         the image is the busybox test image with 4 MB on top, in the registry. The check runs the agent's \
         own calls (`disk::estimate::image_needs` while `disk::room::standing` reads the host dir and the engine, \
         the ledger, `disk::room::make_room_from`) as `task/prepare_disk.rs` does before a pull, in the bench's dev build; the eviction removes the least recently used image Gantry pulled. An eviction adds what `docker rmi` costs the engine, and happens only at a start the budget is reached at; a start with room pays the check alone.\n\
         <!-- bench disk: end -->\n",
        stamp = stamp(),
        machine = machine(),
        c50 = p50(&check),
        c99 = percentile(&check, 99.0),
        cr = ratio(&check),
        e50 = p50(&evict),
        e99 = percentile(&evict, 99.0),
        er = ratio(&evict),
        f50 = p50(&floor),
        f99 = percentile(&floor, 99.0),
        rounds = figures.rounds,
        items = figures.items,
        tasks = TASK_FOLDERS,
        blobs = BLOBS,
        results = RESULTS,
    )
}
