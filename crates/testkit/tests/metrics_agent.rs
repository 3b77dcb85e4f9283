//! The agent's `--metrics-listen` page over a real socket, after real tasks
//! ran in Docker (a pull from the kit's registry, a pull that fails, a task
//! that succeeds, one that fails, one canceled while it runs), with GPUs
//! from the stand-in NVML, read by Prometheus' own Python parser; and the
//! hub's page for the same tasks.

use std::sync::LazyLock;

use gantry_agent::docker::RegistryLogin;
use gantry_agent::yielding::{Verdict, YieldAction};
use gantry_protocol::TaskState;
use gantry_testkit::prometheus::{parser_python, scrape, scrape_until};
use gantry_testkit::{FakeGpu, NvmlStandin, World, free_port, image, registry};

const GIB: u64 = 1 << 30;

static STANDIN: LazyLock<NvmlStandin> = LazyLock::new(|| {
    let standin = NvmlStandin::build("metrics-test").unwrap();
    standin.preload();
    standin
});

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_agents_page_follows_its_tasks_pulls_and_gpus() {
    let Some(python) = parser_python() else {
        return;
    };
    let Some((address, user, password)) = registry() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let busy = FakeGpu {
        utilization: 37,
        free_bytes: 6 * GIB,
        ..FakeGpu::idle(0, 16 * GIB)
    };
    STANDIN.write(&[busy, FakeGpu::idle(1, 8 * GIB)]).unwrap();
    let port = free_port();
    let running = world
        .agent("m1", &[], |config| {
            config.metrics_listen = Some(format!("127.0.0.1:{port}").parse().unwrap());
            config.registries = vec![RegistryLogin {
                registry: address.clone(),
                login: user.clone(),
                password: password.clone(),
            }];
        })
        .await;
    let agent = running.agent.clone();
    let url = format!("http://127.0.0.1:{port}/metrics");

    // Registered: the monitor's first sample is on the page.
    let page = scrape_until(&python, &url, "the GPU sample", |page| {
        page.families
            .iter()
            .any(|f| f.name == "gantry_agent_gpu_utilization_ratio" && f.samples.len() == 2)
    })
    .await;
    let gpu = |name: &str, index: &str| page.value(name, &[("gpu", index)]);
    assert_eq!(gpu("gantry_agent_gpu_utilization_ratio", "0"), 0.37);
    assert_eq!(gpu("gantry_agent_gpu_utilization_ratio", "1"), 0.0);
    assert_eq!(
        gpu("gantry_agent_gpu_memory_used_bytes", "0"),
        (10 * GIB) as f64
    );
    assert_eq!(
        gpu("gantry_agent_gpu_memory_total_bytes", "1"),
        (8 * GIB) as f64
    );
    page.family("gantry_agent_gpu_memory_used_bytes", "gauge");
    page.family("gantry_agent_tasks", "gauge");
    page.family("gantry_agent_tasks_running", "gauge");
    page.family("gantry_agent_tasks_started", "counter");
    page.family("gantry_agent_tasks_finished", "counter");
    page.family("gantry_agent_image_pulls", "counter");
    page.family("gantry_agent_image_pull_duration_seconds", "histogram");
    page.family("gantry_agent_image_pulled_bytes", "counter");
    page.family("gantry_agent_spool_backlog_bytes", "gauge");
    page.family("gantry_agent_shipper_lag_seconds", "gauge");
    page.family("gantry_agent_yielding", "gauge");
    assert_eq!(page.value("gantry_agent_tasks_started_total", &[]), 0.0);
    assert_eq!(page.value("gantry_agent_connected", &[]), 1.0);
    assert_eq!(
        page.value("gantry_agent_yielding", &[("scope", "gpu")]),
        0.0
    );

    // A pull from the registry that works, one that cannot, a task that fails.
    let private = format!("{address}/gantry-test/busybox:1");
    let pulled = world
        .submit(&format!(
            "image: {private}\npull: always\ncommand: [sh, -c, 'echo pulled and ran']\n"
        ))
        .await;
    assert_eq!(world.finished(&pulled).await.state, TaskState::Succeeded);
    let missing = format!("{address}/gantry-test/no-such-image:1");
    let refused = world
        .submit(&format!(
            "image: {missing}\npull: always\ncommand: ['true']\n"
        ))
        .await;
    assert_eq!(world.finished(&refused).await.state, TaskState::Failed);
    let failing = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'exit 3']\n",
            image()
        ))
        .await;
    assert_eq!(world.finished(&failing).await.state, TaskState::Failed);

    // One that runs until it is canceled.
    let sleeper = world
        .submit(&format!("image: {}\ncommand: [sleep, '300']\n", image()))
        .await;
    world
        .until(&sleeper, |t| t.state == TaskState::Running, "to run")
        .await;
    let page = scrape_until(&python, &url, "the sleeper running", |page| {
        page.value("gantry_agent_tasks_running", &[]) == 1.0
    })
    .await;
    assert_eq!(
        page.value("gantry_agent_tasks", &[("state", "running")]),
        1.0
    );
    assert_eq!(page.value("gantry_agent_tasks_started_total", &[]), 4.0);
    assert_eq!(
        page.value("gantry_agent_image_pulls_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        page.value("gantry_agent_image_pulls_total", &[("result", "failure")]),
        1.0
    );
    assert_eq!(
        page.value("gantry_agent_image_pull_duration_seconds_count", &[]),
        2.0
    );
    assert!(page.value("gantry_agent_image_pull_duration_seconds_sum", &[]) > 0.0);
    assert!(page.value("gantry_agent_image_pulled_bytes_total", &[]) >= 0.0);

    // Stepping aside for GPU work shows; coming back clears it.
    agent.yield_to(Some(Verdict {
        reason: "a game uses the GPU".into(),
        gpu_only: true,
        action: YieldAction::Freeze,
        since: 1,
    }));
    let page = scrape(&python, &url).await;
    assert_eq!(
        page.value("gantry_agent_yielding", &[("scope", "gpu")]),
        1.0
    );
    assert_eq!(
        page.value("gantry_agent_yielding", &[("scope", "all")]),
        0.0
    );
    agent.yield_to(None);

    world.admin.cancel(&sleeper).await.unwrap();
    assert_eq!(world.finished(&sleeper).await.state, TaskState::Canceled);
    let page = scrape_until(&python, &url, "every task counted", |page| {
        page.value(
            "gantry_agent_tasks_finished_total",
            &[("outcome", "canceled")],
        ) == 1.0
    })
    .await;
    let finished =
        |outcome| page.value("gantry_agent_tasks_finished_total", &[("outcome", outcome)]);
    assert_eq!(finished("succeeded"), 1.0);
    assert_eq!(finished("failed"), 2.0);
    assert_eq!(page.value("gantry_agent_tasks_running", &[]), 0.0);
    // Every log reached the hub: nothing waits in the spools.
    assert_eq!(page.value("gantry_agent_spool_backlog_bytes", &[]), 0.0);
    assert_eq!(page.value("gantry_agent_shipper_lag_seconds", &[]), 0.0);

    // The hub's page says the same of these tasks.
    let hub = scrape(&python, &format!("{}/metrics", world.url)).await;
    let tasks = |state| hub.value("gantry_hub_tasks", &[("state", state)]);
    assert_eq!(tasks("succeeded"), 1.0);
    assert_eq!(tasks("failed"), 2.0);
    assert_eq!(tasks("canceled"), 1.0);
    assert_eq!(hub.value("gantry_hub_nodes_online", &[]), 1.0);
    assert_eq!(
        hub.value("gantry_hub_dispatch_latency_seconds_count", &[]),
        4.0
    );
    let stored = hub.value("gantry_hub_log_stored_bytes", &[]);
    assert!(stored >= "pulled and ran\n".len() as f64, "{stored}");
    assert!(hub.value("gantry_hub_log_received_bytes_total", &[]) >= stored);
    world.stop().await;
}
