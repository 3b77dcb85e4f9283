//! The agent against the real Docker engine and a real hub: every case of a
//! task's life, checked from the outside (the hub's records, the engine's
//! containers, the files on disk).

use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_protocol::wire::OutputStore;
use gantry_testkit::{World, docker, image, registry};
use sha2::Digest;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exit_code_stderr_env_and_files() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo out $GREETING; cat notes/a.txt; echo to-stderr >&2; ./run.sh; exit 3']\n\
             env: {{GREETING: hello, COUNT: 3}}\n\
             files:\n  - {{path: notes/a.txt, content: \"from a file\\n\"}}\n  - {{path: run.sh, content: \"echo script ran\", executable: true}}\n",
            image()
        ))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(task.exit_code, Some(3));
    assert_eq!(task.reason.as_deref(), Some("exited with code 3"));
    let log = String::from_utf8(world.log(&id).await).unwrap();
    for line in ["out hello", "from a file", "to-stderr", "script ran"] {
        assert!(log.contains(line), "{line:?} missing from {log:?}");
    }
    let states: Vec<TaskState> = task.history.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        [
            TaskState::Queued,
            TaskState::Assigned,
            TaskState::Pulling,
            TaskState::Running,
            TaskState::Failed
        ]
    );
    // The container is gone; its labels named the task and node, never the token.
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("label=gantry.task={id}")]),
        ""
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn binary_output_and_a_10_mb_line_arrive_byte_for_byte() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'printf \"a\\000b\\377\\376c\\r\\n\"; head -c 10485760 /dev/zero | tr \"\\000\" x; printf \"\\033[31mred\"']\n",
            image()
        ))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    let log = world.log(&id).await;
    let mut expected = b"a\0b\xff\xfec\r\n".to_vec();
    expected.extend(std::iter::repeat_n(b'x', 10 << 20));
    // stdout alone: Docker reads stdout and stderr apart, so their relative order is not kept.
    expected.extend_from_slice(b"\x1b[31mred");
    assert_eq!(log.len(), expected.len());
    assert!(log == expected, "the hub's log differs from the output");
    assert_eq!(task.log_size, expected.len() as u64);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inputs_in_and_outputs_kept_in_local_storage() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let host_dir = world.agent("box", &[], |_| {}).await.host_dir.clone();
    let data = b"input bytes\n".repeat(1000);
    let sha = hex::encode(sha2::Sha256::digest(&data));
    world
        .admin
        .put_blob(&sha, bytes::Bytes::from(data.clone()))
        .await
        .unwrap();
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'mkdir -p out/deep && cp data/in.txt out/copy.txt && echo more > out/deep/b.txt && touch data/in.txt.w 2>/dev/null; echo -n x >> data/in.txt || echo read-only']\n\
             inputs: {{{sha}: data/in.txt}}\noutputs: [out/, missing.txt]\n",
            image()
        ))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    assert!(
        String::from_utf8(world.log(&id).await)
            .unwrap()
            .contains("read-only"),
        "inputs are mounted read-only"
    );
    assert_eq!(
        task.reason.as_deref(),
        Some("output missing.txt was not found")
    );
    let paths: Vec<&str> = task.outputs.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, ["out/copy.txt", "out/deep/b.txt"]);
    let copy = &task.outputs[0];
    assert_eq!(
        (copy.sha256.as_str(), copy.size, copy.stored),
        (sha.as_str(), data.len() as u64, OutputStore::Node)
    );
    // Kept in the content-addressed store and under the task's results, after the task folder went away.
    let blob = host_dir
        .join("storage/blobs")
        .join(&sha[..2])
        .join(&sha[2..5])
        .join(&sha);
    assert_eq!(std::fs::read(blob).unwrap(), data);
    assert_eq!(
        std::fs::read(
            host_dir
                .join("storage/results")
                .join(&id)
                .join("out/copy.txt")
        )
        .unwrap(),
        data
    );
    assert!(
        !host_dir.join("tasks").join(&id).join("work").exists(),
        "DELETE_TASK_DIR_ON_FINISH removes the work folder"
    );
    assert!(
        host_dir.join("tasks").join(&id).join("logs").is_dir(),
        "the task's log stays"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outputs_uploaded_without_local_storage() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world
        .agent("box", &[], |config| {
            config.with_local_storage = false;
            config.delete_task_dir_on_failure = true;
        })
        .await;
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo result > r.txt; exit 1']\noutputs: [r.txt]\n",
            image()
        ))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(task.outputs.len(), 1);
    assert_eq!(task.outputs[0].stored, OutputStore::Hub);
    let sha = hex::encode(sha2::Sha256::digest(b"result\n"));
    assert_eq!(task.outputs[0].sha256, sha);
    assert_eq!(world.admin.blob_size(&sha).await.unwrap(), Some(7));
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeout_stops_the_task() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sleep, '60']\ntimeout: 1s\n",
            image()
        ))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Failed);
    assert_eq!(
        task.reason.as_deref(),
        Some("stopped after running longer than its timeout of 1s")
    );
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("label=gantry.task={id}")]),
        ""
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_stops_and_removes_the_container() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo started; sleep 60']\n",
            image()
        ))
        .await;
    world
        .until(
            &id,
            |t| t.state == TaskState::Running && t.log_size > 0,
            "to run",
        )
        .await;
    world.admin.cancel(&id).await.unwrap();
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Canceled);
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("label=gantry.task={id}")]),
        ""
    );
    // Canceling again changes nothing.
    assert_eq!(
        world.admin.cancel(&id).await.unwrap().state,
        TaskState::Canceled
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_freezes_the_container_and_resume_continues() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&format!("image: {}\ncommand: [sh, -c, 'for i in $(seq 1 60); do echo line $i; sleep 0.1; done']\n", image()))
        .await;
    world
        .until(&id, |t| t.log_size > 0, "to write output")
        .await;
    world.admin.pause(&id).await.unwrap();
    world
        .until(&id, |t| t.state == TaskState::Paused, "to pause")
        .await;
    assert_eq!(
        docker(&[
            "inspect",
            "-f",
            "{{.State.Paused}}",
            &format!("gantry-{id}")
        ]),
        "true"
    );
    // Lines written just before the freeze may still be on their way to the
    // hub; once they are in, a frozen container adds nothing. A running one
    // writes every 0.1 s, so its log never holds still for a second.
    let mut before = world.admin.task(&id).await.unwrap().log_size;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = world.admin.task(&id).await.unwrap().log_size;
        if now == before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a frozen container writes nothing, yet its log grew to {now} bytes"
        );
        before = now;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        world.admin.task(&id).await.unwrap().log_size,
        before,
        "a frozen container writes nothing"
    );
    world.admin.resume(&id).await.unwrap();
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded);
    let expected: String = (1..=60).map(|i| format!("line {i}\n")).collect();
    assert_eq!(String::from_utf8(world.log(&id).await).unwrap(), expected);
    let states: Vec<TaskState> = task.history.iter().map(|t| t.state).collect();
    assert!(
        states
            .windows(2)
            .any(|w| w == [TaskState::Paused, TaskState::Running]),
        "{states:?}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn labels_route_tasks_and_max_tasks_runs_them_together() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world
        .agent("cpu-box", &["cpu"], |config| config.max_tasks = 2)
        .await;
    world.agent("gpu-box", &["gpu"], |_| {}).await;
    let gpu = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo on gpu']\nlabels: [gpu]\n",
            image()
        ))
        .await;
    assert_eq!(world.finished(&gpu).await.node.as_deref(), Some("gpu-box"));
    let a = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo a; sleep 3']\nlabels: [cpu]\n",
            image()
        ))
        .await;
    let b = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo b; sleep 3']\nlabels: [cpu]\n",
            image()
        ))
        .await;
    world
        .until(&a, |t| t.state == TaskState::Running, "to run")
        .await;
    world
        .until(
            &b,
            |t| t.state == TaskState::Running,
            "to run beside the other",
        )
        .await;
    assert_eq!(
        world.admin.task(&a).await.unwrap().state,
        TaskState::Running,
        "both run at the same time on cpu-box"
    );
    // A third waits for a free slot.
    let c = world
        .submit(&format!(
            "image: {}\ncommand: [echo, c]\nlabels: [cpu]\n",
            image()
        ))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        world.admin.task(&c).await.unwrap().state,
        TaskState::Queued,
        "max_tasks holds it back"
    );
    world.finished(&a).await;
    world.finished(&b).await;
    assert_eq!(world.finished(&c).await.state, TaskState::Succeeded);
    world.stop().await;
}

