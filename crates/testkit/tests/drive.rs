//! `gantry drive` end to end: the built `gantry` binary, real python3, a
//! real hub and agent, the real Docker engine. Each test writes the user's
//! code (or a shell program), runs the driver to its end and checks what
//! the hub holds, what the user code saw and how the driver exited.

use std::collections::BTreeMap;
use std::path::Path;

use gantry_protocol::TaskState;
use gantry_protocol::wire::Task;
use gantry_testkit::World;
use gantry_testkit::drive::DriveRun;
use nix::sys::signal::Signal;
use serde_json::Value;

/// A world with one agent, and a folder for the user's files.
async fn world() -> Option<(World, tempfile::TempDir)> {
    let mut world = World::start().await?;
    world.agent("box", &[], |_| {}).await;
    Some((world, tempfile::tempdir().unwrap()))
}

/// Every task on the hub, oldest first, with its history.
async fn tasks(world: &World) -> Vec<Task> {
    let mut all = Vec::new();
    for task in world.admin.tasks(None, Some(1000)).await.unwrap() {
        all.push(world.admin.task(&task.id).await.unwrap());
    }
    all.reverse();
    all
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

/// The lines of a JSON-lines file the user code wrote.
fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// The seed's example: four jobs from a list, one per call; the driver
/// exits 0 by itself once they have run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_seed_example_runs_to_the_end() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import os
image = os.environ['GANTRY_TEST_IMAGE']
jobs_to_submit = [
    {'command': ['sh', '-c', 'echo model run'], 'image': image},
    {'command': ['sh', '-c', 'echo model run'], 'image': image},
    {'command': ['sh', '-c', 'echo model run'], 'image': image},
    {'command': ['sh', '-c', 'echo model run'], 'image': image}
]

def user_create(agent):
    global jobs_idx, jobs_to_submit
    if jobs_to_submit:
        return [jobs_to_submit.pop()]
    return None

def user_update(agent, jobs):
    print('an update', len(jobs))
"#,
    );
    let run = DriveRun::start(
        &world,
        dir.path(),
        "seed",
        &["-c", "usercode.py", "--monitor", "127.0.0.1:0"],
    );
    let ended = run.ended(120).await;
    assert_eq!(ended.status.code(), Some(0), "{}", ended.stderr);
    let tasks = tasks(&world).await;
    assert_eq!(tasks.len(), 4, "{}", ended.stderr);
    let mut ordinals: Vec<String> = Vec::new();
    for task in &tasks {
        assert_eq!(task.state, TaskState::Succeeded);
        assert!(task.spec.env["GANTRY_DRIVE"].starts_with("usercode-"));
        ordinals.push(task.spec.env["GANTRY_DRIVE_JOB"].clone());
    }
    assert_eq!(ordinals, ["0", "1", "2", "3"]);
    assert!(
        ended.stdout.contains("4 jobs: 4 succeeded"),
        "{}",
        ended.stdout
    );
    // The user's print went to stderr, not into the protocol.
    assert!(ended.stderr.contains("an update"), "{}", ended.stderr);
    world.stop().await;
}

/// `[]` twice, then jobs, then `None`; `user_update` sees every state change
/// of every job, in order, exactly as the hub's history has them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn empty_answers_wait_and_every_change_is_seen_in_order() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import json, os
image = os.environ['GANTRY_TEST_IMAGE']
calls = 0

def user_create(agent):
    global calls
    calls += 1
    with open('creates.jsonl', 'a') as f:
        f.write(json.dumps({'call': calls, 'total': agent.counts['total']}) + '\n')
    if calls <= 2:
        return []
    if calls == 3:
        return [{'command': ['sh', '-c', 'sleep 1'], 'image': image, 'name': 'first'},
                {'command': ['sh', '-c', 'exit 0'], 'image': image, 'name': 'second'}]
    return None

def user_update(agent, jobs):
    with open('updates.jsonl', 'a') as f:
        for job in jobs:
            f.write(json.dumps(job) + '\n')
