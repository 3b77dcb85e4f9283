//! The `gantry` binary against a real hub process: the README's quick start,
//! the command-line contracts, and the errors a person sees.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bytes::Bytes;
use gantry_client::{HubClient, Next, Token};
use gantry_protocol::wire::{RegisterRequest, TaskEvent};
use gantry_testkit::{HubChild, as_admin, hub_admin, hub_serve};
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// A `gantry hub serve` child on a free port, with a node and an admin token.
struct Hub {
    child: HubChild,
    url: String,
    admin: String,
    node: String,
    dir: tempfile::TempDir,
}

impl Hub {
    fn start() -> Hub {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let node = hub_admin(
            gantry,
            &data,
            &["hub", "node", "add", "box-1", "--label", "gpu"],
        )
        .unwrap();
        let admin = hub_admin(
            gantry,
            &data,
            &["hub", "token", "create", "--admin", "tester"],
        )
        .unwrap();
        assert!(node.starts_with("gantry_node_"), "{node}");
        assert!(admin.starts_with("gantry_admin_"), "{admin}");
        let child = HubChild::start(
            hub_serve(gantry, &data, "127.0.0.1:0")
                .env("RUST_LOG", "warn")
                .stderr(Stdio::inherit()),
        )
        .expect("the first stdout line names the address");
        Hub {
            url: child.url(""),
            child,
            admin,
            node,
            dir,
        }
    }

    /// Runs `gantry ARGS` with this hub's address and admin token in the environment.
    fn run(&self, args: &[&str]) -> Output {
        as_admin(Path::new(GANTRY), &self.url, &self.admin)
            .args(args)
            .output()
            .unwrap()
    }

