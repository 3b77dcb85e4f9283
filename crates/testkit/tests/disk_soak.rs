//! The disk budget over many tasks, as CI can afford it: a node with a
//! budget that holds the largest image's pull and little more runs nine
//! tasks cycling over three images of the kit's registry, each keeping a
//! result (evictable: `--disk-evict-unsynced-results`) and leaving its
//! folder. At every task's start (room made, image pulled, before the task
//! writes) Gantry holds no more than its budget, evictions happen (images
//! among them), and no task fails. `cargo xtask bench disk --soak` is the
//! long version, with its figures in docs/benchmarks.md.

mod disk_images;

use std::time::Duration;

use disk_images::{build_and_push, forget, only_bytes, registry_login};
use gantry_agent::docker::Engine;
use gantry_testkit::World;
use gantry_testkit::disk_soak::{self, Plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_many_tasks_the_node_stays_within_its_budget_and_no_task_fails() {
    let Some((registry, login)) = registry_login() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let images = [
        build_and_push(&registry, &login, "soak-a", 6).await,
        build_and_push(&registry, &login, "soak-b", 9).await,
        build_and_push(&registry, &login, "soak-c", 12).await,
    ];
    // The largest pull (as estimated) fits beside the smallest image, not
    // beside both others: every turn of the cycle must evict.
    let limit = images[2].needs + images[0].size;
    let plan = Plan {
        tasks: 9,
        images: images.iter().map(|i| i.reference.clone()).collect(),
        result_bytes: 500_000,
        budget: only_bytes(limit),
        evict_unsynced_results: true,
    };
    let host_dir = world
        .agent("soak", &[], |config| {
            config.registries = vec![login.clone()];
            config.disk = plan.budget;
            config.with_local_storage = true;
            config.disk_evict_unsynced_results = true;
        })
        .await
        .host_dir
        .clone();
    let engine = Engine::connect(
        std::env::var("DOCKER_HOST").ok().as_deref(),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    let tally = disk_soak::run(&world.admin, &host_dir, &engine, &plan, &mut |_, _| {})
        .await
        .unwrap();

    assert_eq!(tally.tasks, 9);
    assert!(tally.failed.is_empty(), "{:?}", tally.failed);
    assert_eq!(
        tally.at_start.len(),
        9,
        "each task was measured at its start"
    );
    assert!(
        tally.over_at_start().is_empty(),
        "over the budget ({limit} bytes) at a start: {:?}",
        tally.over_at_start()
    );
    assert!(tally.max_at_start() >= images[2].size, "{tally:?}");
    assert!(
        tally.evicted.get("image").copied().unwrap_or(0) >= 3,
        "the cycle evicts images: {:?}",
        tally.evicted
    );
    world.stop().await;
    forget(&images.iter().collect::<Vec<_>>());
}
