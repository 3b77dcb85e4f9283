//! `gantry agent start --show-task-logs`: real hub and agent processes and
//! real Docker tasks. The agent's stdout carries each task's lines prefixed by
//! the task (binary escaped, a 10 MB line cut); a stdout nobody reads holds
//! back neither the task nor the log the hub gets, and every line is either
//! shown or counted in a "skipped" line.
//!
//! Like the other end-to-end tests these skip without a Docker engine holding
//! the test image, and fail instead with `GANTRY_REQUIRE_SERVICES=1`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Stdio};
use std::sync::{Arc, Mutex};

use gantry_testkit::{
    AgentLaunch, HubChild, HubTokens, Process, as_admin, docker_ready, image, node_and_admin,
    quick_hub, until_blocking,
};
use serde_json::{Value, json};

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// A hub, and an agent started with `--show-task-logs` whose stdout is a pipe.
struct Rig {
    dir: tempfile::TempDir,
    _hub: HubChild,
    url: String,
    admin: String,
    agent: Process,
    stdout: Option<ChildStdout>,
}

impl Rig {
    fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let HubTokens { node, admin } = node_and_admin(gantry, &data, "shown");
        let hub = HubChild::start(&mut quick_hub(gantry, &data)).unwrap();
        let launch = AgentLaunch {
            gantry: GANTRY.into(),
            server: hub.url(""),
            token: node,
            name: "shown".into(),
            host_dir: dir.path().join("agent"),
            config_home: dir.path().to_owned(),
            docker_host: None,
            args: vec!["--show-task-logs".into()],
        };
        let mut command = launch.command();
        command
            .env("GANTRY_PULL_ALWAYS", "false")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("agent.stderr")).unwrap());
        let mut agent = Process::spawn(&mut command).unwrap();
        let stdout = agent.0.stdout.take();
        Rig {
            url: hub.url(""),
            _hub: hub,
            admin,
            agent,
            stdout,
            dir,
        }
    }

    fn gantry(&self, args: &[&str]) -> std::process::Output {
        as_admin(Path::new(GANTRY), &self.url, &self.admin)
            .args(args)
            .output()
            .unwrap()
    }

    /// Submits a job running `script` in the test image; its id.
    fn submit(&self, name: &str, script: &str) -> String {
        let job = json!({"name": name, "image": image(), "command": ["sh", "-c", script]});
        let path: PathBuf = self.dir.path().join(format!("{name}.json"));
        std::fs::write(&path, job.to_string()).unwrap();
        let output = self.gantry(&["task", "submit", path.to_str().unwrap()]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// Waits for the task to end; it must have succeeded.
    fn succeeded(&self, id: &str) {
        let task: Value = until_blocking(180, &format!("task {id} to end"), || {
            let task: Value =
                serde_json::from_slice(&self.gantry(&["task", "show", id, "--json"]).stdout)
                    .ok()?;
            ["succeeded", "failed", "canceled"]
                .contains(&task["state"].as_str()?)
                .then_some(task)
        });
        assert_eq!(task["state"], "succeeded", "{task}\n{}", self.agent_log());
    }

    /// The task's log as the hub holds it.
    fn hub_log(&self, id: &str) -> Vec<u8> {
        let output = self.gantry(&["task", "logs", id]);
        assert!(output.status.success());
        output.stdout
    }

    /// Starts reading the agent's stdout into a buffer.
    fn read_stdout(&mut self) -> Arc<Mutex<Vec<u8>>> {
        let read = Arc::new(Mutex::new(Vec::new()));
        let mut stdout = self.stdout.take().expect("read once");
        let into = read.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                into.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        read
    }

    fn agent_log(&self) -> String {
        gantry_testkit::tail(&self.dir.path().join("agent.stderr"), 30).unwrap_or_default()
    }
}

/// Waits until the agent's stdout so far passes `check`.
fn shown_until<T>(read: &Mutex<Vec<u8>>, what: &str, check: impl Fn(&str) -> Option<T>) -> T {
    until_blocking(120, what, || {
        check(&String::from_utf8_lossy(&read.lock().unwrap()))
    })
}

#[test]
fn each_task_line_reaches_the_agents_stdout_prefixed_by_its_task() {
    if !docker_ready() {
        return;
    }
    let mut rig = Rig::start();
    let read = rig.read_stdout();
    let id = rig.submit(
        "copy-me",
        "echo first; echo oops >&2; printf 'esc \\033[31mred\\000\\377 end\\n'; \
         head -c 10485760 /dev/zero | tr '\\0' a; echo; echo last",
    );
    rig.succeeded(&id);
    let text = shown_until(
        &read,
        "the task's last line on the agent's stdout",
        |text| {
            text.contains(&format!("[{id} copy-me] last\n"))
                .then(|| text.to_owned())
        },
    );
    // Docker delivers the two streams apart: each keeps its order, not their interleaving.
    let ours = |prefix: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix(prefix))
            .map(str::to_owned)
            .collect()
    };
    let cut = 10_485_760 - gantry_agent::log_copy::SHOWN_BYTES;
    let long = format!(
        "{} [... {cut} more bytes of this line not shown]",
        "a".repeat(gantry_agent::log_copy::SHOWN_BYTES)
    );
    assert_eq!(
        ours(&format!("[{id} copy-me] ")),
        [
            "first".to_owned(),
            "esc \\x1b[31mred\\x00\u{fffd} end".to_owned(),
            long,
            "last".to_owned(),
        ]
    );
    assert_eq!(ours(&format!("[{id} copy-me stderr] ")), ["oops"]);
    // The hub's copy is the task's output, byte for byte.
    let mut expected = b"first\nesc \x1b[31mred\x00\xff end\n".to_vec();
    expected.extend(std::iter::repeat_n(b'a', 10_485_760));
    expected.extend_from_slice(b"\nlast\n");
    let mut log = rig.hub_log(&id);
    let oops = log
        .windows(5)
        .position(|w| w == b"oops\n")
        .expect("the hub has the stderr line");
    log.drain(oops..oops + 5);
    assert!(
        log == expected,
        "the hub holds {} bytes besides the stderr line, expected {}",
        log.len(),
        expected.len()
    );
    assert!(rig.agent.running(), "{}", rig.agent_log());
}

