//! GPUs given out one by one, by the real agent, where no NVIDIA GPU exists:
//! the test kit's stand-in NVML plays the driver (its GPUs, free memory and
//! MIG devices come from a file each test writes), loaded into this process
//! so the in-process agents of [`World`] open it as their NVML. Tasks use the
//! process executor and print the `CUDA_VISIBLE_DEVICES` they were given; a
//! Docker task is checked against the real engine, which has no NVIDIA
//! runtime here.
//!
//! One stand-in per process, so the tests take turns ([`turn`]).

use std::sync::LazyLock;
use std::time::Duration;

use gantry_agent::docker::{ContainerPlan, Engine};
use gantry_agent::executor::Command;
use gantry_agent::monitor::Monitor;
use gantry_protocol::TaskState;
use gantry_testkit::{FakeGpu, NvmlStandin, World, docker, image};
use tokio::sync::{Mutex, MutexGuard};

const GIB: u64 = 1 << 30;

static STANDIN: LazyLock<NvmlStandin> = LazyLock::new(|| {
    let standin = NvmlStandin::build("gpus-test").unwrap();
    standin.preload();
    standin
});

static TURN: Mutex<()> = Mutex::const_new(());

/// This test's turn with the stand-in, which now reports `gpus`.
async fn turn(gpus: &[FakeGpu]) -> MutexGuard<'static, ()> {
    let guard = TURN.lock().await;
    STANDIN.write(gpus).unwrap();
    guard
}

/// A process task asking for `resources`, printing the GPUs it was given,
/// then waiting until `gate` exists (so tasks overlap).
fn gated_job(resources: &str, gate: &std::path::Path) -> String {
    format!(
        "executor: process\nresources: {resources}\ncommand: [sh, -c, 'echo \"visible=$CUDA_VISIBLE_DEVICES\"; \
         while [ ! -e {} ]; do sleep 0.05; done']\n",
        gate.display()
    )
}

/// The `visible=` line of a task's log.
async fn visible(world: &World, id: &str) -> String {
    let log = String::from_utf8(world.log(id).await).unwrap();
    log.lines()
        .find_map(|line| line.strip_prefix("visible="))
        .unwrap_or_else(|| panic!("no visible= line in {log:?}"))
        .to_owned()
}

async fn running(world: &World, id: &str) {
    world
        .until(id, |task| task.state == TaskState::Running, "to run")
        .await;
}

