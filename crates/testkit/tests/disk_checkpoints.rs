//! Released tasks' checkpoints in the disk budget, against a real hub, a
//! real agent and the real engine: a task releases with its checkpoint
//! (`checkpoints/<task>/` in the host dir), which counts as its own kind;
//! while the task is queued again (the hub may send it back) and while it
//! runs here again, nothing evicts it, however tight the budget; once the
//! task ended, it goes like the rest, `.tree` and all; so it does when the
//! task ended on another node (the hub shows a node the tasks it gave
//! back). A checkpoint whose release is older than the week it awaits its
//! task may go too.

mod disk_images;

use std::time::{Duration, SystemTime};

use disk_images::only_bytes;
use gantry_agent::disk::checkpoints::AWAITS_RETURN_MS;
use gantry_agent::disk::ledger::Ledger;
use gantry_agent::disk::{Item, Kind, Sources, Stay, inventory, room};
use gantry_agent::node::Agent;
use gantry_agent::yielding::{Verdict, YieldAction};
use gantry_protocol::TaskState;
use gantry_testkit::{World, image};

/// The checkpoint of `id` as the node's stock-taking sees it (the hub
/// asked with the node's token, as the agent asks it).
async fn checkpoint_item(agent: &Agent, id: &str) -> Option<Item> {
    let stock = inventory::take(Sources {
        host: agent.host(),
        engine: None,
        hub: Some(agent.hub()),
        evict_unsynced_results: false,
    })
    .await;
    stock
        .items
        .into_iter()
        .find(|i| i.kind == Kind::Checkpoint && i.name == id)
}

/// Brings the node's files within a budget of one byte: all that may go goes.
async fn squeeze(agent: &Agent) -> Vec<Item> {
    room::keep_within(
        Sources {
            host: agent.host(),
            engine: None,
            hub: Some(agent.hub()),
            evict_unsynced_results: false,
        },
        &only_bytes(1),
    )
    .await
}

fn set_released_at(path: &std::path::Path, at: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(at)
        .unwrap();
}

/// Submits a task that writes 2 MB into its checkpoint on its first run
/// and, with the checkpoint, runs `resumed` seconds and succeeds; waits for
/// `agent` to release it back to the queue (it yields, and stays yielding).
async fn released_from(world: &World, agent: &Agent, resumed: u32) -> String {
    // First run: 2 MB into its checkpoint, then waits to be released (TERM
    // ends it). Second run, with the checkpoint: a while running, then done.
    let script = format!(
        "if [ -f ckpt/data ]; then sleep {resumed}; echo resumed; exit 0; fi; \
         mkdir -p ckpt; head -c 2000000 /dev/urandom > ckpt/data; \
         trap 'exit 0' TERM; echo written; while true; do sleep 0.2 & wait $!; done"
    );
    let id = world
        .submit(&format!(
            "image: {}\ncheckpoint: ckpt\ncommand: [sh, -c, {}]\n",
            image(),
            serde_json::to_string(&script).unwrap()
        ))
        .await;
    world
        .until(
            &id,
            |t| t.state == TaskState::Running && t.log_size > 0,
            "to write its checkpoint",
        )
        .await;
    agent.yield_to(Some(Verdict {
        reason: "you are using this computer".into(),
        gpu_only: false,
        action: YieldAction::Release,
        since: 1,
    }));
    world
        .until(&id, |t| t.state == TaskState::Queued, "back to the queue")
        .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkpoint_stays_while_its_task_may_come_back_and_goes_once_it_ended() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let agent = world
        .agent("ckpt", &[], |c| c.yielding.grace = Duration::from_secs(5))
        .await
        .agent
        .clone();
    let id = released_from(&world, &agent, 3).await;
    let folder = agent.host().checkpoint(&id);
    let tree = agent.host().checkpoint_tree(&id);
    assert!(folder.join("data").is_file() && tree.is_file());

    // Queued again: it may come back here.
    let item = checkpoint_item(&agent, &id)
        .await
        .expect("the checkpoint counts");
    assert!(item.size >= 2_000_000, "{item:?}");
    assert_eq!(item.stay, Some(Stay::MayReturn), "{item:?}");
    let evicted = squeeze(&agent).await;
    assert!(
        evicted.iter().all(|i| i.kind != Kind::Checkpoint),
        "{evicted:?}"
    );
    assert!(
        folder.join("data").is_file(),
        "a queued task's checkpoint stays"
    );

    // Released more than a week ago and still not given back to this node: it may go.
    let week_ago = SystemTime::now() - Duration::from_millis(AWAITS_RETURN_MS as u64 + 60_000);
    set_released_at(&tree, week_ago);
    assert_eq!(checkpoint_item(&agent, &id).await.unwrap().stay, None);
    set_released_at(&tree, SystemTime::now());

    // Back to this node: held, so it stays while the task runs.
    agent.yield_to(None);
    world
        .until(
            &id,
            |t| t.state == TaskState::Running && t.node.as_deref() == Some("ckpt"),
            "to run again here",
        )
        .await;
    assert_eq!(
        checkpoint_item(&agent, &id).await.unwrap().stay,
        Some(Stay::InUse)
    );
    squeeze(&agent).await;
    assert!(
        folder.join("data").is_file(),
        "a held task's checkpoint stays"
    );

    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    let log = String::from_utf8(world.log(&id).await).unwrap();
    assert!(
        log.contains("resumed"),
        "the second run had its checkpoint: {log}"
    );

    // Ended: the hub says so to this node, and the checkpoint goes like the rest.
    assert_eq!(checkpoint_item(&agent, &id).await.unwrap().stay, None);
    let evicted = squeeze(&agent).await;
    assert!(
        evicted
            .iter()
            .any(|i| i.kind == Kind::Checkpoint && i.name == id),
        "{evicted:?}"
    );
    assert!(!folder.exists() && !tree.exists());
    let ledger = Ledger::read(agent.host());
    assert!(
        ledger
            .evictions
            .iter()
            .any(|e| e.kind == Kind::Checkpoint && e.name == id),
        "{:?}",
        ledger.evictions
    );
    assert_eq!(
        serde_json::to_value(Kind::Checkpoint).unwrap(),
        "checkpoints",
        "the Storage screen's kind"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkpoint_goes_once_its_task_ended_on_another_node() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let gave = world
        .agent("gave", &[], |c| c.yielding.grace = Duration::from_secs(5))
        .await
        .agent
        .clone();
    let id = released_from(&world, &gave, 6).await;
    let folder = gave.host().checkpoint(&id);
    assert!(folder.join("data").is_file());

    // Another node takes it (the first still yields): while it runs there,
    // it may yet come back, and its checkpoint here stays.
    world.agent("took", &[], |_| {}).await;
    world
        .until(
            &id,
            |t| t.state == TaskState::Running && t.node.as_deref() == Some("took"),
            "to run on the other node",
        )
        .await;
    assert_eq!(
        checkpoint_item(&gave, &id).await.unwrap().stay,
        Some(Stay::MayReturn)
    );
    squeeze(&gave).await;
    assert!(folder.join("data").is_file(), "it may come back");

    // Ended there: this node hears it from the hub and lets the copy go,
    // without waiting out the week.
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    assert_eq!(checkpoint_item(&gave, &id).await.unwrap().stay, None);
    let evicted = squeeze(&gave).await;
    assert!(
        evicted
            .iter()
            .any(|i| i.kind == Kind::Checkpoint && i.name == id),
        "{evicted:?}"
    );
    assert!(!folder.exists());
    world.stop().await;
}