#[test]
fn a_stdout_nobody_reads_holds_back_neither_the_task_nor_its_log() {
    if !docker_ready() {
        return;
    }
    const LINES: u64 = 200_000;
    let mut rig = Rig::start();
    // Nobody reads the agent's stdout: its pipe fills within the first lines.
    let id = rig.submit("flood", &format!("seq 1 {LINES}"));
    rig.succeeded(&id);
    let mut expected = Vec::new();
    for n in 1..=LINES {
        expected.extend_from_slice(format!("{n}\n").as_bytes());
    }
    let log = rig.hub_log(&id);
    assert!(
        log == expected,
        "the hub holds {} bytes, expected {}",
        log.len(),
        expected.len()
    );

    // Read now: every line is shown, in order, or counted as skipped.
    let read = rig.read_stdout();
    let prefix = format!("[{id} flood] ");
    let (shown, skipped) = shown_until(&read, "every line shown or counted", |text| {
        let mut shown = 0;
        let mut last = 0;
        let mut skipped = 0;
        for line in text.lines() {
            let line = line.strip_prefix(&prefix).unwrap_or(line);
            if let Ok(n) = line.parse::<u64>() {
                assert!(n > last, "line {n} after {last}");
                last = n;
                shown += 1;
            } else if let Some(n) = line
                .strip_prefix("gantry: ")
                .and_then(|l| l.split_once(' '))
                .filter(|(_, rest)| rest.contains("skipped: stdout was slower"))
            {
                skipped += n.0.parse::<u64>().unwrap();
            }
        }
        (shown + skipped == LINES).then_some((shown, skipped))
    });
    eprintln!(
        "{LINES} lines to a stdout read only after the task ended: {shown} shown, {skipped} skipped"
    );
    assert!(skipped > 0 && shown > 0, "{shown} shown, {skipped} skipped");
    assert!(rig.agent.running(), "{}", rig.agent_log());
}
