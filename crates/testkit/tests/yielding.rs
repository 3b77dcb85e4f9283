//! The node yielding to its person, against the real Docker engine and a
//! real hub: freezing (and thawing only what yielding froze), releasing a
//! task that writes its checkpoint on SIGTERM and continues from it on
//! another node, GPU-only yields that keep CPU work running, and what
//! `gantry agent status --json` says meanwhile. The rules that decide to
//! yield are tested in the agent's `yielding` module; here the verdicts are
//! given to `Agent::yield_to` directly.

use std::path::PathBuf;
use std::time::Duration;

use gantry_agent::node::Agent;
use gantry_agent::yielding::{Verdict, YieldAction};
use gantry_protocol::TaskState;
use gantry_protocol::admin::NodeState;
use gantry_testkit::{World, docker, image};
use tokio_util::sync::CancellationToken;

fn verdict(reason: &str, gpu_only: bool, action: YieldAction) -> Option<Verdict> {
    Some(Verdict {
        reason: reason.into(),
        gpu_only,
        action,
        since: 1,
    })
}

fn engine_paused(id: &str) -> String {
    docker(&[
        "inspect",
        "-f",
        "{{.State.Paused}}",
        &format!("gantry-{id}"),
    ])
}

/// `gantry agent status --json` for the agent of `host_dir`, through its control socket.
async fn status_json(host_dir: &std::path::Path) -> serde_json::Value {
    let host_dir = host_dir.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(gantry_testkit::drive::built_gantry())
            .args(["agent", "status", "--json", "--host-dir"])
            .arg(&host_dir)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const LOOP: &str =
    "command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done']";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_freeze_thaws_only_what_yielding_froze() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let running = world.agent("box", &[], |c| c.max_tasks = 2).await;
    let (agent, host_dir): (Agent, PathBuf) = (running.agent.clone(), running.host_dir.clone());
    let control = CancellationToken::new();
    let socket = tokio::spawn(gantry_agent::control::serve(agent.clone(), control.clone()));
    let mine = world.submit(&format!("image: {}\n{LOOP}\n", image())).await;
    let theirs = world.submit(&format!("image: {}\n{LOOP}\n", image())).await;
    for id in [&mine, &theirs] {
        world.until(id, |t| t.log_size > 0, "to write output").await;
    }
    // The person paused one task by hand.
    world.admin.pause(&mine).await.unwrap();
    world
        .until(&mine, |t| t.state == TaskState::Paused, "to pause")
        .await;

    agent.yield_to(verdict(
        "you are using this computer",
        false,
        YieldAction::Freeze,
    ));
    world
        .until(&theirs, |t| t.state == TaskState::Paused, "to freeze")
        .await;
    assert_eq!(engine_paused(&theirs), "true");
    let status = agent.status();
    assert_eq!(status.state, NodeState::Yielding);
    assert_eq!(
        status.yield_reason.as_deref(),
        Some("you are using this computer")
    );
    let json = status_json(&host_dir).await;
    assert_eq!(json["state"], "yielding", "{json}");
    assert_eq!(
        json["yield_reason"], "you are using this computer",
        "{json}"
    );
    assert_eq!(json["yielding"]["gpu_only"], false, "{json}");

    agent.yield_to(None);
    world
        .until(&theirs, |t| t.state == TaskState::Running, "to run again")
        .await;
    assert_eq!(engine_paused(&theirs), "false");
    let before = world.admin.task(&theirs).await.unwrap().log_size;
    world
        .until(&theirs, |t| t.log_size > before, "to write again")
        .await;
    // The person's own pause is not undone by the yield's end.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.admin.task(&mine).await.unwrap().state,
        TaskState::Paused
    );
    assert_eq!(engine_paused(&mine), "true");
    assert_eq!(agent.status().state, NodeState::Online);
    assert_eq!(status_json(&host_dir).await["state"], "online");

    // The hub shows the node yielding, with the reason, from its heartbeat.
    agent.yield_to(verdict("blender uses the GPU", false, YieldAction::Freeze));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let node = world.admin.node("box").await.unwrap();
        if node.state == NodeState::Yielding {
            assert_eq!(node.yield_reason.as_deref(), Some("blender uses the GPU"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub never showed the node yielding: {node:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    control.cancel();
    socket.await.unwrap().unwrap();
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_released_task_continues_from_its_checkpoint_on_another_node() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let first = world
        .agent("first", &[], |c| c.yielding.grace = Duration::from_secs(5))
        .await
        .agent
        .clone();
    // Counts on from the checkpoint's step; on SIGTERM writes where it is and exits.
    // `shown` is the last step printed, so the checkpoint never skips or repeats one.
    let script = "mkdir -p ckpt; i=$(cat ckpt/step 2>/dev/null || echo 0); shown=$i; \
                  echo \"start at $i (checkpoint $GANTRY_CHECKPOINT)\"; \
                  trap 'echo $shown > ckpt/step; echo saved $shown; exit 0' TERM; \
                  while [ $i -lt 30 ]; do i=$((i+1)); echo step $i; shown=$i; sleep 0.2 & wait $!; done; echo done at $i";
    let id = world
        .submit(&format!(
            "image: {}\ncheckpoint: ckpt\ncommand: [sh, -c, {}]\n",
            image(),
            serde_json::to_string(script).unwrap()
        ))
        .await;
    world
        .until(
            &id,
            |t| t.state == TaskState::Running && t.log_size > 40,
            "to run a few steps",
        )
        .await;
    first.yield_to(verdict(
        "you are using this computer",
        false,
        YieldAction::Release,
    ));
    let queued = world
        .until(&id, |t| t.state == TaskState::Queued, "back to the queue")
        .await;
    let why = queued
        .history
        .iter()
        .rev()
        .find(|t| t.state == TaskState::Queued)
        .unwrap();
    assert_eq!(
        why.reason.as_deref(),
        Some("yielding: you are using this computer"),
        "{:?}",
        queued.history
    );
    let checkpoint = queued
        .checkpoint
        .clone()
        .expect("the hub keeps the checkpoint");
    assert!(checkpoint.starts_with("tree:"), "{checkpoint}");
    assert!(!first.holds(&id));
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("label=gantry.task={id}")]),
        ""
    );
    // The first node takes nothing while it yields: the task stays queued.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        world.admin.task(&id).await.unwrap().state,
        TaskState::Queued
    );

    world.agent("second", &[], |_| {}).await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    assert_eq!(task.node.as_deref(), Some("second"));
    let log = String::from_utf8(world.log(&id).await).unwrap();
    let saved: u32 = log
        .lines()
        .find_map(|l| l.strip_prefix("saved "))
        .unwrap_or_else(|| panic!("no checkpoint written:\n{log}"))
        .parse()
        .unwrap();
    assert!(saved > 0, "{log}");
    // Both runs, in order, each byte once: the first run up to its save,
    // the release, then the second run from the checkpoint's step to the end.
    let first_run: String = (1..=saved).map(|i| format!("step {i}\n")).collect();
    let second_run: String = (saved + 1..=30).map(|i| format!("step {i}\n")).collect();
    let at = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in:\n{log}"))
    };
    assert!(
        log.starts_with("start at 0 (checkpoint /task/ckpt)\n"),
        "{log}"
    );
    assert!(log.contains(&first_run), "{log}");
    assert!(
        at(&format!("saved {saved}\n"))
            < at("gantry: released (yielding: you are using this computer)"),
        "{log}"
    );
    assert!(
        at("gantry: released") < at("starts again here, on node second"),
        "{log}"
    );
    assert!(
        at("starts again here") < at(&format!("start at {saved} (checkpoint /task/ckpt)\n")),
        "{log}"
    );
    assert!(log.ends_with(&format!("{second_run}done at 30\n")), "{log}");
    assert_eq!(log.matches("step 1\n").count(), 1, "{log}");

    // The first node's run counts for it, as a run given back, with the
    // checkpoint it uploaded; the task's usage adds both runs.
    let given = world.admin.node_usage("first", 0).await.unwrap().totals;
    assert_eq!((given.tasks, given.released_runs), (0, 1), "{given:?}");
    assert!(given.wall_seconds > 0.0, "{given:?}");
    assert!(
        given.bytes_uploaded > 0,
        "the checkpoint's upload: {given:?}"
    );
    let ended = world.admin.node_usage("second", 0).await.unwrap().totals;
    assert_eq!((ended.tasks, ended.released_runs), (1, 0), "{ended:?}");
    let all = task.usage.expect("the task's usage");
    assert!(
        (all.wall_seconds - (given.wall_seconds + ended.wall_seconds)).abs() < 1e-6,
        "{all:?}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gpu_only_yield_keeps_cpu_work_running_and_holds_gpu_work_back() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let agent = world
        .agent("box", &[], |c| c.max_tasks = 3)
        .await
        .agent
        .clone();
    let cpu = world.submit(&format!("image: {}\n{LOOP}\n", image())).await;
    world
        .until(&cpu, |t| t.log_size > 0, "to write output")
        .await;
    agent.yield_to(verdict("blender uses the GPU", true, YieldAction::Freeze));
    assert_eq!(agent.status().state, NodeState::Yielding);
    let gpu = world
        .submit(&format!(
            "image: {}\nresources: {{gpus: 1}}\ncommand: [echo, gpu]\n",
            image()
        ))
        .await;
    let other = world
        .submit(&format!("image: {}\ncommand: [echo, cpu]\n", image()))
        .await;
    // New CPU work is still taken and runs; the CPU task is not frozen.
    assert_eq!(world.finished(&other).await.state, TaskState::Succeeded);
    let before = world.admin.task(&cpu).await.unwrap().log_size;
    world
        .until(
            &cpu,
            |t| t.log_size > before && t.state == TaskState::Running,
            "to keep running",
        )
        .await;
    // The GPU task is not started while the node yields GPU work.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held_back = world.admin.task(&gpu).await.unwrap();
    assert!(
        matches!(held_back.state, TaskState::Queued | TaskState::Assigned),
        "{held_back:?}"
    );
    world.admin.cancel(&gpu).await.unwrap();
    world.admin.cancel(&cpu).await.unwrap();
    world.finished(&cpu).await;
    world.stop().await;
}