/// Waits until `id` is seen waiting for a GPU, and says why: by its agent
/// (the hub offered it before the node's capacity said the GPU was taken:
/// its log says so once) or by the hub, which offers it no node while none
/// fits (`Task.waiting`). Which one depends on how fresh the hub's copy is.
async fn waits_for_gpu(world: &World, id: &str) -> String {
    gantry_testkit::until(60, "the task to wait for a GPU", async || {
        let log = String::from_utf8(world.log(id).await).unwrap();
        if let Some(line) = log
            .lines()
            .find(|l| l.starts_with("gantry: waiting for GPUs: "))
        {
            return Some(line.to_owned());
        }
        let task = world.admin.task(id).await.unwrap();
        task.waiting.filter(|why| why.contains("fit now"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_tasks_on_two_gpus_get_one_each() {
    let _turn = turn(&[FakeGpu::idle(0, 16 * GIB), FakeGpu::idle(1, 16 * GIB)]).await;
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("two", &[], |c| c.max_tasks = 2).await;
    let gate = world.dir.path().join("gate");
    let a = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    let b = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    running(&world, &a).await;
    running(&world, &b).await;
    std::fs::write(&gate, "").unwrap();
    for id in [&a, &b] {
        assert_eq!(world.finished(id).await.state, TaskState::Succeeded);
    }
    let mut given = [visible(&world, &a).await, visible(&world, &b).await];
    given.sort();
    assert_eq!(
        given,
        [FakeGpu::idle(0, 0).uuid, FakeGpu::idle(1, 0).uuid],
        "each task gets its own GPU, named by UUID"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_waits_for_its_gpu_and_for_free_memory() {
    let gpu = FakeGpu::idle(0, 16 * GIB);
    let _turn = turn(std::slice::from_ref(&gpu)).await;
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("one", &[], |c| c.max_tasks = 2).await;
    let gate = world.dir.path().join("gate");
    let holder = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    running(&world, &holder).await;
    // Held by the first task: the second waits, and says so once.
    let waiter = world
        .submit(&gated_job("{gpus: 1, gpu_memory: 4GiB}", &gate))
        .await;
    let why = waits_for_gpu(&world, &waiter).await;
    assert!(why.contains("1 free GPUs; 0 fit now"), "{why}");
    assert_ne!(
        world.admin.task(&waiter).await.unwrap().state,
        TaskState::Running
    );
    std::fs::write(&gate, "").unwrap();
    assert_eq!(world.finished(&holder).await.state, TaskState::Succeeded);
    assert_eq!(world.finished(&waiter).await.state, TaskState::Succeeded);
    assert_eq!(visible(&world, &waiter).await, gpu.uuid);
    let log = String::from_utf8(world.log(&waiter).await).unwrap();
    assert!(
        log.matches("waiting for GPUs").count() <= 1,
        "said once at most: {log}"
    );

    // A foreign program holds most of the memory: no give-back will come,
    // and the task runs once the memory is free.
    let busy = FakeGpu {
        free_bytes: 2 * GIB,
        processes: vec![(4242, 14 * GIB, false)],
        ..gpu.clone()
    };
    STANDIN.write(&[busy]).unwrap();
    let needs = world
        .submit(&gated_job("{gpus: 1, gpu_memory: 4GiB}", &gate))
        .await;
    waits_for_gpu(&world, &needs).await;
    STANDIN.write(&[gpu]).unwrap();
    assert_eq!(world.finished(&needs).await.state, TaskState::Succeeded);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reserved_gpu_is_never_given() {
    let _turn = turn(&[FakeGpu::idle(0, 16 * GIB), FakeGpu::idle(1, 8 * GIB)]).await;
    let Some(mut world) = World::start().await else {
        return;
    };
    world
        .agent("kept", &[], |c| {
            c.max_tasks = 2;
            c.reserve_gpus = vec![0];
        })
        .await;
    let gate = world.dir.path().join("gate");
    std::fs::write(&gate, "").unwrap();
    // GPU 0 has more free memory, but it is the person's.
    let one = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    assert_eq!(world.finished(&one).await.state, TaskState::Succeeded);
    assert_eq!(visible(&world, &one).await, FakeGpu::idle(1, 0).uuid);
    // The node's capacity marks GPU 0 as the person's, so the hub does not
    // offer a task that names it, nor one that asks for more than GPU 1: they
    // stay queued while the tasks after them run. (The agent's own refusal,
    // for a hub that offered anyway, is in the GpuOwner's unit tests.)
    let exact = world.submit(&gated_job("{gpus: [0]}", &gate)).await;
    let two = world.submit(&gated_job("{gpus: 2}", &gate)).await;
    let all = world.submit(&gated_job("{gpus: all}", &gate)).await;
    assert_eq!(world.finished(&all).await.state, TaskState::Succeeded);
    assert_eq!(
        visible(&world, &all).await,
        FakeGpu::idle(1, 0).uuid,
        "all but the person's"
    );
    for id in [&exact, &two] {
        assert_eq!(world.admin.task(id).await.unwrap().state, TaskState::Queued);
    }
    let node = world.admin.nodes().await.unwrap().nodes.remove(0);
    let slots = node.capacity.unwrap().gpus;
    assert_eq!(
        slots
            .iter()
            .map(|s| (s.index, s.reserved))
            .collect::<Vec<_>>(),
        vec![(0, true), (1, false)]
    );
    world.stop().await;
}

/// A release frees the task's GPUs for the person: the agent gives them back
/// and the hub sees them free, while the task waits in the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_released_gpu_task_gives_its_gpu_back() {
    let _turn = turn(&[FakeGpu::idle(0, 16 * GIB)]).await;
    let Some(mut world) = World::start().await else {
        return;
    };
    let agent = world
        .agent("one", &[], |c| c.yielding.grace = Duration::from_secs(1))
        .await
        .agent
        .clone();
    let gate = world.dir.path().join("gate");
    let id = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    running(&world, &id).await;
    let held = |node: &gantry_protocol::wire::Node| {
        node.capacity
            .as_ref()
            .map(|c| c.gpus.iter().map(|s| s.holders).sum::<u32>())
    };
    let holders = async |count: u32, what: &str| {
        gantry_testkit::until(30, what, async || {
            let node = world.admin.nodes().await.unwrap().nodes.remove(0);
            (held(&node) == Some(count)).then_some(())
        })
        .await
    };
    holders(1, "the hub to see the GPU held").await;
    agent.yield_to(Some(gantry_agent::yielding::Verdict {
        reason: "a game uses the GPU".into(),
        gpu_only: true,
        action: gantry_agent::yielding::YieldAction::Release,
        since: 1,
    }));
    world
        .until(&id, |t| t.state == TaskState::Queued, "back to the queue")
        .await;
    holders(0, "the hub to see the GPU free").await;
    // Back from the yield, the same node takes the task again on that GPU.
    agent.yield_to(None);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(world.finished(&id).await.state, TaskState::Succeeded);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mig_devices_are_given_by_uuid() {
    let gpu = FakeGpu {
        migs: vec![
            (
                "MIG-aaaaaaaa-0000-0000-0000-000000000001".into(),
                10 * GIB,
                10 * GIB,
            ),
            (
                "MIG-aaaaaaaa-0000-0000-0000-000000000002".into(),
                10 * GIB,
                9 * GIB,
            ),
        ],
        ..FakeGpu::idle(0, 80 * GIB)
    };
    let _turn = turn(std::slice::from_ref(&gpu)).await;
    let dir = tempfile::tempdir().unwrap();
    let devices = Monitor::new(dir.path()).devices();
    let seen: Vec<(u32, &str, u64)> = devices
        .iter()
        .map(|d| (d.index, d.uuid.as_str(), d.free_bytes))
        .collect();
    assert_eq!(
        seen,
        [
            (0, gpu.migs[0].0.as_str(), 10 * GIB),
            (0, gpu.migs[1].0.as_str(), 9 * GIB)
        ],
        "a GPU in MIG mode is its MIG devices, under its own index"
    );
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("mig", &[], |c| c.max_tasks = 2).await;
    let gate = world.dir.path().join("gate");
    let a = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    let b = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    running(&world, &a).await;
    running(&world, &b).await;
    std::fs::write(&gate, "").unwrap();
    world.finished(&a).await;
    world.finished(&b).await;
    let mut given = [visible(&world, &a).await, visible(&world, &b).await];
    given.sort();
    assert_eq!(given, [gpu.migs[0].0.clone(), gpu.migs[1].0.clone()]);
    world.stop().await;
}

#[tokio::test]
async fn the_monitor_reads_the_standin_as_it_changes() {
    let mut gpu = FakeGpu {
        temperature_c: 71,
        utilization: 35,
        processes: vec![(1234, 3 * GIB, false), (99, GIB, true)],
        ..FakeGpu::idle(0, 24 * GIB)
    };
    gpu.free_bytes = 20 * GIB;
    let _turn = turn(std::slice::from_ref(&gpu)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = Monitor::new(dir.path());
    let devices = monitor.devices();
    assert_eq!(devices.len(), 1);
    let device = &devices[0];
    assert_eq!(device.uuid, gpu.uuid);
    assert_eq!(device.name, "Stand-in GPU");
    assert_eq!(
        (device.free_bytes, device.total_bytes),
        (20 * GIB, 24 * GIB)
    );
    assert_eq!(device.temperature_c, Some(71));
    let pids: Vec<(u32, Option<u64>, bool)> = device
        .processes
        .iter()
        .map(|p| (p.pid, p.used_bytes, p.graphics))
        .collect();
    assert_eq!(pids, [(1234, Some(3 * GIB), false), (99, Some(GIB), true)]);
    let info = monitor.sample();
    assert_eq!(info.gpus[0].utilization_percent, 35);
    assert_eq!(info.extra["nvidia_driver"], "550.0-standin");
    STANDIN
        .write(&[FakeGpu::idle(0, 24 * GIB), FakeGpu::idle(1, 24 * GIB)])
        .unwrap();
    assert_eq!(monitor.devices().len(), 2, "a rewritten file is read again");
}

#[tokio::test]
async fn a_tasks_gpu_use_is_its_own_processes() {
    let gpu = |index, processes: Vec<(u32, u64, bool)>, percent: Vec<u32>| FakeGpu {
        processes,
        process_percent: percent,
        energy_millijoules: 5_000_000 + u64::from(index),
        ..FakeGpu::idle(index, 24 * GIB)
    };
    let gpus = [
        gpu(
            0,
            vec![(10, 3 * GIB, false), (11, GIB, false), (99, 5 * GIB, false)],
            vec![30, 20, 50],
        ),
        gpu(1, vec![(12, 2 * GIB, false)], vec![40]),
    ];
    let _turn = turn(&gpus).await;
    let dir = tempfile::tempdir().unwrap();
    let mut monitor = Monitor::new(dir.path());
    monitor.sample();
    let pids = [10, 11, 12].into_iter().collect();
    let task = [gpus[0].uuid.clone(), gpus[1].uuid.clone()];
    let used = monitor.task_gpu_use(&pids, &task).unwrap();
    // Process 99 (another program) is not the task's.
    assert_eq!(used.memory_bytes, 6 * GIB);
    assert_eq!(used.utilization_percent, Some((50 + 40) / 2));
    assert_eq!(used.energy_millijoules, Some(10_000_001));
    let only_first = monitor.task_gpu_use(&pids, &task[..1]).unwrap();
    assert_eq!(only_first.memory_bytes, 4 * GIB);
    assert_eq!(only_first.utilization_percent, Some(50));

    // Through the owner: the GPUs the task holds, found by its id.
    let monitor = std::sync::Arc::new(std::sync::Mutex::new(monitor));
    let owner = gantry_agent::gpus::GpuOwner::new(monitor, &[]);
    assert_eq!(
        owner.task_use("t", pids.clone()).await,
        None,
        "holds nothing"
    );
    owner.hold("t", vec![task[1].clone()], None);
    let used = owner.task_use("t", pids).await.unwrap();
    assert_eq!(
        (used.memory_bytes, used.utilization_percent),
        (2 * GIB, Some(40))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_docker_task_names_its_gpus_by_uuid() {
    let gpu = FakeGpu::idle(0, 16 * GIB);
    let _turn = turn(std::slice::from_ref(&gpu)).await;
    let Some(mut world) = World::start().await else {
        return;
    };
    // The container as the agent creates it: its device request names the UUIDs.
    let engine = Engine::connect(None, Duration::from_secs(30))
        .await
        .unwrap();
    let name = format!("gantry-gpu-plan-{}", std::process::id());
    let plan = ContainerPlan {
        task_id: name.clone(),
        node: "test".into(),
        role: "main",
        name: name.clone(),
        image: image(),
        command: Command {
            argv: vec!["true".into()],
            env: Default::default(),
            work_dir: world.dir.path().to_owned(),
            timeout: None,
        },
        inputs: Vec::new(),
        resources: gantry_protocol::job::Resources {
            gpus: Some(gantry_protocol::job::Gpus::Count(1)),
            ..Default::default()
        },
        gpu_ids: vec![gpu.uuid.clone()],
        network: None,
        aliases: Vec::new(),
        extra_hosts: Vec::new(),
    };
    let id = engine.create(&plan).await.unwrap();
    let requests = docker(&[
        "inspect",
        "--format",
        "{{json .HostConfig.DeviceRequests}}",
        &id,
    ]);
    engine.remove(&id).await;
    let requests: serde_json::Value = serde_json::from_str(&requests).unwrap();
    assert_eq!(requests[0]["DeviceIDs"], serde_json::json!([gpu.uuid]));
    assert_eq!(requests[0]["Driver"], "nvidia");

    // This engine has no NVIDIA runtime: the task fails with what to install.
    world.agent("docker", &[], |_| {}).await;
    let task = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo $NVIDIA_VISIBLE_DEVICES']\nresources: {{gpus: 1}}\n",
            image()
        ))
        .await;
    let task = world.finished(&task).await;
    assert_eq!(task.state, TaskState::Failed);
    let reason = task.reason.unwrap_or_default();
    assert!(
        reason.contains("Docker has no NVIDIA runtime")
            && reason.contains("NVIDIA Container Toolkit"),
        "{reason}"
    );
    world.stop().await;
}

/// The `gantry` binary as a child process, pointed at a stand-in of its own
/// through `LD_LIBRARY_PATH` (run `cargo build -p gantry-cli` first; set
/// `GANTRY_BIN` to test another copy): the hub sees its GPUs, and a task
/// gets one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_agent_finds_the_standin_on_its_library_path() {
    let Some(world) = World::start().await else {
        return;
    };
    let gantry = std::env::var_os("GANTRY_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.parent()
                .and_then(|deps| deps.parent())
                .unwrap()
                .join("gantry")
        });
    assert!(
        gantry.exists(),
        "{} is missing: cargo build -p gantry-cli",
        gantry.display()
    );
    let standin = NvmlStandin::build("gpus-child").unwrap();
    let gpu = FakeGpu::idle(3, 40 * GIB);
    standin.write(std::slice::from_ref(&gpu)).unwrap();
    let token = world
        .hub
        .db()
        .add_node("child", &[], world.hub.now())
        .await
        .unwrap();
    let launch = gantry_testkit::AgentLaunch {
        gantry,
        server: world.url.clone(),
        token,
        name: "child".into(),
        host_dir: world.dir.path().join("child"),
        config_home: world.dir.path().to_owned(),
        docker_host: std::env::var("DOCKER_HOST").ok(),
        args: Vec::new(),
    };
    let mut command = launch.command();
    command
        .envs(standin.env())
        .stderr(std::process::Stdio::null());
    let mut agent = gantry_testkit::Process::spawn(&mut command).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let node = world.admin.node("child").await.unwrap();
        let gpus = node.system.map(|system| system.gpus).unwrap_or_default();
        if let Some(seen) = gpus.first() {
            assert_eq!(
                (seen.uuid.as_str(), seen.name.as_str()),
                (gpu.uuid.as_str(), "Stand-in GPU")
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub never saw the child's GPU"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gate = world.dir.path().join("gate");
    std::fs::write(&gate, "").unwrap();
    let id = world.submit(&gated_job("{gpus: 1}", &gate)).await;
    assert_eq!(world.finished(&id).await.state, TaskState::Succeeded);
    assert_eq!(visible(&world, &id).await, gpu.uuid);
    agent.kill();
    world.stop().await;
}