"#,
    );
    let run = DriveRun::start(
        &world,
        dir.path(),
        "empty",
        &["-c", "usercode.py", "--monitor", "off", "--interval", "0.5"],
    );
    let ended = run.ended(120).await;
    assert_eq!(ended.status.code(), Some(0), "{}", ended.stderr);
    let creates = json_lines(&dir.path().join("creates.jsonl"));
    assert_eq!(creates.len(), 4, "{creates:?}");
    assert!(creates[..3].iter().all(|c| c["total"] == 0));
    assert_eq!(creates[3]["total"], 2);
    let updates = json_lines(&dir.path().join("updates.jsonl"));
    let tasks = tasks(&world).await;
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        let seen: Vec<&str> = updates
            .iter()
            .filter(|u| u["id"] == task.id.as_str())
            .map(|u| u["state"].as_str().unwrap())
            .collect();
        let history: Vec<&str> = task.history.iter().map(|t| t.state.as_str()).collect();
        assert_eq!(seen, history, "{updates:?}");
        assert!(history.len() >= 4, "{history:?}");
        let last = updates
            .iter()
            .rfind(|u| u["id"] == task.id.as_str())
            .unwrap();
        assert_eq!(last["exit_code"], 0);
        assert_eq!(last["node"], "box");
        assert!(last["started"].as_i64().is_some() && last["ended"].as_i64().is_some());
        assert_eq!(last["spec"]["name"], task.spec.name.as_deref().unwrap());
    }
    // In order across jobs too: the hub's times never go backwards.
    let mut times = Vec::new();
    for update in &updates {
        let task = tasks
            .iter()
            .find(|t| t.id == update["id"].as_str().unwrap())
            .unwrap();
        let step = task
            .history
            .iter()
            .find(|t| t.state.as_str() == update["state"].as_str().unwrap())
            .unwrap();
        times.push(step.at);
    }
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    world.stop().await;
}

/// A job that fails makes the exit 1, and the summary says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_job_exits_1() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import os
image = os.environ['GANTRY_TEST_IMAGE']
todo = [{'command': ['sh', '-c', 'exit 0'], 'image': image}, {'command': ['sh', '-c', 'exit 3'], 'image': image}]
def user_create(agent):
    return todo and [todo.pop()] or None
def user_update(agent, jobs):
    pass
"#,
    );
    let ended = DriveRun::start(
        &world,
        dir.path(),
        "fail",
        &["-c", "usercode.py", "--monitor", "off"],
    )
    .ended(120)
    .await;
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    assert!(ended.stdout.contains("exit 3"), "{}", ended.stdout);
    assert!(ended.stdout.contains("1 failed"), "{}", ended.stdout);
    world.stop().await;
}

/// An exception in user code: the traceback on stderr, exit 2, and the
/// jobs left running (the default, which says so) or canceled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_exception_in_user_code_stops_with_the_traceback() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import os
image = os.environ['GANTRY_TEST_IMAGE']
made = False
def user_create(agent):
    global made
    if made:
        return []
    made = True
    return [{'command': ['sh', '-c', 'sleep 60'], 'image': image}]
def user_update(agent, jobs):
    if any(job['state'] == 'running' for job in jobs):
        raise ValueError('boom in user_update')
"#,
    );
    for (tag, flags, canceled) in [
        ("leave", &[][..], false),
        ("cancel", &["--on-error", "cancel"][..], true),
    ] {
        let mut args = vec!["-c", "usercode.py", "--monitor", "off", "--name", tag];
        args.extend_from_slice(flags);
        let ended = DriveRun::start(&world, dir.path(), tag, &args)
            .ended(120)
            .await;
        assert_eq!(ended.status.code(), Some(2), "{}", ended.stderr);
        assert!(ended.stderr.contains("Traceback"), "{}", ended.stderr);
        assert!(
            ended.stderr.contains("ValueError: boom in user_update"),
            "{}",
            ended.stderr
        );
        let task = tasks(&world)
            .await
            .into_iter()
            .find(|t| t.spec.env["GANTRY_DRIVE"] == tag)
            .unwrap();
        if canceled {
            assert!(ended.stderr.contains("were canceled"), "{}", ended.stderr);
            let task = world.finished(&task.id).await;
            assert_eq!(task.state, TaskState::Canceled);
        } else {
            assert!(
                ended.stderr.contains("--on-error leave, the default"),
                "{}",
                ended.stderr
            );
            assert!(!task.state.is_terminal(), "{task:?}");
            world.admin.cancel(&task.id).await.unwrap();
        }
    }
    world.stop().await;
}

