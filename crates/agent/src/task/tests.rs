//! The walk without a hub or Docker: a process task from start to end, and
//! resumed tasks entering at their recorded step.

use std::sync::Arc;

use gantry_protocol::TaskState;
use gantry_protocol::wire::Task;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{Outcome, TaskContext, TaskRun, resume, run};
use crate::config::{AgentConfig, Flags};
use crate::executor::{Exit, StreamCounts};
use crate::host::HostDir;
use crate::record::Step;
use crate::spool::Tail;

fn context(dir: &std::path::Path) -> TaskContext {
    let config = AgentConfig::resolve(
        Flags {
            host_dir: Some(dir.to_owned()),
            ..Default::default()
        },
        &|_| None,
        None,
    )
    .unwrap();
    TaskContext {
        host: HostDir::open(dir).unwrap(),
        config: Arc::new(config),
        engine: Err("no Docker in this test".into()),
        hub: None,
        node: "test".into(),
        statsd: None,
        stop: CancellationToken::new(),
        hub_back: Arc::default(),
        gpus: Arc::new(crate::gpus::GpuOwner::reading(&[], || None)),
        log_copy: None,
        metrics: Arc::default(),
    }
}

fn task(id: &str, job: &str) -> Task {
    let spec = gantry_protocol::JobSpec::parse(job, gantry_protocol::job::Format::Yaml).unwrap();
    serde_json::from_value(serde_json::json!({
        "id": id, "name": "x", "state": "assigned", "spec": spec,
        "created_at": 0, "updated_at": 0, "log_size": 0, "outputs": [], "history": [],
        "node": null, "exit_code": null, "reason": null, "started_at": null,
        "finished_at": null, "pending_command": null, "pull_progress": null,
    }))
    .unwrap()
}

fn task_run(task: Task, log_length: watch::Sender<u64>) -> TaskRun {
    TaskRun {
        task,
        cancel: CancellationToken::new(),
        detach: CancellationToken::new(),
        paused: watch::channel(false).1,
        release: watch::channel(None).1,
        state: watch::channel(TaskState::Assigned).0,
        pull: watch::channel(None).0,
        log_length,
        echo: false,
    }
}

#[tokio::test]
async fn a_process_task_walks_to_its_end_and_its_log_is_read_as_it_grows() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let task = task(
        "t1",
        "executor: process\ncommand: [sh, -c, 'echo one; echo two; exit 3']\n\
         epilogue:\n  on_fail: ['echo epilogue']\n",
    );
    let (length, mut announced) = watch::channel(0);
    // A reader that knows the log before its spool exists, as the agent's tail does.
    let task_dir = ctx.host.task_dir("t1");
    let reader = tokio::spawn(async move {
        announced.changed().await.unwrap();
        let path = crate::spool::newest(&task_dir).unwrap();
        let mut tail = Tail::open(&path, 0, Some(announced)).await.unwrap();
        let mut read = Vec::new();
        while let Some(bytes) = tail.next(4).await.unwrap() {
            read.extend_from_slice(&bytes);
        }
        read
    });
    let outcome = run(&ctx, task_run(task, length)).await.unwrap();
    assert_eq!(
        outcome,
        Outcome {
            state: TaskState::Failed,
            exit_code: Some(3),
            reason: Some("exited with code 3".into()),
        }
    );
    assert_eq!(reader.await.unwrap(), b"one\ntwo\nepilogue\n");
}

#[tokio::test]
async fn a_resumed_task_enters_the_walk_at_its_recorded_step() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let process = || task("p", "executor: process\ncommand: [\"true\"]\n");
    let resumed = |task, step| {
        let ctx = ctx.clone();
        async move {
            resume(&ctx, task_run(task, watch::channel(0).0), step)
                .await
                .unwrap()
        }
    };

    let recorded = Outcome {
        state: TaskState::Succeeded,
        exit_code: Some(0),
        reason: None,
    };
    let finishing = Step::Finishing {
        outcome: recorded.clone(),
        usage: None,
    };
    assert_eq!(resumed(process(), finishing).await, recorded);

    let outcome = resumed(process(), Step::Process).await;
    assert_eq!(outcome.state, TaskState::Failed);
    assert!(
        outcome
            .reason
            .unwrap()
            .contains("cannot be picked up again")
    );

    let main = Step::Main {
        base: StreamCounts::default(),
    };
    let outcome = resumed(process(), main).await;
    assert_eq!(
        outcome.reason.as_deref(),
        Some("the task's record names a container, but the task uses the process executor")
    );

    let epilogue = Step::Epilogue {
        base: StreamCounts::default(),
        main: Exit::Code(0),
        note: None,
    };
    let outcome = resumed(task("d", "image: x\n"), epilogue).await;
    assert_eq!(
        outcome.reason.as_deref(),
        Some(
            "the agent restarted and cannot reach Docker to pick the task up again: \
             no Docker in this test"
        )
    );

    // Preparing again: a process task starts over and runs.
    let outcome = resumed(process(), Step::Preparing).await;
    assert_eq!(outcome.state, TaskState::Succeeded);
}