/// Static busybox cannot resolve names through glibc (no NSS in a scratch
/// image), so the task looks its service up in /etc/hosts, where Gantry
/// writes it and where an ordinary image's resolver finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn services_are_reachable_by_name() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&format!(
            "image: {image}\n\
             command: [sh, -c, 'ip=$(awk \"\\$2 == \\\"web\\\" {{print \\$1}}\" /etc/hosts); for i in $(seq 1 100); do wget -qO- http://$ip:8080/index.html && exit 0; sleep 0.1; done; exit 1']\n\
             services:\n  - {{name: web, image: {image}, command: [sh, -c, 'mkdir -p /www && echo hello-from-service > /www/index.html && httpd -f -p 8080 -h /www']}}\n",
            image = image()
        ))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(
        task.state,
        TaskState::Succeeded,
        "{:?} {}",
        task.reason,
        String::from_utf8_lossy(&world.log(&id).await)
    );
    assert!(
        String::from_utf8(world.log(&id).await)
            .unwrap()
            .contains("hello-from-service")
    );
    // The service and the network went with the task.
    assert_eq!(
        docker(&["ps", "-aq", "--filter", &format!("label=gantry.task={id}")]),
        ""
    );
    assert_eq!(
        docker(&[
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name=gantry-{id}")
        ]),
        ""
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_registry_pull_with_right_and_wrong_password() {
    let Some((address, user, password)) = registry() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let private = format!("{address}/gantry-test/busybox:1");
    let _ = docker(&["rmi", &private]);
    world
        .agent("good", &["good"], |config| {
            config.registries = vec![gantry_agent::docker::RegistryLogin {
                registry: address.clone(),
                login: user.clone(),
                password: password.clone(),
            }];
        })
        .await;
    world
        .agent("bad", &["bad"], |config| {
            config.registries = vec![gantry_agent::docker::RegistryLogin {
                registry: address.clone(),
                login: user.clone(),
                password: "wrong".into(),
            }];
        })
        .await;
    let refused = world
        .submit(&format!(
            "image: {private}\npull: always\ncommand: [echo, hi]\nlabels: [bad]\n"
        ))
        .await;
    let task = world.finished(&refused).await;
    assert_eq!(task.state, TaskState::Failed);
    let reason = task.reason.unwrap();
    assert!(
        reason.contains("refused the login") && reason.contains("DOCKER_PASSWORD"),
        "{reason}"
    );
    assert!(
        !reason.contains("wrong"),
        "the password never appears: {reason}"
    );

    let pulled = world
        .submit(&format!(
            "image: {private}\npull: always\ncommand: [echo, pulled]\nlabels: [good]\n"
        ))
        .await;
    let task = world.finished(&pulled).await;
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    assert_eq!(world.log(&pulled).await, b"pulled\n");

    let missing = world
        .submit(&format!(
            "image: {address}/gantry-test/nope:1\ncommand: [echo]\nlabels: [good]\n"
        ))
        .await;
    let task = world.finished(&missing).await;
    assert_eq!(task.state, TaskState::Failed);
    assert!(
        task.reason
            .as_deref()
            .unwrap()
            .contains("was not found: check its name and tag"),
        "{:?}",
        task.reason
    );
    let _ = docker(&["rmi", &private]);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pull_always_falls_back_to_the_local_copy_when_offline() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world
        .agent("box", &[], |config| config.pull_always = true)
        .await;
    // The test image exists only on this machine: the pull fails (no registry
    // has it), and the local copy runs the task.
    let id = world
        .submit(&format!("image: {}\ncommand: [echo, local]\n", image()))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gpu_task_is_not_offered_to_a_node_without_gpus() {
    // With a GPU but no NVIDIA runtime the task fails saying so: tests/gpus.rs.
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let gpu = world
        .submit(&format!(
            "image: {}\ncommand: [nvidia-smi]\nresources: {{gpus: 1}}\n",
            image()
        ))
        .await;
    // Queued after it: the node took this one, so it passed the GPU task by.
    let cpu = world
        .submit(&format!("image: {}\ncommand: [echo, ok]\n", image()))
        .await;
    assert_eq!(world.finished(&cpu).await.state, TaskState::Succeeded);
    let node = world.admin.nodes().await.unwrap().nodes.remove(0);
    assert_eq!(
        node.capacity.map(|c| c.gpus),
        Some(Vec::new()),
        "the node says it has no GPUs"
    );
    let task = world.admin.task(&gpu).await.unwrap();
    assert_eq!(task.state, TaskState::Queued, "{:?}", task.reason);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn process_executor_and_epilogue() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let host_dir = world.agent("box", &[], |_| {}).await.host_dir.clone();
    let id = world
        .submit(
            "executor: process\ncommand: [sh, -c, 'echo in $(pwd); echo $MODE; env | grep -c GANTRY_TOKEN; exit 2']\n\
             env: {MODE: plain}\n\
             epilogue: {always: ['echo always $GANTRY_TASK_RESULT'], on_fail: ['echo cleanup after $GANTRY_TASK_EXIT_CODE', 'exit 7'], on_pass: ['echo never']}\n",
        )
        .await;
    let task = world.finished(&id).await;
    assert_eq!(
        task.state,
        TaskState::Failed,
        "the epilogue does not change the result"
    );
    assert_eq!(task.exit_code, Some(2));
    assert_eq!(
        task.reason.as_deref(),
        Some("exited with code 2; the epilogue failed with code 7")
    );
    let log = String::from_utf8(world.log(&id).await).unwrap();
    let work = host_dir.join("tasks").join(&id).join("work");
    assert!(
        log.starts_with(&format!("in {}\nplain\n0\n", work.display())),
        "{log}"
    );
    assert!(
        log.contains("always failed\ncleanup after 2\n") && !log.contains("never"),
        "{log}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_image_and_bad_command_fail_with_a_reason() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [/no/such/program]\n",
            image()
        ))
        .await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Failed);
    assert!(task.reason.is_some(), "{task:?}");
    let id = world
        .submit("executor: process\ncommand: [/no/such/program]\n")
        .await;
    let task = world.finished(&id).await;
    assert_eq!(
        task.reason.as_deref(),
        Some("\"/no/such/program\" was not found; check the command and PATH")
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statsd_metrics_are_sent() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    world
        .agent("box", &[], |config| {
            config.statsd = Some(("127.0.0.1".into(), port, "gantry.test".into()))
        })
        .await;
    // pull: always on an image no registry has: the pull fails, the local copy runs.
    let id = world
        .submit(&format!(
            "image: {}\npull: always\ncommand: [echo, hi]\n",
            image()
        ))
        .await;
    assert_eq!(world.finished(&id).await.state, TaskState::Succeeded);
    let mut seen = Vec::new();
    let mut buffer = [0u8; 512];
    while !seen
        .iter()
        .any(|m: &String| m.starts_with("gantry.test.tasks.finished"))
    {
        let n = tokio::time::timeout(Duration::from_secs(30), socket.recv(&mut buffer))
            .await
            .expect("metrics arrive")
            .unwrap();
        seen.push(String::from_utf8_lossy(&buffer[..n]).into_owned());
    }
    for metric in [
        "gantry.test.tasks.started:1|c",
        "gantry.test.docker.pull.failure:1|c",
        "gantry.test.tasks.finished:1|c",
    ] {
        assert!(
            seen.iter().any(|m| m == metric),
            "{metric} missing from {seen:?}"
        );
    }
    assert!(
        seen.iter()
            .any(|m| m.starts_with("gantry.test.docker.pull.duration:") && m.ends_with("|ms")),
        "{seen:?}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn containers_show_their_use_and_pull_progress_clears() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let agent = world.agent("box", &[], |_| {}).await.agent.clone();
    // Busy on one core and holding about 20 MB, for as long as the test needs.
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'x=$(head -c 20000000 /dev/zero | tr \"\\\\0\" a); echo ready; while :; do :; done']\n",
            image()
        ))
        .await;
    world
        .until(&id, |t| t.log_size > 0, "to write output")
        .await;
    let engine = agent.engine().unwrap();
    let listed = engine.containers(None).await.unwrap();
    let main = listed
        .iter()
        .find(|c| c.task_id.as_deref() == Some(id.as_str()))
        .expect("the task's container is listed");
    assert_eq!(
        (main.role.as_str(), main.state.as_str()),
        ("main", "running")
    );
    assert_eq!(main.name, format!("gantry-{id}"));
    assert!(main.cpu_percent.is_some_and(|p| p > 20.0), "{main:?}");
    assert!(
        main.memory_bytes.is_some_and(|m| m > 15_000_000),
        "{main:?}"
    );
    assert!(main.memory_limit_bytes.is_some_and(|l| l > 0));
    let pids = engine.host_pids(&main.id).await;
    assert!(!pids.is_empty() && pids.iter().all(|p| *p > 1), "{pids:?}");
    let held = agent.status().tasks;
    assert!(
        held.iter().all(|t| t.pull.is_none()),
        "no pull after the pull: {held:?}"
    );
    world.admin.cancel(&id).await.unwrap();
    world.finished(&id).await;
    world.stop().await;
}