/// `--max-running 2`: five jobs, never more than two in flight, and two
/// did run at once (so the limit, not the agent, held them back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_running_limits_the_jobs_in_flight() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import os
image = os.environ['GANTRY_TEST_IMAGE']
left = 5
def user_create(agent):
    global left
    if left == 0:
        return None
    left -= 1
    return [{'command': ['sh', '-c', 'sleep 2'], 'image': image}]
def user_update(agent, jobs):
    pass
"#,
    );
    let ended = DriveRun::start(
        &world,
        dir.path(),
        "max",
        &[
            "-c",
            "usercode.py",
            "--monitor",
            "off",
            "--max-running",
            "2",
        ],
    )
    .ended(180)
    .await;
    assert_eq!(ended.status.code(), Some(0), "{}", ended.stderr);
    let tasks = tasks(&world).await;
    assert_eq!(tasks.len(), 5);
    // In flight: from submission to the end, as the hub recorded them.
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for task in &tasks {
        edges.push((task.created_at, 1));
        edges.push((task.finished_at.unwrap(), -1));
    }
    edges.sort();
    let (mut now, mut most) = (0, 0);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    assert_eq!(most, 2, "{tasks:?}");
    world.stop().await;
}

/// Killed with SIGKILL after two of three jobs, started again: it finds the
/// two on the hub, submits only the third, and ends with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_and_restart_submits_nothing_twice() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import os, time
image = os.environ['GANTRY_TEST_IMAGE']
n = 0
def user_create(agent):
    global n
    if n == 3:
        return None
    if n == 2 and not os.path.exists('go'):
        time.sleep(0.2)
        return []
    n += 1
    return [{'command': ['sh', '-c', 'sleep 2; echo job %d' % n], 'image': image}]
def user_update(agent, jobs):
    pass
"#,
    );
    let args = ["-c", "usercode.py", "--monitor", "off", "--interval", "0.2"];
    let mut first = DriveRun::start(&world, dir.path(), "first", &args);
    gantry_testkit::until(60, "two jobs on the hub", async || {
        (tasks(&world).await.len() == 2).then_some(())
    })
    .await;
    first.process.signal(Signal::SIGKILL);
    assert!(first.process.exited(10).await.is_some());
    write(dir.path(), "go", "");
    let ended = DriveRun::start(&world, dir.path(), "again", &args)
        .ended(120)
        .await;
    assert_eq!(ended.status.code(), Some(0), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("2 jobs of an earlier run"),
        "{}",
        ended.stderr
    );
    assert_eq!(
        ended.stderr.matches("not submitted again").count(),
        2,
        "{}",
        ended.stderr
    );
    let tasks = tasks(&world).await;
    let ordinals: BTreeMap<String, usize> = tasks.iter().fold(BTreeMap::new(), |mut seen, t| {
        *seen
            .entry(t.spec.env["GANTRY_DRIVE_JOB"].clone())
            .or_default() += 1;
        seen
    });
    assert_eq!(
        ordinals,
        BTreeMap::from([("0".into(), 1), ("1".into(), 1), ("2".into(), 1)])
    );
    assert!(
        tasks.iter().all(|t| t.state == TaskState::Succeeded),
        "{tasks:?}"
    );
    world.stop().await;
}

