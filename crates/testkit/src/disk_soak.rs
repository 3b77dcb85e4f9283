//! A disk-budget soak: one node with a tight budget runs many tasks, one
//! after another, cycling over several images of the kit's registry
//! ([`crate::sized_images`]), each task keeping a result and leaving its
//! folder; what Gantry holds is measured at each task's start and end. It
//! says whether "a machine left running tasks for weeks never fills its
//! disk": the most held against the budget, the disk's free space, the
//! evictions, and the tasks that failed.
//!
//! Written once for the CI test (`tests/disk_soak.rs`, an in-process agent,
//! a few tasks) and the benchmark (`bench disk --soak`, a release agent as
//! a child process, many tasks): the caller starts the hub and the agent;
//! this submits, watches and measures through the hub's admin API and the
//! agent's own stock-taking ([`gantry_agent::disk::room::standing`]).
//!
//! Each task waits, before it writes its result, for a `go` file that the
//! soak puts in its folder once it has measured: "at the start" is then
//! exactly after the agent's check (room made, image pulled) and before
//! the task adds its own bytes, which the budget cannot know in advance.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use gantry_agent::disk::ledger::Ledger;
use gantry_agent::disk::{DiskBudget, Sources, room};
use gantry_agent::docker::Engine;
use gantry_agent::host::HostDir;
use gantry_client::HubClient;
use gantry_protocol::TaskState;
use gantry_protocol::job::{Format, JobSpec};

/// How long one task may take from its submit to its end.
const TASK_LIMIT: Duration = Duration::from_secs(300);

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// How many tasks, one after another.
    pub tasks: usize,
    /// The images, by reference, used in turn.
    pub images: Vec<String>,
    /// The bytes each task keeps as its result (`out/data.bin`).
    pub result_bytes: u64,
    /// The node's budget, as its agent runs with it.
    pub budget: DiskBudget,
    /// Whether the agent may evict kept results the hub has not got
    /// (`--disk-evict-unsynced-results`).
    pub evict_unsynced_results: bool,
}

/// What Gantry held at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// What Gantry holds (the inventory's total: images it pulled, blobs,
    /// results, task folders, checkpoints).
    pub used: u64,
    /// The most the budget allows now.
    pub limit: u64,
    /// The disk's free space.
    pub free: u64,
}

/// What the soak saw.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Tasks run.
    pub tasks: usize,
    /// Tasks that succeeded.
    pub succeeded: usize,
    /// Tasks that did not, with their state and reason.
    pub failed: Vec<String>,
    /// At each task's start (after the agent's check, before the task wrote).
    pub at_start: Vec<Sample>,
    /// At each task's end.
    pub at_end: Vec<Sample>,
    /// Things evicted, by kind.
    pub evicted: BTreeMap<&'static str, usize>,
    /// Bytes evicted in all.
    pub evicted_bytes: u64,
}

impl Tally {
    /// The most Gantry held at a task's start.
    pub fn max_at_start(&self) -> u64 {
        self.at_start.iter().map(|s| s.used).max().unwrap_or(0)
    }

    /// The most Gantry held at a task's end.
    pub fn max_at_end(&self) -> u64 {
        self.at_end.iter().map(|s| s.used).max().unwrap_or(0)
    }

    /// The least free space the disk had.
    pub fn min_free(&self) -> u64 {
        self.at_start
            .iter()
            .chain(&self.at_end)
            .map(|s| s.free)
            .min()
            .unwrap_or(0)
    }

    /// Things evicted in all.
    pub fn evictions(&self) -> usize {
        self.evicted.values().sum()
    }

    /// The starts at which Gantry held more than its budget allowed: (task
    /// number, sample).
    pub fn over_at_start(&self) -> Vec<(usize, Sample)> {
        self.at_start
            .iter()
            .enumerate()
            .filter(|(_, s)| s.used > s.limit)
            .map(|(i, s)| (i, *s))
            .collect()
    }

    /// Tasks that failed for want of room (the budget's sentence).
    pub fn failed_for_room(&self) -> usize {
        self.failed
            .iter()
            .filter(|f| f.contains("the budget leaves"))
            .count()
    }
}

