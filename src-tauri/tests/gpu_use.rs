//! Task detail's GPU section in the built app, on the kit's private desktop,
//! where no NVIDIA GPU exists: the app's agent opens the test kit's stand-in
//! NVML (through the app's `LD_LIBRARY_PATH`), which lists the task's real
//! host pid with its memory and utilization and moves its GPU's energy
//! counter. The window then shows those figures and the charts of the
//! task's life, from the agent core's own GPU meter.

mod support;

use gantry_testkit::desktop::{Desktop, desktop_ready};
use gantry_testkit::{FakeGpu, NvmlStandin, until};
use support::{Driver, choose_local_mode, open_screen};

const GIB: u64 = 1 << 30;
/// One watt-hour in the energy counter's millijoules.
const WH: u64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_detail_shows_a_gpu_tasks_use() {
    if !desktop_ready() {
        return;
    }
    let standin = NvmlStandin::build("desktop-gpu-use").unwrap();
    let idle = FakeGpu {
        energy_millijoules: 10 * WH,
        ..FakeGpu::idle(0, 24 * GIB)
    };
    standin.write(std::slice::from_ref(&idle)).unwrap();
    let desktop = Desktop::start().await;
    let env = standin.env();
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // The task's own process on the GPU is what this test shows, not a
    // reason to step aside.
    env.push(("GANTRY_IGNORE_GPU_PROGRAMS", "1"));
    let driver = Driver::start_with_env(&desktop, &[], &env).await;
    choose_local_mode(&driver).await;

    let gate = desktop.dir.path().join("gate");
    let job = desktop.dir.path().join("gpu.yaml");
    std::fs::write(
        &job,
        format!(
            "name: on-the-gpu\nexecutor: process\nresources: {{gpus: 1}}\ncommand: [sh, -c, 'echo \"pid=$$\"; \
             while [ ! -e {} ]; do sleep 0.1; done']\n",
            gate.display()
        ),
    )
    .unwrap();
    let out = desktop.gantry(&["task", "submit", job.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let pid: u32 = until(60, "the task's pid in its log", async || {
        let log = desktop.gantry(&["task", "logs", &id]);
        String::from_utf8_lossy(&log.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("pid="))
            .and_then(|p| p.trim().parse().ok())
    })
    .await;

    // Its process holds 3 GiB at 70 %; the GPU used 1 Wh meanwhile.
    let busy = FakeGpu {
        processes: vec![(pid, 3 * GIB, false)],
        process_percent: vec![70],
        energy_millijoules: 11 * WH,
        ..idle.clone()
    };
    standin.write(&[busy]).unwrap();

    open_screen(&driver, "tasks").await;
    let row = driver
        .wait(
            &format!("[data-testid=task-row][data-task-id=\"{id}\"]"),
            60,
        )
        .await;
    driver.click(&row).await;
    driver.wait("[data-testid=screen-task-detail]", 30).await;
    let shown = driver
        .wait_text("[data-testid=task-gpu-use]", 60, |t| {
            t.contains("3 GiB") || t.contains("3.0 GiB")
        })
        .await;
    assert!(
        shown.contains("70%"),
        "{shown}\napp log:\n{}",
        desktop.app_log()
    );
    assert!(shown.contains("1 GPU"), "{shown}");
    // The charts of its life appear once there are two samples.
    driver.wait("[data-testid=gpu-use-charts] canvas", 30).await;
    // Then 2 GiB, and one more Wh: the energy baseline is a sample taken
    // before this (the one that saw 3 GiB, or the first), so at least this
    // Wh counts, and at most the two.
    let later = FakeGpu {
        processes: vec![(pid, 2 * GIB, false)],
        process_percent: vec![40],
        energy_millijoules: 12 * WH,
        ..idle.clone()
    };
    standin.write(&[later]).unwrap();
    let shown = driver
        .wait_text("[data-testid=task-gpu-use]", 60, |t| {
            t.contains("2 GiB peak 3 GiB") || t.contains("2.0 GiB peak 3.0 GiB")
        })
        .await;
    let wh: f64 = shown
        .split(" Wh")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no energy in {shown}"));
    assert!(
        (1.0..=2.0).contains(&wh),
        "{shown}\napp log:\n{}",
        desktop.app_log()
    );
    assert!(shown.contains("mean"), "{shown}");
    // It ends: the final figures stay in the window.
    std::fs::write(&gate, "").unwrap();
    let last = driver
        .wait_text("[data-testid=task-exit]", 60, |t| t.contains("Exit code 0"))
        .await;
    assert!(!last.is_empty());
    let last = driver
        .wait_text("[data-testid=task-gpu-use]", 30, |t| {
            !t.contains("GPUs now")
        })
        .await;
    assert!(last.contains("GPU-seconds"), "{last}");
    driver.quit().await;
}