/// A raw HTTP/1.1 call to the monitor: (status, body).
async fn http(url: &str, method: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.request(method.parse().unwrap(), format!("{url}{path}"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// `gantry drive kill ADDR`, with the drive's runtime folder.
fn kill_command(dir: &Path, addr: &str) -> std::process::Command {
    let mut command = std::process::Command::new(gantry_testkit::drive::built_gantry());
    command
        .args(["drive", "kill", addr])
        .env("XDG_RUNTIME_DIR", dir.join("runtime"));
    command
}

/// `GET /jobs` shows a job's env names, not its values; `POST /kill`
/// without the token is refused and the driver goes on; with it (`gantry
/// drive kill ADDR` reads the token file) the driver stops, exits 1,
/// cancels its jobs (`--cancel-on-kill`) and removes the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_needs_the_monitor_token() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import os
image = os.environ['GANTRY_TEST_IMAGE']
made = False
def user_create(agent):
    global made
    if made:
        return []
    made = True
    return [{'command': ['sh', '-c', 'sleep 60'], 'image': image,
             'env': {'API_KEY': 'sekrit-' + 'value'}}]
def user_update(agent, jobs):
    pass
"#,
    );
    let run = DriveRun::start(
        &world,
        dir.path(),
        "kill",
        &[
            "-c",
            "usercode.py",
            "--monitor",
            "127.0.0.1:0",
            "--cancel-on-kill",
        ],
    );
    let url = run.monitor().await;
    let addr = url.trim_start_matches("http://").to_owned();
    let jobs = gantry_testkit::until(60, "the job on /jobs", async || {
        let (status, body) = http(&url, "GET", "/jobs", None).await;
        assert_eq!(status, 200);
        let board: Value = serde_json::from_str(&body).unwrap();
        (board["jobs"].as_array().unwrap().len() == 1).then_some(board)
    })
    .await;
    assert_eq!(jobs["console"], format!("{}/", world.url));
    // The job's environment shows its names, not its values.
    assert_eq!(jobs["jobs"][0]["spec"]["env"]["API_KEY"], "(hidden)");
    assert!(!jobs.to_string().contains("sekrit-value"), "{jobs}");
    let (status, page) = http(&url, "GET", "/", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<table"));
    let token_files: Vec<_> = std::fs::read_dir(run.runtime_dir.join("gantry"))
        .unwrap()
        .collect();
    assert_eq!(token_files.len(), 1);
    // Without the token, or with a wrong one: refused, and it runs on.
    for bearer in [None, Some("not-the-token")] {
        let (status, body) = http(&url, "POST", "/kill", bearer).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("\"code\":\"unauthorized\""), "{body}");
    }
    let (status, _) = http(&url, "GET", "/nowhere", None).await;
    assert_eq!(status, 404);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(http(&url, "GET", "/jobs", None).await.0, 200);
    // With it.
    let kill = kill_command(dir.path(), &addr).output().unwrap();
    assert!(
        kill.status.success(),
        "{}",
        String::from_utf8_lossy(&kill.stderr)
    );
    let ended = run.ended(60).await;
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("killed by the monitor's /kill"),
        "{}",
        ended.stderr
    );
    let id = jobs["jobs"][0]["id"].as_str().unwrap();
    assert_eq!(world.finished(id).await.state, TaskState::Canceled);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("runtime/gantry"))
        .unwrap()
        .collect();
    assert!(
        left.is_empty(),
        "the token file is removed on exit: {left:?}"
    );
    // Nothing listens any more; the kill command says so.
    let again = DriveRun::command(&world, dir.path(), &["kill", &addr])
        .output()
        .unwrap();
    assert!(!again.status.success());
    world.stop().await;
}

/// The JSON-lines protocol from a shell script: it gets the hello line (the
/// token on its stdin, never in its environment), answers create with jobs
/// and then null, and update with `{}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shell_script_speaks_the_protocol() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "jobs.sh",
        r#"#!/bin/sh
env > env.txt
read -r hello
printf '%s\n' "$hello" > hello.json
n=0
while read -r line; do
  case "$line" in
    *'"type":"create"'*)
      if [ "$n" -lt 2 ]; then
        n=$((n + 1))
        printf '[{"image": "%s", "command": ["sh", "-c", "echo shell job %s"]}]\n' "$GANTRY_TEST_IMAGE" "$n"
      else
        echo null
      fi ;;
    *'"type":"update"'*)
      printf '%s\n' "$line" >> updates.jsonl
      echo '{}' ;;
    *) echo '{}' ;;
  esac