    fn job(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn agent(&self) -> HubClient {
        HubClient::new(&self.url, Token::new(&self.node)).unwrap()
    }

    /// Stops the hub with SIGTERM and checks it exits cleanly.
    fn stop(mut self) {
        let status = self
            .child
            .process
            .terminate(Duration::from_secs(60))
            .expect("hub serve exits on SIGTERM");
        assert!(status.success(), "hub serve exits 0 on SIGTERM: {status}");
    }
}

/// The single line a command printed on stdout.
fn stdout_line(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "exactly one line on stdout: {text:?}"
    );
    text.trim().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Plays the agent's part for one task over the real protocol: take it,
/// write `log`, and finish with `exit_code`.
async fn run_task(agent: &HubClient, log: &[u8], exit_code: i64) -> String {
    agent
        .register(&RegisterRequest {
            version: "test".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let Next::Task(task) = agent.next(Duration::from_secs(20)).await.unwrap() else {
        panic!("no task came")
    };
    agent
        .event(&task.id, &TaskEvent::Accepted {})
        .await
        .unwrap();
    agent.event(&task.id, &TaskEvent::Running {}).await.unwrap();
    let mut offset = 0;
    for chunk in log.chunks(7000) {
        offset = agent
            .append_log(&task.id, offset, Bytes::copy_from_slice(chunk))
            .await
            .unwrap()
            .committed;
    }
    agent
        .event(
            &task.id,
            &TaskEvent::Finished {
                exit_code,
                reason: None,
                usage: None,
            },
        )
        .await
        .unwrap();
    task.id
}

#[test]
fn quick_start_submit_list_show_logs() {
    let hub = Hub::start();
    let rt = runtime();
    let file = hub.job(
        "job.yaml",
        "name: hello\nimage: busybox\ncommand: [echo, hi]\nlabels: [gpu]\n",
    );
    let id = stdout_line(&hub.run(&["task", "submit", &file]));

    let list = hub.run(&["task", "list"]);
    let table = String::from_utf8(list.stdout).unwrap();
    assert!(
        table.contains(&id) && table.contains("queued") && table.contains("hello"),
        "{table}"
    );
    let list: Value = serde_json::from_slice(&hub.run(&["task", "list", "--json"]).stdout).unwrap();
    assert_eq!(list["tasks"][0]["id"], id.as_str());

    // The agent's part, with bytes no text tool would keep intact.
    let mut log = b"start\n\x00\xff\xfe binary \x1b[31mred\x1b[0m\r\n".to_vec();
    log.extend(std::iter::repeat_n(b'y', 100_000));
    let ran = rt.block_on(run_task(&hub.agent(), &log, 0));
    assert_eq!(ran, id);

    let show: Value =
        serde_json::from_slice(&hub.run(&["task", "show", &id, "--json"]).stdout).unwrap();
    for key in ["id", "state", "exit_code", "reason", "node"] {
        assert!(
            show.get(key).is_some(),
            "task show --json has {key}: {show}"
        );
    }
    assert_eq!(show["state"], "succeeded");
    assert_eq!(show["exit_code"], 0);
    assert_eq!(show["node"], "box-1");
    let human = String::from_utf8(hub.run(&["task", "show", &id]).stdout).unwrap();
    assert!(
        human.contains("state:     succeeded") && human.contains("history:"),
        "{human}"
    );

    let logs = hub.run(&["task", "logs", &id]);
    assert!(logs.status.success());
    assert_eq!(
        logs.stdout, log,
        "task logs writes the bytes exactly as stored"
    );
    let followed = hub.run(&["task", "logs", &id, "--follow"]);
    assert_eq!(
        followed.stdout, log,
        "following a finished task prints it whole and ends"
    );

    let nodes: Value =
        serde_json::from_slice(&hub.run(&["node", "list", "--json"]).stdout).unwrap();
    assert_eq!(nodes["nodes"][0]["name"], "box-1");
    hub.stop();
}

#[test]
fn submit_wait_returns_the_task_exit_code() {
    let hub = Hub::start();
    let rt = runtime();
    let file = hub.job(
        "job.json",
        r#"{"image": "busybox", "command": ["sh", "-c", "exit 3"]}"#,
    );
    let wait = Command::new(GANTRY)
        .args([
            "task", "submit", &file, "--wait", "--server", &hub.url, "--token", &hub.admin,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rt.block_on(run_task(&hub.agent(), b"going to fail\n", 3));
    let output = wait.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("failed: exited with code 3"),
        "{}",
        stderr(&output)
    );

    let ok = hub.job("ok.yaml", "image: busybox\ncommand: [\"true\"]\n");
    let wait = Command::new(GANTRY)
        .args(["task", "submit", &ok, "--wait"])
        .env("GANTRY_SERVER", &hub.url)
        .env("GANTRY_ADMIN_TOKEN", &hub.admin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    rt.block_on(run_task(&hub.agent(), b"", 0));
    let output = wait.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // A canceled task has no exit code: --wait exits 1.
    let canceled = hub.job("c.yaml", "image: busybox\n");
    let mut wait = Command::new(GANTRY)
        .args(["task", "submit", &canceled, "--wait"])
        .env("GANTRY_SERVER", &hub.url)
        .env("GANTRY_ADMIN_TOKEN", &hub.admin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(wait.stdout.take().unwrap());
    let mut id = String::new();
    stdout.read_line(&mut id).unwrap();
    let cancel = hub.run(&["task", "cancel", id.trim()]);
    assert!(cancel.status.success(), "{}", stderr(&cancel));
    let mut wait_stderr = String::new();
    std::io::Read::read_to_string(&mut wait.stderr.take().unwrap(), &mut wait_stderr).unwrap();
    assert_eq!(
        wait.wait().unwrap().code(),
        Some(1),
        "a canceled task has no exit code: --wait exits 1"
    );
    assert!(wait_stderr.contains("canceled"), "{wait_stderr}");
    hub.stop();
}

#[test]
fn steering_commands() {
    let hub = Hub::start();
    let rt = runtime();
    let file = hub.job("job.yaml", "image: busybox\n");
    let id = stdout_line(&hub.run(&["task", "submit", &file]));
    let agent = hub.agent();
    rt.block_on(async {
        agent
            .register(&RegisterRequest {
                version: "t".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        agent.next(Duration::from_secs(5)).await.unwrap();
        agent.event(&id, &TaskEvent::Running {}).await.unwrap();
    });
    let pause = hub.run(&["task", "pause", &id]);
    assert!(pause.status.success());
    assert!(
        stderr(&pause).contains("pause requested"),
        "{}",
        stderr(&pause)
    );
    rt.block_on(agent.event(&id, &TaskEvent::Paused {}))
        .unwrap();
    assert!(stderr(&hub.run(&["task", "resume", &id])).contains("resume requested"));
    rt.block_on(agent.event(&id, &TaskEvent::Running {}))
        .unwrap();
    let cancel = hub.run(&["task", "cancel", &id]);
    assert!(
        stderr(&cancel).contains("cancel requested"),
        "{}",
        stderr(&cancel)
    );
    rt.block_on(agent.event(
        &id,
        &TaskEvent::Canceled {
            reason: None,
            usage: None,
        },
    ))
    .unwrap();
    let again = hub.run(&["task", "pause", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("only a running task can be paused"),
        "{}",
        stderr(&again)
    );
    hub.stop();
}

#[test]
fn errors_say_what_to_fix() {
    let hub = Hub::start();
    // A job file with a typo: exit 2, the file, the line and the key.
    let bad = hub.job("bad.yaml", "image: busybox\ncomand: [echo]\n");
    let output = hub.run(&["task", "submit", &bad]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("bad.yaml: line 2, column 1")
            && message.contains("unknown field `comand`"),
        "{message}"
    );
    // A missing file.
    let output = hub.run(&["task", "submit", "/no/such/job.yaml"]);
    assert!(
        stderr(&output).contains("cannot read the job file /no/such/job.yaml"),
        "{}",
        stderr(&output)
    );
    // No token.
    let output = Command::new(GANTRY)
        .args(["task", "list", "--server", &hub.url])
        .env_remove("GANTRY_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("no admin token: pass --token or set GANTRY_ADMIN_TOKEN"),
        "{}",
        stderr(&output)
    );
    // A wrong token.
    let output = hub.run(&["task", "list", "--token", "gantry_admin_wrong"]);
    assert!(
        stderr(&output).contains("the hub does not know this token"),
        "{}",
        stderr(&output)
    );
    // A node token where an admin token belongs.
    let output = hub.run(&["task", "list", "--token", &hub.node]);
    assert!(
        stderr(&output).contains("needs an admin token"),
        "{}",
        stderr(&output)
    );
    // An unknown task.
    let output = hub.run(&["task", "show", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no task with this id"),
        "{}",
        stderr(&output)
    );
    // A hub that is not there, and an address that is not one.
    let output = hub.run(&["task", "list", "--server", "http://127.0.0.1:9"]);
    assert!(
        stderr(&output).contains("cannot reach the hub at http://127.0.0.1:9"),
        "{}",
        stderr(&output)
    );
    let output = hub.run(&["task", "list", "--server", "hub.example.com"]);
    assert!(
        stderr(&output).contains("is not a hub address"),
        "{}",
        stderr(&output)
    );
    // A second hub on the same port.
    let port = hub.url.rsplit(':').next().unwrap();
    let other = tempfile::tempdir().unwrap();
    let output = Command::new(GANTRY)
        .args([
            "hub",
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(other.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("is another hub running there?"),
        "{}",
        stderr(&output)
    );
    // A duplicate node name.
    let output = Command::new(GANTRY)
        .args(["hub", "node", "add", "box-1", "--data-dir"])
        .arg(hub.dir.path().join("hub"))
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("a node named \"box-1\" exists already"),
        "{}",
        stderr(&output)
    );
    hub.stop();
}

#[test]
fn submit_reads_stdin_and_version_prints() {
    let hub = Hub::start();
    let mut child = Command::new(GANTRY)
        .args(["task", "submit", "-"])
        .env("GANTRY_SERVER", &hub.url)
        .env("GANTRY_ADMIN_TOKEN", &hub.admin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"image: busybox\ncommand: [echo, from-stdin]\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let id = stdout_line(&output);
    let show: Value =
        serde_json::from_slice(&hub.run(&["task", "show", &id, "--json"]).stdout).unwrap();
    assert_eq!(show["spec"]["command"][1], "from-stdin");
    let version = Command::new(GANTRY).arg("version").output().unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap(),
        format!("gantry {}\n", env!("CARGO_PKG_VERSION"))
    );
    hub.stop();
}

#[test]
fn nodes_can_be_added_while_the_hub_serves() {
    let hub = Hub::start();
    let data = hub.dir.path().join("hub");
    // Several at once, each its own process writing to the database the hub is using.
    let adds: Vec<_> = (0..8)
        .map(|i| {
            Command::new(GANTRY)
                .args(["hub", "node", "add", &format!("extra-{i}"), "--data-dir"])
                .arg(&data)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for add in adds {
        let output = add.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            String::from_utf8(output.stdout)
                .unwrap()
                .starts_with("gantry_node_")
        );
    }
    let nodes: Value =
        serde_json::from_slice(&hub.run(&["node", "list", "--json"]).stdout).unwrap();
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 9);
    hub.stop();
}

#[test]
fn man_pages_and_completions_are_generated_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(GANTRY)
        .args(["generate", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let man = dir.path().join("man");
    let page = std::fs::read_to_string(man.join("gantry.1")).unwrap();
    assert!(page.contains(".TH gantry 1"), "{page}");
    for sub in [
        "gantry-service-install.1",
        "gantry-task-submit.1",
        "gantry-agent-start.1",
    ] {
        assert!(man.join(sub).is_file(), "{sub} is missing");
    }
    // groff renders the page without a warning.
    if let Ok(rendered) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(man.join("gantry-service-install.1"))
        .output()
    {
        assert!(
            rendered.status.success() && rendered.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&rendered.stderr)
        );
    }
    let completions = dir.path().join("completions");
    for file in ["gantry.bash", "_gantry", "gantry.fish"] {
        assert!(completions.join(file).is_file(), "{file} is missing");
    }
    // bash loads the completion and offers the subcommands.
    let script = format!(
        "source {}; COMP_WORDS=(gantry ser); COMP_CWORD=1; COMP_LINE='gantry ser'; COMP_POINT=10; _gantry gantry ser gantry; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        completions.join("gantry.bash").display()
    );
    let offered = Command::new("bash").args(["-c", &script]).output().unwrap();
    let words = String::from_utf8_lossy(&offered.stdout);
    assert!(
        words.lines().any(|w| w == "service"),
        "bash offers: {words}{}",
        String::from_utf8_lossy(&offered.stderr)
    );
}