/// The job of one task: waits for `go`, then keeps `bytes` of random data.
pub fn job(image: &str, bytes: u64) -> String {
    format!(
        "image: {image}\noutputs: [out]\ncommand: [sh, -c, 'while [ ! -f go ]; do sleep 0.05; done; \
         mkdir -p out && head -c {bytes} /dev/urandom > out/data.bin']\n"
    )
}

/// Runs the plan on the node whose host dir is `host_dir`, through `admin`
/// (an admin client of its hub); `progress` hears of each task's end.
pub async fn run(
    admin: &HubClient,
    host_dir: &Path,
    engine: &Engine,
    plan: &Plan,
    progress: &mut dyn FnMut(usize, &Tally),
) -> Result<Tally, String> {
    let host = HostDir::open(host_dir).map_err(|e| format!("the host dir: {e}"))?;
    let mut tally = Tally::default();
    let mut seen = HashSet::new();
    count_evictions(&host, &mut seen, &mut tally);
    for i in 0..plan.tasks {
        let image = &plan.images[i % plan.images.len()];
        let spec = JobSpec::parse(&job(image, plan.result_bytes), Format::Yaml)
            .map_err(|e| format!("the soak's job: {e}"))?;
        let id = admin.submit(&spec).await.map_err(|e| e.to_string())?;
        let task = until(admin, &id, |s| s == TaskState::Running || s.is_terminal()).await?;
        if task == TaskState::Running {
            tally.at_start.push(sample(&host, engine, plan).await);
            let go = host.work_dir(&id).join("go");
            std::fs::write(&go, b"").map_err(|e| format!("cannot write {}: {e}", go.display()))?;
        }
        until(admin, &id, TaskState::is_terminal).await?;
        let task = admin.task(&id).await.map_err(|e| e.to_string())?;
        tally.tasks += 1;
        if task.state == TaskState::Succeeded {
            tally.succeeded += 1;
        } else {
            tally.failed.push(format!(
                "task {id} ({image}): {} ({})",
                task.state.as_str(),
                task.reason.unwrap_or_default()
            ));
        }
        tally.at_end.push(sample(&host, engine, plan).await);
        count_evictions(&host, &mut seen, &mut tally);
        progress(i + 1, &tally);
    }
    Ok(tally)
}

/// What Gantry holds now, as the agent counts it.
async fn sample(host: &HostDir, engine: &Engine, plan: &Plan) -> Sample {
    let standing = room::standing(
        Sources {
            host,
            engine: Some(engine),
            hub: None,
            evict_unsynced_results: plan.evict_unsynced_results,
        },
        &plan.budget,
    )
    .await;
    Sample {
        used: standing.figures.used_by_gantry,
        limit: standing.allowance.limit,
        free: standing.figures.free,
    }
}

/// Adds the ledger's evictions not seen before (it keeps the last 100,
/// more than one task makes).
fn count_evictions(host: &HostDir, seen: &mut HashSet<(i64, String, String)>, tally: &mut Tally) {
    for eviction in Ledger::read(host).evictions {
        if seen.insert((
            eviction.at,
            eviction.kind.word().to_owned(),
            eviction.name.clone(),
        )) {
            *tally.evicted.entry(eviction.kind.word()).or_default() += 1;
            tally.evicted_bytes += eviction.size;
        }
    }
}

/// Waits until the task's state passes `check`; the state then.
async fn until(
    admin: &HubClient,
    id: &str,
    check: impl Fn(TaskState) -> bool,
) -> Result<TaskState, String> {
    let deadline = tokio::time::Instant::now() + TASK_LIMIT;
    loop {
        let state = admin.task(id).await.map_err(|e| e.to_string())?.state;
        if check(state) {
            return Ok(state);
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!(
                "task {id} stayed {} for {} s",
                state.as_str(),
                TASK_LIMIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The soak's images: `count` of them built here and pushed to `registry`
/// (address, user, password), of `first_mb`, `first_mb + step_mb`, … MB on
/// top of the test image, none left on the engine.
pub fn images(
    registry: &(String, String, String),
    count: usize,
    first_mb: usize,
    step_mb: usize,
) -> Vec<crate::sized_images::SizedImage> {
    (0..count)
        .map(|i| {
            crate::sized_images::build_and_push(
                registry,
                &format!("soak-{i}"),
                first_mb + i * step_mb,
            )
        })
        .collect()
}
