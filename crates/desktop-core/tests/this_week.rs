//! The desktop's "This week" figures from a real hub: an in-process agent
//! runs a GPU task on the test kit's stand-in NVML, whose energy counter the
//! test moves; the card's figures are then asked with the agent's own node
//! token, as the app does.

use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_testkit::{FakeGpu, NvmlStandin, World};

const WH: u64 = 3_600_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn this_weeks_gpu_hours_and_kwh_come_from_the_agents_hub() {
    let standin = NvmlStandin::build("this-week-test").unwrap();
    standin.preload();
    let gpu = |energy| FakeGpu {
        energy_millijoules: energy,
        ..FakeGpu::idle(0, 1 << 34)
    };
    standin.write(&[gpu(WH)]).unwrap();
    let Some(mut world) = World::start().await else {
        return;
    };
    let agent = world
        .agent("desk", &[], |c| c.yielding.gpu_programs = false)
        .await
        .agent
        .clone();
    let since = world.hub.now() - 1_000;
    let before = gantry_desktop_core::this_week::of(agent.hub(), since)
        .await
        .unwrap();
    assert_eq!((before.tasks, before.gpu_hours, before.kwh), (0, 0.0, 0.0));

    let gate = world.dir.path().join("gate");
    let id = world
        .submit(&format!(
            "executor: process\nresources: {{gpus: 1}}\ncommand: [sh, -c, 'while [ ! -e {} ]; do sleep 0.05; done']\n",
            gate.display()
        ))
        .await;
    world
        .until(&id, |t| t.state == TaskState::Running, "to run")
        .await;
    // 500 Wh while it runs: 0.5 kWh.
    standin.write(&[gpu(WH + 500 * WH)]).unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    std::fs::write(&gate, "").unwrap();
    assert_eq!(world.finished(&id).await.state, TaskState::Succeeded);

    let week = gantry_desktop_core::this_week::of(agent.hub(), since)
        .await
        .unwrap();
    assert_eq!(week.tasks, 1);
    assert!((week.kwh - 0.5).abs() < 1e-9, "{week:?}");
    assert!(
        week.gpu_hours > 1.0 / 3600.0 && week.gpu_hours < 0.1,
        "{week:?}"
    );
    // A week that starts later counts nothing.
    let later = gantry_desktop_core::this_week::of(agent.hub(), world.hub.now() + 60_000)
        .await
        .unwrap();
    assert_eq!(later.tasks, 0);
    world.stop().await;
}
