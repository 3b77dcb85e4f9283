//! A task's own GPU use, from NVML to the hub and the CLI, where no NVIDIA
//! GPU exists: the test kit's stand-in NVML (loaded into this process, so
//! the in-process agent of [`World`] opens it) lists the task's real host
//! pid with memory and utilization, and moves its GPU's energy counter. The
//! hub (SQLite and PostgreSQL) then answers those figures in `Task.gpu_use`,
//! the agent keeps the series a desktop's task detail draws, and the built
//! `gantry task show` prints them (cargo build -p gantry-cli first, or set
//! `GANTRY_BIN`).
//!
//! One stand-in per process, so the tests take turns ([`turn`]).

use std::sync::LazyLock;
use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_protocol::wire::{Task, TaskGpuUse};
use gantry_testkit::desktop::cli_binary;
use gantry_testkit::{Backend, FakeGpu, NvmlStandin, World, as_admin, on_both};
use tokio::sync::{Mutex, MutexGuard};

const GIB: u64 = 1 << 30;
/// One watt-hour in the energy counter's millijoules.
const WH: u64 = 3_600_000;

static STANDIN: LazyLock<NvmlStandin> = LazyLock::new(|| {
    let standin = NvmlStandin::build("gpu-use-test").unwrap();
    standin.preload();
    standin
});

static TURN: Mutex<()> = Mutex::const_new(());

async fn turn(gpus: &[FakeGpu]) -> MutexGuard<'static, ()> {
    let guard = TURN.lock().await;
    STANDIN.write(gpus).unwrap();
    guard
}

/// The stand-in GPU with the task's process (and maybe another program's).
fn gpu(task: Option<(u32, u64, u32)>, foreign: bool, energy: u64) -> FakeGpu {
    let mut gpu = FakeGpu {
        energy_millijoules: energy,
        ..FakeGpu::idle(0, 24 * GIB)
    };
    if let Some((pid, used, percent)) = task {
        gpu.processes.push((pid, used, false));
        gpu.process_percent.push(percent);
    }
    if foreign {
        gpu.processes.push((1, GIB, true));
        gpu.process_percent.push(5);
    }
    gpu
}

