//! The embedded Python shim (`python3 -m gantry_client.drive`), unpacked as
//! `gantry drive -c` unpacks it and run by the real python3: its answers on
//! the protocol's stdout, and everything of the user's on stderr.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// Runs the shim on `code` with these protocol lines on its stdin; returns
/// its answers (one JSON value per stdout line) and its stderr.
fn converse(code: &str, messages: &[Value]) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let root = gantry_drive::python::unpack(&dir.path().join("cache")).unwrap();
    std::fs::write(dir.path().join("usercode.py"), code).unwrap();
    let mut child = Command::new("python3")
        .args(["-m", "gantry_client.drive", "usercode.py"])
        .current_dir(dir.path())
        .env("PYTHONPATH", &root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdin = child.stdin.take().unwrap();
    let hello = json!({"type": "hello", "version": 1, "server": "http://127.0.0.1:9", "token": "secret",
        "ca_file": null, "name": "test", "monitor": null});
    for message in std::iter::once(&hello).chain(messages) {
        writeln!(stdin, "{message}").unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answers = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    (
        answers,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn agent(total: usize) -> Value {
    json!({"name": "test", "jobs": [], "counts": {"total": total}})
}

fn create(total: usize) -> Value {
    json!({"type": "create", "agent": agent(total)})
}

fn update(jobs: Value) -> Value {
    json!({"type": "update", "agent": agent(1), "jobs": jobs})
}

#[test]
fn answers_on_the_protocol_and_prints_on_stderr() {
    let code = r#"import os
todo = [{'image': 'busybox', 'command': ['true']}]
def user_create(agent):
    print('asked with', agent.counts['total'], 'jobs')
    os.system('echo from a child process')
    return [todo.pop()] if todo else None
def user_update(agent, jobs):
    print('update:', [job['state'] for job in jobs])
"#;
    let (answers, stderr) = converse(
        code,
        &[
            create(0),
            update(json!([{"id": "t1", "state": "queued"}, {"id": "t1", "state": "running"}])),
            create(1),
        ],
    );
    assert_eq!(
        answers,
        [
            json!({"jobs": [{"image": "busybox", "command": ["true"]}]}),
            json!({}),
            json!({"jobs": null})
        ]
    );
    for said in [
        "asked with 0 jobs",
        "from a child process",
        "update: ['queued', 'running']",
        "asked with 1 jobs",
    ] {
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
    }
    assert!(!stderr.contains("secret"));
}

#[test]
fn an_exception_is_a_traceback_and_an_error_answer() {
    let code = r#"def user_create(agent):
    return []
def user_update(agent, jobs):
    raise ValueError('boom')
"#;
    let (answers, stderr) = converse(code, &[create(0), update(json!([]))]);
    assert_eq!(answers[0], json!({"jobs": []}));
    assert_eq!(
        answers[1]["error"],
        "user_update raised ValueError: boom (the traceback is above)"
    );
    assert!(
        stderr.contains("Traceback (most recent call last)"),
        "{stderr}"
    );
}

#[test]
fn a_wrong_answer_or_a_missing_function_says_what_to_write() {
    let (answers, _) = converse(
        "def user_create(agent):\n    return 'jobs'\ndef user_update(agent, jobs):\n    pass\n",
        &[create(0)],
    );
    let error = answers[0]["error"].as_str().unwrap();
    assert!(error.contains("return a list of job dicts"), "{error}");
    let (answers, stderr) = converse("def user_create(agent):\n    return None\n", &[create(0)]);
    let error = answers[0]["error"].as_str().unwrap();
    assert!(
        error.contains("loading usercode.py raised AttributeError"),
        "{error}"
    );
    assert!(
        stderr.contains("defines no user_update(agent, jobs)"),
        "{stderr}"
    );
}

#[test]
fn kill_is_said_with_the_answer() {
    let code = "def user_create(agent):\n    agent.kill()\n    return []\ndef user_update(agent, jobs):\n    pass\n";
    let (answers, _) = converse(code, &[create(0)]);
    assert_eq!(answers[0], json!({"jobs": [], "kill": true}));
    let parsed = gantry_drive::protocol::Answer::to_create(&answers[0].to_string()).unwrap();
    assert!(parsed.kill);
}