done
"#,
    );
    let ended = DriveRun::start(
        &world,
        dir.path(),
        "shell",
        &["--monitor", "off", "--", "sh", "jobs.sh"],
    )
    .ended(120)
    .await;
    assert_eq!(ended.status.code(), Some(0), "{}", ended.stderr);
    let tasks = tasks(&world).await;
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t.state == TaskState::Succeeded));
    let hello: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("hello.json")).unwrap())
            .unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["server"], world.url);
    assert_eq!(hello["token"], world.admin_token);
    let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
    assert!(
        !env.contains(&world.admin_token),
        "the token is in the program's environment"
    );
    let updates = json_lines(&dir.path().join("updates.jsonl"));
    let last = updates.last().unwrap();
    assert_eq!(last["type"], "update");
    assert_eq!(last["agent"]["counts"]["succeeded"], 2, "{last}");
    world.stop().await;
}

/// What a usage-error case adds to its flags: a hub (never reached) and,
/// unless it names one, no monitor.
fn extra(args: &[&str]) -> Vec<&'static str> {
    let mut extra = Vec::new();
    if args.first() != Some(&"kill") {
        extra.extend(["--server", "http://127.0.0.1:9", "--token", "t"]);
        if !args.contains(&"--monitor") {
            extra.extend(["--monitor", "off"]);
        }
    }
    extra
}

/// Usage errors exit 2 with a sentence saying what to fix; none needs a hub.
#[test]
fn usage_errors_exit_2_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "usercode.py",
        "def user_create(agent):\n    return None\n",
    );
    for (args, said) in [
        (&[][..], "say what makes the jobs"),
        (
            &["-c", "missing.py"][..],
            "cannot read the user code missing.py",
        ),
        (
            &["-c", "usercode.py", "--on-error", "maybe"][..],
            "is not cancel or leave",
        ),
        (
            &["-c", "usercode.py", "--interval", "0"][..],
            "give more than 0",
        ),
        (
            &["-c", "usercode.py", "--monitor", "nowhere"][..],
            "for the monitor",
        ),
        (
            &["-c", "usercode.py", "--name", " "][..],
            "give a name of printable characters",
        ),
        (
            &["-c", "usercode.py"][..],
            "stopped on a hub error: cannot reach the hub at http://127.0.0.1:9",
        ),
        (
            &["kill", "127.0.0.1:9"][..],
            "no driver's monitor token for 127.0.0.1:9",
        ),
    ] {
        let output = std::process::Command::new(gantry_testkit::drive::built_gantry())
            .arg("drive")
            .args(args)
            .args(extra(args))
            .env("XDG_RUNTIME_DIR", dir.path().join("runtime"))
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        if args.first() != Some(&"kill") {
            assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        } else {
            assert!(!output.status.success());
        }
    }
}

/// SIGTERM (as Ctrl-C) stops the driver with exit 1 and leaves its jobs
/// running for the next run, which it says.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_and_leaves_the_jobs() {
    let Some((world, dir)) = world().await else {
        return;
    };
    write(
        dir.path(),
        "usercode.py",
        r#"import os
image = os.environ['GANTRY_TEST_IMAGE']
made = False
def user_create(agent):
    global made
    if made:
        return []
    made = True
    return [{'command': ['sh', '-c', 'sleep 60'], 'image': image}]
def user_update(agent, jobs):
    pass
"#,
    );
    let run = DriveRun::start(
        &world,
        dir.path(),
        "term",
        &["-c", "usercode.py", "--monitor", "off", "--name", "term"],
    );
    let id = gantry_testkit::until(60, "the job running", async || {
        let task = tasks(&world).await.pop()?;
        (task.state == TaskState::Running).then_some(task.id)
    })
    .await;
    run.process.signal(Signal::SIGTERM);
    let ended = run.ended(30).await;
    assert_eq!(ended.status.code(), Some(1), "{}", ended.stderr);
    assert!(
        ended.stderr.contains(
            "interrupted; its 1 unfinished jobs are left on the hub: run it again with --name term"
        ),
        "{}",
        ended.stderr
    );
    assert_eq!(
        world.admin.task(&id).await.unwrap().state,
        TaskState::Running
    );
    world.admin.cancel(&id).await.unwrap();
    world.stop().await;
}
