//! Usage accounting of GPUs and pulls where no NVIDIA GPU exists: the test
//! kit's stand-in NVML (loaded into this process, so the in-process agent of
//! [`World`] opens it) gives the task a GPU whose energy counter the test
//! moves; the kit's registry serves an image made here with a layer no
//! engine has yet, so its pull moves real bytes.

use std::sync::LazyLock;
use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_testkit::services::{docker, docker_command, image, registry};
use gantry_testkit::{Backend, FakeGpu, NvmlStandin, World, on_both};

const GIB: u64 = 1 << 30;
/// One watt-hour in the energy counter's millijoules.
const WH: u64 = 3_600_000;

static STANDIN: LazyLock<NvmlStandin> = LazyLock::new(|| {
    let standin = NvmlStandin::build("usage-test").unwrap();
    standin.preload();
    standin
});

/// One stand-in per process: the GPU tests take turns.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs the docker CLI; fails the test, with its words, if it fails.
fn must(command: &mut std::process::Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn gpu(energy: u64) -> FakeGpu {
    FakeGpu {
        energy_millijoules: energy,
        ..FakeGpu::idle(0, 24 * GIB)
    }
}

async fn a_gpu_tasks_seconds_and_energy_are_counted(backend: Backend) {
    let _turn = TURN.lock().await;
    let base = 5 * WH;
    STANDIN.write(&[gpu(base)]).unwrap();
    let Some(mut world) = World::start_on(backend).await else {
        return;
    };
    world
        .agent("gpu-node", &[], |c| c.yielding.gpu_programs = false)
        .await;
    let gate = world.dir.path().join("gate");
    let id = world
        .submit(&format!(
            "executor: process\nresources: {{gpus: 1}}\ncommand: [sh, -c, 'echo started; \
             while [ ! -e {} ]; do sleep 0.05; done']\n",
            gate.display()
        ))
        .await;
    world
        .until(
            &id,
            |task| task.state == TaskState::Running,
            "to run with its GPU",
        )
        .await;
    // The GPU uses 2 Wh while the task holds it.
    STANDIN.write(&[gpu(base + 2 * WH)]).unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    std::fs::write(&gate, "").unwrap();
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    let usage = task.usage.expect("the final report carries usage");
    assert_eq!(usage.gpus.len(), 1, "{usage:?}");
    let held = &usage.gpus[0];
    assert_eq!(held.uuid, FakeGpu::idle(0, 0).uuid);
    assert_eq!(held.index, 0);
    assert!(
        held.seconds >= 1.0 && held.seconds <= usage.wall_seconds,
        "{usage:?}"
    );
    assert_eq!(held.energy_wh, Some(2.0), "{usage:?}");
    assert_eq!(
        usage.cpu_seconds, None,
        "a process task's CPU is not measured"
    );

    let node = world
        .admin
        .node_usage("gpu-node", world.hub.now() - 60_000)
        .await
        .unwrap();
    assert_eq!(node.totals.tasks, 1);
    assert_eq!(node.totals.energy_wh, 2.0);
    assert!((node.totals.gpu_seconds - held.seconds).abs() < 1e-9);
    world.stop().await;
}

on_both!(a_gpu_tasks_seconds_and_energy_are_counted);

/// An image with a layer of random bytes, pushed to the kit's registry and
/// removed from the engine, is pulled by the task: its bytes are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bytes_pulled_come_from_the_pull() {
    let Some((address, user, password)) = registry() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let tag = format!(
        "{address}/gantry-test/usage:{}",
        std::process::id() as u64 * 1000 + world.hub.now() as u64 % 1000
    );
    let maker = format!("gantry-usage-maker-{}", std::process::id());
    let _ = docker(&["rm", "-f", &maker]);
    must(docker_command().args([
        "run",
        "--name",
        &maker,
        &image(),
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom > /random",
    ]));
    must(docker_command().args(["commit", &maker, &tag]));
    docker(&["rm", "-f", &maker]);
    // The login lives in a scratch folder that goes with the test.
    let config = tempfile::tempdir().unwrap();
    let config_dir = config.path().to_str().unwrap();
    let mut login = docker_command();
    login
        .args([
            "--config",
            config_dir,
            "login",
            "--password-stdin",
            "-u",
            &user,
            &address,
        ])
        .stdin(std::process::Stdio::piped());
    let mut child = login
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
    }
    assert!(
        child.wait().unwrap().success(),
        "docker login to the kit's registry"
    );
    must(docker_command().args(["--config", config_dir, "push", &tag]));
    must(docker_command().args(["rmi", &tag]));

    world
        .agent("puller", &[], |config| {
            config.registries = vec![gantry_agent::docker::RegistryLogin {
                registry: address.clone(),
                login: user.clone(),
                password: password.clone(),
            }];
        })
        .await;
    let id = world
        .submit(&format!("image: {tag}\ncommand: [ls, -l, /random]\n"))
        .await;
    let task = world.finished(&id).await;
    let _ = docker(&["rmi", &tag]);
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    let usage = task.usage.expect("the final report carries usage");
    // Random bytes do not compress: the layer is about 3 MB on the wire.
    assert!(
        usage.bytes_pulled >= 2_500_000 && usage.bytes_pulled < 10_000_000,
        "{usage:?}"
    );
    let node = world.admin.node_usage("puller", 0).await.unwrap();
    assert_eq!(node.totals.bytes_pulled, usage.bytes_pulled);
    world.stop().await;
}