/// Waits until the hub's task has GPU use that `check` accepts (60 s at most).
async fn hub_use(world: &World, id: &str, check: impl Fn(&TaskGpuUse) -> bool) -> Task {
    world
        .until(
            id,
            |task| task.gpu_use.as_ref().is_some_and(&check),
            "to show the GPU use expected",
        )
        .await
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

async fn a_tasks_gpu_use_reaches_the_hub(backend: Backend) {
    let base = 10 * WH;
    let _turn = turn(&[gpu(None, false, base)]).await;
    let Some(mut world) = World::start_on(backend).await else {
        return;
    };
    // Another program on the GPU is what this test shows, not a reason to
    // step aside.
    let agent = world
        .agent("g", &[], |c| c.yielding.gpu_programs = false)
        .await
        .agent
        .clone();
    let gate = world.dir.path().join("gate");
    let id = world
        .submit(&format!(
            "executor: process\nresources: {{gpus: 1}}\ncommand: [sh, -c, 'echo \"pid=$$\"; \
             while [ ! -e {} ]; do sleep 0.05; done']\n",
            gate.display()
        ))
        .await;
    let log = loop {
        let log = String::from_utf8(world.log(&id).await).unwrap();
        if log.contains("pid=") {
            break log;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let pid: u32 = log
        .lines()
        .find_map(|line| line.strip_prefix("pid="))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The energy baseline is the agent's first sample, taken within a
    // second of the task taking its GPU.
    gantry_testkit::until(30, "the first GPU sample", async || {
        agent.gpu_use(&id).filter(|used| !used.series.is_empty())
    })
    .await;

    // Its process holds 3 GiB at 60 %; the GPU used 1 Wh meanwhile.
    STANDIN
        .write(&[gpu(Some((pid, 3 * GIB, 60)), false, base + WH)])
        .unwrap();
    let task = hub_use(&world, &id, |u| u.memory_bytes == 3 * GIB).await;
    let used = task.gpu_use.unwrap();
    assert_eq!(used.gpus, 1);
    assert_eq!(used.utilization_percent, Some(60));
    assert_eq!(used.energy_wh, Some(1.0));
    assert!(!used.energy_shared && !used.ended, "{used:?}");

    // Then 2 GiB at 20 %, one more Wh: the peak stays, the mean moves.
    STANDIN
        .write(&[gpu(Some((pid, 2 * GIB, 20)), false, base + 2 * WH)])
        .unwrap();
    let task = hub_use(&world, &id, |u| u.memory_bytes == 2 * GIB).await;
    let used = task.gpu_use.unwrap();
    assert_eq!(used.memory_peak_bytes, 3 * GIB);
    assert_eq!(used.utilization_percent, Some(20));
    let mean = used.utilization_mean_percent.unwrap();
    assert!(mean > 0.0 && mean < 60.0, "{mean}");
    assert_eq!(used.energy_wh, Some(2.0));

    // Another program on its GPU: the energy since is not the task's alone.
    STANDIN
        .write(&[gpu(Some((pid, 2 * GIB, 20)), true, base + 2 * WH)])
        .unwrap();
    hub_use(&world, &id, |u| u.energy_shared).await;
    STANDIN
        .write(&[gpu(Some((pid, GIB, 20)), true, base + 3 * WH)])
        .unwrap();
    let task = hub_use(&world, &id, |u| u.memory_bytes == GIB).await;
    assert_eq!(task.gpu_use.unwrap().energy_wh, Some(2.0));

    // It ends: its final figures reach the hub, GPU-seconds up to its end.
    std::fs::write(&gate, "").unwrap();
    assert_eq!(world.finished(&id).await.state, TaskState::Succeeded);
    let task = hub_use(&world, &id, |u| u.ended).await;
    let last = task.gpu_use.clone().unwrap();
    let held_ms = (task.finished_at.unwrap() - last.since) as f64;
    assert!(
        last.gpu_seconds > 0.0 && last.gpu_seconds * 1000.0 <= held_ms + 2_000.0,
        "{last:?} held {held_ms} ms"
    );
    assert!(last.series.is_empty(), "the hub keeps no series");
    assert!(close(last.energy_wh.unwrap(), 2.0) && last.energy_shared);

    // The agent keeps the series the desktop draws.
    let kept = agent.gpu_use(&id).unwrap();
    assert!(kept.ended);
    let memory: Vec<u64> = kept.series.iter().map(|p| p.memory_bytes).collect();
    for seen in [3 * GIB, 2 * GIB, GIB] {
        assert!(memory.contains(&seen), "{memory:?}");
    }

    // `gantry task show` says it.
    let token = world
        .hub
        .db()
        .create_admin_token("cli", world.hub.now())
        .await
        .unwrap();
    // `GANTRY_BIN`: another copy of the binary than target/debug/gantry.
    let gantry = std::env::var_os("GANTRY_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(cli_binary);
    let output = as_admin(&gantry, &world.url, &token)
        .args(["task", "show", &id])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = shown
        .lines()
        .find(|l| l.starts_with("gpu use:"))
        .unwrap_or_else(|| panic!("no gpu use line in {shown}"));
    assert!(
        line.contains("1 GPU · memory 1.0 GiB (peak 3.0 GiB)")
            && line.contains("energy 2.000 Wh while alone on its GPUs")
            && line.contains("GPU-seconds")
            && line.ends_with("(final)"),
        "{line}"
    );
    world.stop().await;
}

on_both!(a_tasks_gpu_use_reaches_the_hub);

/// A task without GPUs, on a node with NVML, has no GPU use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_without_gpus_has_no_gpu_use() {
    let _turn = turn(&[gpu(None, false, WH)]).await;
    let Some(mut world) = World::start().await else {
        return;
    };
    let agent = world.agent("c", &[], |_| {}).await.agent.clone();
    let id = world
        .submit("executor: process\ncommand: [sh, -c, 'sleep 3']\n")
        .await;
    assert_eq!(world.finished(&id).await.state, TaskState::Succeeded);
    // A heartbeat or two after its end.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(world.admin.task(&id).await.unwrap().gpu_use, None);
    assert_eq!(agent.gpu_use(&id), None);
    world.stop().await;
}
