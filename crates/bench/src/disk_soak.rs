//! `bench disk --soak`: "a machine left running tasks for weeks never fills
//! its disk", as a figure. The release `gantry` as a person runs it (a hub
//! and an agent, child processes) with a tight disk budget runs many tasks
//! one after another, cycling over images of distinct sizes built here and
//! pushed to the registry; each task keeps a result (WITH_LOCAL_STORAGE,
//! evictable: `--disk-evict-unsynced-results`) and leaves its folder. After
//! each task's start (room made, image pulled) and at its end, what Gantry
//! holds is taken by the agent's own stock-taking and the disk's free space
//! measured ([`gantry_testkit::disk_soak`], which the CI test shares).
//!
//! It reports the most Gantry held against its budget, the disk's least free
//! space, the evictions by kind and the tasks that failed (none may fail
//! for room).

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_agent::disk::{DiskBudget, amount, estimate};
use gantry_agent::docker::{Engine, RegistryLogin};
use gantry_client::{HubClient, Token};
use gantry_testkit::disk_soak::{self, Plan, Tally};
use gantry_testkit::{AgentLaunch, Process, Scratch, sized_images};

use crate::hub::{BenchHub, bench_hub, stop_hub};
use crate::record::{machine, stamp};
use crate::{built, docker_with_image, say};

/// Tasks run when `--tasks` does not say.
pub const TASKS: usize = 60;
/// The soak's budget: 300 MB.
const BUDGET_BYTES: u64 = 300_000_000;
/// Its images: this many, of 20, 25, … MB on top of the test image.
const IMAGES: usize = 8;
const FIRST_MB: usize = 20;
const STEP_MB: usize = 5;
/// Each task's result.
const RESULT_BYTES: u64 = 1_000_000;

/// What the soak measured.
#[derive(Debug)]
pub struct Figures {
    tally: Tally,
    images: Vec<(String, u64, u64)>,
    took: Duration,
    /// The build of `gantry` run: `release`, or `dev` when run by hand with a dev binary.
    build: &'static str,
}

/// The registry `cargo xtask bench disk` started, and its login.
pub fn registry() -> Result<((String, String, String), RegistryLogin)> {
    let Some(registry) = std::env::var("GANTRY_TEST_REGISTRY")
        .ok()
        .zip(std::env::var("GANTRY_TEST_REGISTRY_USER").ok())
        .zip(std::env::var("GANTRY_TEST_REGISTRY_PASSWORD").ok())
        .map(|((a, u), p)| (a, u, p))
    else {
        bail!(
            "GANTRY_TEST_REGISTRY* are not set: run the benchmark with `cargo xtask bench disk`, which starts a registry"
        );
    };
    let login = RegistryLogin {
        registry: registry.0.clone(),
        login: registry.1.clone(),
        password: registry.2.clone(),
    };
    Ok((registry, login))
}

pub async fn run(tasks: usize) -> Result<Figures> {
    let gantry = built("GANTRY_BENCH_CLI")?;
    docker_with_image()?;
    let (registry, login) = registry()?;
    say(format!(
        "bench disk --soak: building and pushing {IMAGES} images"
    ));
    let pushed = {
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || disk_soak::images(&registry, IMAGES, FIRST_MB, STEP_MB))
            .await?
    };
    let mut images = Vec::new();
    for image in &pushed {
        let needs = estimate::image_needs(&image.reference, std::slice::from_ref(&login))
            .await
            .context("the registry gave no size")?;
        images.push((image.reference.clone(), image.size, needs));
    }
    let scratch = Scratch::named("bench-disk-soak")?;
    let BenchHub {
        hub,
        admin,
        mut nodes,
    } = bench_hub(&gantry, scratch.path(), &["soak"]).await?;
    let node = nodes.remove(0);
    let launch = AgentLaunch {
        gantry: gantry.clone(),
        server: hub.url(""),
        token: node,
        name: "soak".into(),
        host_dir: scratch.path().join("agent"),
        config_home: scratch.path().to_owned(),
        docker_host: None,
        args: [
            "--disk-max-gb",
            &(BUDGET_BYTES as f64 / 1e9).to_string(),
            "--disk-max-percent",
            "0",
            "--disk-min-free-gb",
            "0",
            "--disk-evict-unsynced-results",
        ]
        .map(str::to_owned)
        .to_vec(),
    };
    let agent_log = scratch.path().join("agent.log");
    let mut agent = Process::spawn(
        launch
            .command()
            .env("PULL_ALWAYS", "false")
            .env("WITH_LOCAL_STORAGE", "true")
            .env("DOCKER_REGISTRY", &login.registry)
            .env("DOCKER_LOGIN", &login.login)
            .env("DOCKER_PASSWORD", &login.password)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&agent_log)?),
    )
    .context("cannot start the agent")?;
    let plan = Plan {
        tasks,
        images: images.iter().map(|(r, _, _)| r.clone()).collect(),
        result_bytes: RESULT_BYTES,
        budget: DiskBudget {
            max_bytes: Some(BUDGET_BYTES),
            max_percent: None,
            min_free_bytes: None,
        },
        evict_unsynced_results: true,
    };
    let started = Instant::now();
    let soaked = soak(&hub.url(""), &admin, &launch, &plan).await;
    let _ = agent.terminate(Duration::from_secs(30));
    stop_hub(hub, "bench disk --soak");
    for image in &pushed {
        sized_images::remove(&image.reference);
    }
    let tally = soaked.with_context(|| format!("the soak stopped; see {}", agent_log.display()))?;
    for failed in &tally.failed {
        say(format!("bench disk --soak: {failed}"));
    }
    let release = gantry.components().any(|c| c.as_os_str() == "release");
    Ok(Figures {
        tally,
        images,
        took: started.elapsed(),
        build: if release {
            "release"
        } else {
            "dev (unoptimized)"
        },
    })
}

