//! `gantry service install --print [--supervisor]`: what would be installed,
//! on stdout, with nothing written. The unit is the one `install` writes and
//! systemd-analyze accepts it; the supervisord section parses with Python's
//! configparser and shlex as supervisord reads it, and a real supervisord runs
//! the agent from it against a real hub (`cargo xtask test` installs Debian's
//! supervisor for this).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use gantry_testkit::{HubChild, Process, as_admin, hub_admin, hub_serve, until_blocking};
use serde_json::Value;

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// A home of its own, with `gantry service ARGS` run in it.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn config(&self) -> PathBuf {
        self.home().join(".config")
    }

    /// `gantry service ARGS` with this home, `env` set, no agent settings of
    /// this process, and `stdin` as its input.
    fn service(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
        use std::io::Write;
        let runtime = self.dir.path().join("runtime");
        std::fs::create_dir_all(&runtime).unwrap();
        let mut command = Command::new(GANTRY);
        for (name, _) in std::env::vars() {
            if name.starts_with("GANTRY_") || name == "ACCESS_TOKEN" || name == "SERVER_ADDRESS" {
                command.env_remove(name);
            }
        }
        let mut child = command
            .arg("service")
            .args(args)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.config())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        child.wait_with_output().unwrap()
    }

    /// Every file under the home.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, into);
                } else {
                    into.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.home(), &mut files);
        files
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn print_writes_the_unit_install_would_write_and_nothing_else() {
    let home = Home::new();
    std::fs::create_dir_all(home.home()).unwrap();
    let token = "gantry_node_print-test-token";
    let args = [
        "install",
        "--server",
        "https://hub.example.com",
        "--name",
        "lab box",
        "--label",
        "room=2",
        "--show-task-logs",
    ];
    let printed = home.service(
        &[&args[..], &["--print"]].concat(),
        &[("GANTRY_TOKEN", token)],
        "",
    );
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    let unit = text(&printed.stdout);
    assert!(unit.starts_with("# Written by `gantry service install`"));
    assert!(
        unit.contains(" --name \"lab box\" --label room=2 --show-task-logs\n"),
        "{unit}"
    );
    let token_path = home.config().join("gantry/node-token");
    assert!(
        unit.contains(&format!("--token-file {}", token_path.display())),
        "{unit}"
    );
    assert!(!unit.contains(token), "the token is in the unit:\n{unit}");
    assert!(
        text(&printed.stderr).contains("which does not exist yet"),
        "{}",
        text(&printed.stderr)
    );
    assert_eq!(home.files(), Vec::<PathBuf>::new(), "--print wrote files");

    // systemd's own parser accepts it, without a word of warning.
    let saved = home.dir.path().join("gantry-agent.service");
    std::fs::write(&saved, &unit).unwrap();
    match Command::new("systemd-analyze")
        .args(["verify", "--user"])
        .arg(&saved)
        .env("XDG_RUNTIME_DIR", home.dir.path().join("runtime"))
        .output()
    {
        Ok(verified) => assert!(
            verified.status.success() && verified.stderr.is_empty(),
            "systemd-analyze verify: {}\n{unit}",
            text(&verified.stderr)
        ),
        Err(error) => assert!(
            std::env::var_os("GANTRY_REQUIRE_SERVICES").is_none(),
            "systemd-analyze is needed: {error}"
        ),
    }

    // Installing for real writes the same unit (systemd is not PID 1 here, so
    // enabling it fails after the unit is written).
    let installed = home.service(&args, &[("GANTRY_TOKEN", token)], "");
    assert_eq!(
        installed.status.code(),
        Some(1),
        "{}",
        text(&installed.stderr)
    );
    let written =
        std::fs::read_to_string(home.config().join("systemd/user/gantry-agent.service")).unwrap();
    assert_eq!(written, unit);

    // Flags that only make sense when installing, or only when printing.
    let both = home.service(&["install", "--print", "--no-start"], &[], "");
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    let alone = home.service(&["install", "--supervisor"], &[], "");
    assert_eq!(alone.status.code(), Some(2), "{}", text(&alone.stderr));
    assert!(text(&alone.stderr).contains("--print"));
}

/// Parses a supervisord program section as supervisord does: configparser
/// with its inline comment prefixes, `%%` for `%`, shlex for the command.
/// Prints JSON: the section's keys and the command's words.
const PARSE: &str = r##"
import configparser, json, shlex, sys
parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
parser.read_string(sys.stdin.read())
section = dict(parser["program:gantry-agent"])
words = shlex.split(section["command"].replace("%%", "%"))
print(json.dumps({"sections": parser.sections(), "keys": section, "words": words}))
"##;