/// The spool's text so far.
fn spool_text(ctx: &TaskContext, id: &str) -> String {
    crate::spool::newest(&ctx.host.task_dir(id))
        .and_then(|path| std::fs::read(path).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_released_task_keeps_its_checkpoint_and_its_next_run_gets_it_back_writable() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    let job = "executor: process\ncheckpoint: ckpt\ncommand: [sh, -c, 'i=$(cat ckpt/step 2>/dev/null || echo 0); \
               echo \"start $i at $GANTRY_CHECKPOINT\"; [ $i -gt 0 ] && echo more >> ckpt/step && exit 0; \
               trap \"echo 5 > ckpt/step; exit 0\" TERM; while true; do sleep 0.1 & wait $!; done']";
    let (release_tx, release) = watch::channel(None);
    let first = TaskRun {
        release,
        ..task_run(task("t-ckpt", job), watch::channel(0).0)
    };
    let walk = tokio::spawn({
        let ctx = ctx.clone();
        async move { run(&ctx, first).await }
    });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while !spool_text(&ctx, "t-ckpt").contains("start 0") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the task never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    release_tx.send(Some("yielding: you play".into())).unwrap();
    let outcome = walk.await.unwrap().unwrap();
    assert_eq!(outcome.state, TaskState::Queued);
    assert_eq!(outcome.reason.as_deref(), Some("yielding: you play"));
    // Forgotten here, but its checkpoint is kept, named by its manifest.
    assert!(!ctx.host.task_dir("t-ckpt").exists());
    let kept = ctx.host.checkpoint("t-ckpt");
    assert_eq!(std::fs::read_to_string(kept.join("step")).unwrap(), "5\n");
    let tree = std::fs::read_to_string(ctx.host.checkpoint_tree("t-ckpt")).unwrap();
    assert_eq!(tree.len(), 64, "{tree}");

    // Assigned again with that checkpoint, after 100 bytes of log at the hub.
    let mut again = task("t-ckpt", job);
    again.checkpoint = Some(format!("tree:{tree}"));
    again.log_size = 100;
    // Without its checkpoint (or a read-only one) the command would loop until SIGTERM.
    let second = run(&ctx, task_run(again, watch::channel(0).0));
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), second)
        .await
        .unwrap_or_else(|_| panic!("the second run did not get its checkpoint back writable"))
        .unwrap();
    assert_eq!(outcome.state, TaskState::Succeeded, "{:?}", outcome.reason);
    let log = spool_text(&ctx, "t-ckpt");
    let work = ctx.host.work_dir("t-ckpt");
    assert!(
        log.starts_with(
            "gantry: this task was released earlier and starts again here, on node test"
        ),
        "{log}"
    );
    assert!(
        log.contains(&format!("start 5 at {}\n", work.join("ckpt").display())),
        "{log}"
    );
    // The task wrote into its checkpoint; the kept copy is not touched.
    assert_eq!(std::fs::read_to_string(kept.join("step")).unwrap(), "5\n");
}

#[tokio::test]
async fn a_gpu_task_gets_its_devices_and_gives_them_back_or_fails_without_nvidia() {
    let dir = tempfile::tempdir().unwrap();
    let job = "executor: process\nresources: {gpus: 1}\ncommand: [sh, -c, 'echo $CUDA_VISIBLE_DEVICES']\n";
    let ctx = context(dir.path());
    let outcome = run(&ctx, task_run(task("none", job), watch::channel(0).0))
        .await
        .unwrap();
    assert_eq!(
        outcome.reason.as_deref(),
        Some(
            "the job asks for GPUs and this node has no NVIDIA GPU \
             (NVML, the NVIDIA driver's library, is not installed or not loaded): \
             run it on a node with one, or install the NVIDIA driver \
             (and, for Docker tasks, the NVIDIA Container Toolkit)"
        )
    );

    let gpu = crate::monitor::GpuDevice {
        index: 0,
        uuid: "GPU-only".into(),
        name: "test".into(),
        free_bytes: 1 << 30,
        total_bytes: 1 << 30,
        temperature_c: None,
        processes: Vec::new(),
    };
    let ctx = TaskContext {
        gpus: Arc::new(crate::gpus::GpuOwner::reading(&[], move || {
            Some(vec![gpu.clone()])
        })),
        ..context(dir.path())
    };
    let (length, announced) = watch::channel(0);
    let outcome = run(&ctx, task_run(task("one", job), length)).await.unwrap();
    assert_eq!(outcome.state, TaskState::Succeeded);
    let path = crate::spool::newest(&ctx.host.task_dir("one")).unwrap();
    let mut tail = Tail::open(&path, 0, Some(announced)).await.unwrap();
    let mut read = Vec::new();
    while let Some(bytes) = tail.next(64).await.unwrap() {
        read.extend_from_slice(&bytes);
    }
    assert_eq!(read, b"GPU-only\n");
    assert!(
        ctx.gpus.held_by("one").is_empty(),
        "given back at finishing"
    );
    assert_eq!(ctx.gpus.capacity_blocking().gpus[0].holders, 0);
}
