//! The disk budget against the real engine, the kit's registry and a real
//! hub: images of distinct sizes built here and pulled by the agent; the
//! budget set from their real sizes and the agent's own estimates, so each
//! case forces exactly the eviction (or refusal) it is about.

mod disk_images;

use disk_images::{build_and_push, forget, only_bytes, present, registry_login};
use gantry_agent::disk::ledger::{Ledger, Owner};
use gantry_agent::disk::{Kind, amount};
use gantry_agent::host::HostDir;
use gantry_protocol::TaskState;
use gantry_testkit::{World, image};

fn job(image: &str, command: &str) -> String {
    format!("image: {image}\ncommand: [sh, -c, '{command}']\n")
}

async fn succeeds(world: &World, yaml: &str) -> String {
    let id = world.submit(yaml).await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_least_recently_used_go_first_and_the_persons_image_stays() {
    let Some((registry, login)) = registry_login() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let a = build_and_push(&registry, &login, "lru-a", 4).await;
    let b = build_and_push(&registry, &login, "lru-b", 8).await;
    let c = build_and_push(&registry, &login, "lru-c", 12).await;
    // A and C fit; B must go for C to come, and half of B is enough.
    let limit = a.size + c.needs + b.size / 2;
    let host_dir = world
        .agent("lru", &[], |config| {
            config.registries = vec![login.clone()];
            config.disk = only_bytes(limit);
        })
        .await
        .host_dir
        .clone();
    // The person's own image (here before Gantry needed it) is used first.
    succeeds(&world, &job(&image(), "true")).await;
    succeeds(&world, &job(&a.reference, "true")).await;
    succeeds(&world, &job(&b.reference, "true")).await;
    // A again: now B is the least recently used image.
    succeeds(&world, &job(&a.reference, "true")).await;
    let id = succeeds(&world, &job(&c.reference, "true")).await;
    let log = String::from_utf8(world.log(&id).await).unwrap();
    assert!(log.contains("made room for the image"), "{log}");

    assert!(!present(&b.reference), "B was the least recently used");
    assert!(present(&a.reference) && present(&c.reference));
    assert!(present(&image()), "the person's image is never removed");
    let host = HostDir::open(&host_dir).unwrap();
    let ledger = Ledger::read(&host);
    assert_eq!(ledger.images[&image()].owner, Owner::Person);
    let evicted: Vec<(Kind, &str)> = ledger
        .evictions
        .iter()
        .map(|e| (e.kind, e.name.as_str()))
        .collect();
    assert!(
        evicted.contains(&(Kind::Image, b.reference.as_str())),
        "{evicted:?}"
    );
    // Only finished task folders older than B went before it; nothing after.
    let b_at = evicted
        .iter()
        .position(|e| *e == (Kind::Image, b.reference.as_str()))
        .unwrap();
    assert_eq!(b_at + 1, evicted.len(), "{evicted:?}");
    assert!(
        evicted[..b_at]
            .iter()
            .all(|(kind, _)| *kind == Kind::TaskFolder),
        "{evicted:?}"
    );
    world.stop().await;
    forget(&[&a, &b, &c]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pull_that_cannot_fit_is_given_back_then_fails_and_what_runs_stays() {
    let Some((registry, login)) = registry_login() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let a = build_and_push(&registry, &login, "nofit-a", 4).await;
    let c = build_and_push(&registry, &login, "nofit-c", 12).await;
    // C fits only if A went, and A is in use by a running task.
    let limit = a.size + c.needs / 2;
    assert!(limit > a.needs);
    world
        .agent("nofit", &[], |config| {
            config.registries = vec![login.clone()];
            config.disk = only_bytes(limit);
            config.max_tasks = 2;
        })
        .await;
    let running = world.submit(&job(&a.reference, "sleep 120")).await;
    world
        .until(&running, |t| t.state == TaskState::Running, "to run")
        .await;
    let refused = world.submit(&job(&c.reference, "true")).await;
    let task = world.finished(&refused).await;
    assert_eq!(task.state, TaskState::Failed);
    let reason = task.reason.clone().unwrap();
    let expected = format!(
        "image {} needs {}, the budget leaves ",
        c.reference,
        amount(c.needs)
    );
    assert!(reason.starts_with(&expected), "{reason}");
    // Given back to the queue once (another node could have taken it), then failed here.
    let queued = task
        .history
        .iter()
        .filter(|t| t.state == TaskState::Queued)
        .count();
    assert_eq!(queued, 2, "{:?}", task.history);
    assert!(!present(&c.reference), "nothing of C was pulled");
    assert!(present(&a.reference), "the running task's image stays");
    let still = world.admin.task(&running).await.unwrap();
    assert_eq!(still.state, TaskState::Running);
    world.admin.cancel(&running).await.unwrap();
    world.finished(&running).await;
    world.stop().await;
    forget(&[&a, &c]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kept_results_stay_until_the_hub_has_them() {
    let Some((registry, login)) = registry_login() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let a = build_and_push(&registry, &login, "kept-a", 4).await;
    let c = build_and_push(&registry, &login, "kept-c", 12).await;
    let result_size: u64 = 3_000_000;
    // C fits only if the result goes too (A and the folders are not enough).
    let limit = result_size / 2 + c.needs;
    let host_dir = world
        .agent("kept", &[], |config| {
            config.registries = vec![login.clone()];
            config.disk = only_bytes(limit);
            // WITH_LOCAL_STORAGE: outputs stay on this node; the hub only lists them.
            config.with_local_storage = true;
        })
        .await
        .host_dir
        .clone();
    let kept = succeeds(
        &world,
        &format!(
            "image: {}\ncommand: [sh, -c, 'mkdir out && head -c {result_size} /dev/urandom > out/data.bin']\noutputs: [out]\n",
            a.reference
        ),
    )
    .await;
    let host = HostDir::open(&host_dir).unwrap();
    let result = host.results(&kept).join("out/data.bin");
    assert!(result.is_file());

    let refused = world.submit(&job(&c.reference, "true")).await;
    let task = world.finished(&refused).await;
    assert_eq!(task.state, TaskState::Failed, "{task:?}");
    assert!(
        task.reason
            .as_deref()
            .unwrap()
            .contains("the budget leaves"),
        "{task:?}"
    );
    assert!(result.is_file(), "a result the hub has not got stays");

    // Once the hub holds the same bytes, the result may go like the rest.
    let (sha256, _) = gantry_agent::host::hash_file(&result).await.unwrap();
    world.admin.put_blob_file(&sha256, &result).await.unwrap();
    succeeds(&world, &job(&c.reference, "true")).await;
    assert!(
        !host.results(&kept).exists(),
        "the synced result was evicted"
    );
    let ledger = Ledger::read(&host);
    assert!(
        ledger
            .evictions
            .iter()
            .any(|e| e.kind == Kind::Result && e.name == kept),
        "{:?}",
        ledger.evictions
    );
    // Its blob went with it: nothing else linked it.
    assert!(!host.has_blob(&sha256));
    world.stop().await;
    forget(&[&a, &c]);
}