#[test]
fn print_supervisor_prints_a_program_that_supervisord_runs() {
    let home = Home::new();
    std::fs::create_dir_all(home.home()).unwrap();
    // A hub and a node token in a file of its own.
    let data = home.dir.path().join("hub");
    let gantry = Path::new(GANTRY);
    let token = hub_admin(gantry, &data, &["hub", "node", "add", "supervised"]).unwrap();
    let admin = hub_admin(gantry, &data, &["hub", "token", "create", "--admin", "me"]).unwrap();
    let hub = HubChild::start(
        hub_serve(gantry, &data, "127.0.0.1:0")
            .args(["--heartbeat", "1"])
            .env("RUST_LOG", "warn"),
    )
    .unwrap();
    let token_file = home.dir.path().join("node-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let host_dir = home.dir.path().join("agent host");
    // A name that every pass of supervisord's reading could break.
    let name = "lab; #1 50% it's \"ok\"";
    let printed = home.service(
        &[
            "install",
            "--print",
            "--supervisor",
            "--server",
            &hub.url(""),
            "--token-file",
            token_file.to_str().unwrap(),
            "--host-dir",
            host_dir.to_str().unwrap(),
            "--name",
            name,
            "--label",
            "room=2",
            "--show-task-logs",
        ],
        &[],
        "",
    );
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    let section = text(&printed.stdout);
    assert!(
        !section.contains(&token),
        "the token is printed:\n{section}"
    );
    assert_eq!(home.files(), Vec::<PathBuf>::new(), "--print wrote files");

    // Python's configparser and shlex read back the exact words.
    let mut python = Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        use std::io::Write;
        python
            .stdin
            .take()
            .unwrap()
            .write_all(section.as_bytes())
            .unwrap();
    }
    let parsed = python.wait_with_output().unwrap();
    assert!(parsed.status.success(), "{}", text(&parsed.stderr));
    let parsed: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(
        parsed["sections"],
        serde_json::json!(["program:gantry-agent"])
    );
    let words: Vec<String> = serde_json::from_value(parsed["words"].clone()).unwrap();
    let gantry_path = std::fs::canonicalize(GANTRY).unwrap();
    let want = [
        gantry_path.to_str().unwrap(),
        "agent",
        "start",
        "--server",
        &hub.url(""),
        "--token-file",
        token_file.to_str().unwrap(),
        "--host-dir",
        host_dir.to_str().unwrap(),
        "--name",
        name,
        "--label",
        "room=2",
        "--show-task-logs",
    ];
    assert_eq!(words, want, "{section}");
    let keys = &parsed["keys"];
    assert_eq!(keys["autorestart"], "unexpected");
    assert_eq!(keys["exitcodes"], "0,3");
    assert_eq!(keys["stopsignal"], "TERM");
    assert_eq!(
        keys["environment"],
        format!("HOME=\"{}\"", home.home().display())
    );

    // supervisord itself runs it, and the agent reaches the hub.
    let Some(supervisord) = which("supervisord") else {
        assert!(
            std::env::var_os("GANTRY_REQUIRE_SERVICES").is_none(),
            "supervisord is needed (Debian's supervisor package)"
        );
        eprintln!("SKIPPED: supervisord is not installed (apt-get install supervisor)");
        return;
    };
    let run = home.dir.path().join("supervisor");
    let include = run.join("conf.d");
    std::fs::create_dir_all(run.join("logs")).unwrap();
    std::fs::create_dir_all(&include).unwrap();
    std::fs::write(include.join("gantry-agent.conf"), &section).unwrap();
    let conf = run.join("supervisord.conf");
    let r = run.display();
    std::fs::write(
        &conf,
        format!(
            "[supervisord]\nnodaemon=true\nlogfile={r}/supervisord.log\npidfile={r}/supervisord.pid\n\
             childlogdir={r}/logs\n\n[unix_http_server]\nfile={r}/supervisor.sock\n\n\
             [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
             [supervisorctl]\nserverurl=unix://{r}/supervisor.sock\n\n[include]\nfiles = {r}/conf.d/*.conf\n"
        ),
    )
    .unwrap();
    let mut daemon = Command::new(&supervisord);
    for (name, _) in std::env::vars() {
        if name.starts_with("GANTRY_") || name == "ACCESS_TOKEN" || name == "SERVER_ADDRESS" {
            daemon.env_remove(name);
        }
    }
    daemon
        .arg("-c")
        .arg(&conf)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("XDG_CONFIG_HOME", home.config())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut daemon = Process::spawn(&mut daemon).unwrap();
    let ctl = |args: &[&str]| {
        let output = Command::new("supervisorctl")
            .arg("-c")
            .arg(&conf)
            .args(args)
            .output()
            .unwrap();
        text(&output.stdout)
    };
    let log = || std::fs::read_to_string(run.join("supervisord.log")).unwrap_or_default();
    until_blocking(60, "supervisord to run the agent", || {
        ctl(&["status", "gantry-agent"])
            .contains("RUNNING")
            .then_some(())
    });
    let status = until_blocking(60, "the supervised agent to reach the hub", || {
        let output = as_admin(gantry, &hub.url(""), &admin)
            .args(["agent", "status", "--json"])
            .env("GANTRY_HOST_DIR", &host_dir)
            .output()
            .unwrap();
        let status: Value = serde_json::from_slice(&output.stdout).ok()?;
        (status["connected"] == true).then_some(status)
    });
    assert_eq!(status["name"], name, "{}", log());
    // A stop is SIGTERM, which the agent answers by exiting 0: stopped, not restarted.
    let stopped = ctl(&["stop", "gantry-agent"]);
    assert!(stopped.contains("stopped"), "{stopped}\n{}", log());
    assert!(
        ctl(&["status", "gantry-agent"]).contains("STOPPED"),
        "{}",
        log()
    );
    daemon.terminate(std::time::Duration::from_secs(30));
}

/// The program's path on PATH, if any.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}