async fn soak(url: &str, admin: &str, launch: &AgentLaunch, plan: &Plan) -> Result<Tally> {
    let admin = HubClient::new(url, Token::new(admin.to_owned()))?;
    let engine = Engine::connect(
        std::env::var("DOCKER_HOST").ok().as_deref(),
        Duration::from_secs(60),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut progress = |done: usize, tally: &Tally| {
        if done.is_multiple_of(10) || done == plan.tasks {
            say(format!(
                "bench disk --soak: {done} of {} tasks; at most {} held at a start, {} evictions",
                plan.tasks,
                amount(tally.max_at_start()),
                tally.evictions()
            ));
        }
    };
    disk_soak::run(&admin, &launch.host_dir, &engine, plan, &mut progress)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}

pub fn report(figures: &Figures) -> String {
    let tally = &figures.tally;
    let over = tally.over_at_start();
    let percent = |used: u64| 100.0 * used as f64 / BUDGET_BYTES as f64;
    let evicted: Vec<String> = tally
        .evicted
        .iter()
        .map(|(kind, n)| format!("{n} {kind}{}", if *n == 1 { "" } else { "s" }))
        .collect();
    let sizes: Vec<String> = figures
        .images
        .iter()
        .map(|(_, size, needs)| format!("{} ({} est.)", amount(*size), amount(*needs)))
        .collect();
    format!(
        "<!-- bench disk-soak: begin (written by `cargo xtask bench disk --soak`; edits inside are overwritten) -->\n\
         ## Disk budget: a node left running tasks never fills its disk (soak)\n\n\
         Recorded {stamp} on {machine}, the {build} `gantry` (hub and agent as child processes), Docker engine and registry on the same machine.\n\n\
         | measure | value |\n|---|---:|\n\
         | budget (`--disk-max-gb {gb}`) | {budget} |\n\
         | tasks run / succeeded | {tasks} / {succeeded} |\n\
         | tasks failed for room | {room} |\n\
         | most Gantry held at a task's start (room made, image pulled) | {max_start} ({ps:.0} % of the budget) |\n\
         | starts over the budget | {over} |\n\
         | most Gantry held at a task's end (with the task's own result and folder) | {max_end} ({pe:.0} % of the budget) |\n\
         | least free space on the disk | {min_free} |\n\
         | evictions | {evictions} ({evicted}; {evicted_bytes}) |\n\
         | wall time | {took:.0} s |\n\n\
         {tasks} tasks, one after another, cycling over {n} images built here (the busybox test image with \
         random bytes on top, pushed to the registry; sizes on the engine, and the agent's estimate of each pull: {sizes}), \
         so the least recently used image is always the next one needed, the worst case for an LRU cache. \
         Each task keeps a {result} result (`WITH_LOCAL_STORAGE`, evictable with `--disk-evict-unsynced-results`) \
         and leaves its folder. \"At a task's start\" is measured while the task waits for a file the soak writes into \
         its folder, after the agent's check and pull and before the task writes; \"held\" is the agent's own \
         stock-taking (`disk::room::standing`: images it pulled, blobs, kept results, task folders, checkpoints). \
         A task's end can be over the budget by what that task wrote, which no check before it can know; the next \
         start brings it back within.\n\
         <!-- bench disk-soak: end -->\n",
        stamp = stamp(),
        machine = machine(),
        build = figures.build,
        gb = BUDGET_BYTES as f64 / 1e9,
        budget = amount(BUDGET_BYTES),
        tasks = tally.tasks,
        succeeded = tally.succeeded,
        room = tally.failed_for_room(),
        max_start = amount(tally.max_at_start()),
        ps = percent(tally.max_at_start()),
        over = over.len(),
        max_end = amount(tally.max_at_end()),
        pe = percent(tally.max_at_end()),
        min_free = amount(tally.min_free()),
        evictions = tally.evictions(),
        evicted = evicted.join(", "),
        evicted_bytes = amount(tally.evicted_bytes),
        took = figures.took.as_secs_f64(),
        n = figures.images.len(),
        sizes = sizes.join(", "),
        result = amount(RESULT_BYTES),
    )
}
