//! `gantry service install --print [--supervisor]`: what would be installed,
//! on stdout, with nothing written. The unit is the one `install` writes and
//! systemd-analyze accepts it; the supervisord section parses with Python's
//! configparser and shlex as supervisord reads it, and a real supervisord runs
//! the agent from it against a real hub (`cargo xtask test` installs Debian's
//! supervisor for this). Every option of `gantry agent start` given to install
//! is in the unit, and the agent its `ExecStart=` runs registers and works
//! under them (image policy, metrics, StatsD, a hardened Docker task).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use gantry_testkit::{
    HubChild, HubTokens, Process, as_admin, node_and_admin, quick_hub, until_blocking,
};
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

    /// Asserts that systemd's own parser accepts `unit`, without a word of warning.
    fn verify(&self, unit: &str) {
        let saved = self.dir.path().join("gantry-agent.service");
        std::fs::write(&saved, unit).unwrap();
        match Command::new("systemd-analyze")
            .args(["verify", "--user"])
            .arg(&saved)
            .env("XDG_RUNTIME_DIR", self.dir.path().join("runtime"))
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
    }

    /// Runs `words` as a service manager would: no shell, this home, none of
    /// this process's agent settings, no output kept.
    fn run(&self, words: &[String]) -> Process {
        let mut command = Command::new(&words[0]);
        for (name, _) in std::env::vars() {
            if name.starts_with("GANTRY_") || name == "ACCESS_TOKEN" || name == "SERVER_ADDRESS" {
                command.env_remove(name);
            }
        }
        command
            .args(&words[1..])
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.config())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Process::spawn(&mut command).unwrap()
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

/// A hub child with one node, and that node's token in a 0600 file of the home's.
struct Served {
    hub: HubChild,
    admin: String,
    token: String,
    token_file: PathBuf,
}

impl Served {
    fn start(home: &Home, node: &str) -> Served {
        let data = home.dir.path().join("hub");
        let gantry = Path::new(GANTRY);
        let HubTokens { node: token, admin } = node_and_admin(gantry, &data, node);
        let hub = HubChild::start(&mut quick_hub(gantry, &data)).unwrap();
        let token_file = home.dir.path().join("node-token");
        std::fs::write(&token_file, format!("{token}\n")).unwrap();
        std::fs::set_permissions(
            &token_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        Served {
            hub,
            admin,
            token,
            token_file,
        }
    }

    /// `gantry ARGS` as the hub's admin; its stdout, once it succeeded.
    fn admin(&self, args: &[&str]) -> String {
        let output = as_admin(Path::new(GANTRY), &self.hub.url(""), &self.admin)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "gantry {args:?}: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
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
    home.verify(&unit);

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
    let Served {
        hub,
        admin,
        token,
        token_file,
    } = Served::start(&home, "supervised");
    let gantry = Path::new(GANTRY);
    let host_dir = home.dir.path().join("agent host");
    // A name that every pass of supervisord's reading could break.
    let name = "lab; #1 50% it's \"ok\"";
    let url = hub.url("");
    let options = [
        "--server",
        &url,
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
    let install = [&["install", "--print", "--supervisor"][..], &options].concat();
    let printed = home.service(&install, &[], "");
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
    let start = [gantry_path.to_str().unwrap(), "agent", "start"];
    assert_eq!(words, [&start[..], &options].concat(), "{section}");
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

/// The words of a unit's `ExecStart=` as systemd splits them: spaces between
/// words, a double-quoted word with `\\` and `\"` escapes, `%%` for `%` and
/// `$$` for `$`.
fn exec_start(unit: &str) -> Vec<String> {
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the unit has an ExecStart= line");
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next().expect("an unterminated quote") {
                    '"' => break,
                    '\\' => word.push(chars.next().expect("an escape at the end")),
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek().filter(|c| **c != ' ') {
                word.push(c);
                chars.next();
            }
        }
        words.push(word.replace("%%", "%").replace("$$", "$"));
    }
    words
}

#[test]
fn a_bad_agent_option_fails_the_print_with_the_agents_sentence() {
    let home = Home::new();
    std::fs::create_dir_all(home.home()).unwrap();
    for (args, says) in [
        (
            ["--task-network", "wide"],
            "write --task-network full, no-private or none",
        ),
        (["--disk-max-percent", "150"], "more than 100 %"),
        (
            ["--metrics-listen", "nope"],
            "is not an address to listen on",
        ),
    ] {
        let printed = home.service(
            &[
                &["install", "--print", "--server", "https://hub.example.com"][..],
                &args,
            ]
            .concat(),
            &[],
            "",
        );
        assert_eq!(printed.status.code(), Some(1), "{args:?}");
        assert!(
            printed.stdout.is_empty(),
            "{args:?}: {}",
            text(&printed.stdout)
        );
        assert!(
            text(&printed.stderr).contains(says),
            "{args:?}: {}",
            text(&printed.stderr)
        );
    }
}

#[test]
fn exec_start_is_split_as_systemd_splits_it() {
    assert_eq!(
        exec_start("ExecStart=/bin/x \"a b\" \"50%%\" c \"q\\\"\\\\\" \"$$HOME\"\n"),
        ["/bin/x", "a b", "50%", "c", "q\"\\", "$HOME"]
    );
}

/// `install --print` with every group of the agent's options: the unit holds
/// their words, systemd accepts it, and the agent its `ExecStart=` runs
/// registers with a real hub and works under them — its image policy at the
/// hub, its Prometheus page, its StatsD datagrams, and a real Docker task with
/// no network and a read-only root.
#[test]
fn print_carries_every_agent_option_and_the_agent_runs_under_them() {
    if !gantry_testkit::docker_ready() {
        return;
    }
    let home = Home::new();
    std::fs::create_dir_all(home.home()).unwrap();
    let served = Served::start(&home, "hardened");
    let (hub, token, token_file) = (&served.hub, &served.token, &served.token_file);
    let statsd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let statsd_port = statsd.local_addr().unwrap().port().to_string();
    let metrics = format!("127.0.0.1:{}", gantry_testkit::free_port());
    let host_dir = home.dir.path().join("agent host");
    let given = [
        "--allowed-images",
        "gantry-test/*",
        "--task-network",
        "none",
        "--read-only-root",
        "--task-pids-limit",
        "64",
        "--disk-max-gb",
        "20",
        "--disk-max-percent",
        "95",
        "--disk-min-free-gb",
        "0.5",
        "--metrics-listen",
        &metrics,
        "--stats-host",
        "127.0.0.1",
        "--stats-port",
        &statsd_port,
        "--statsd-namespace",
        "svc",
        "--no-hostname-label",
    ];
    let printed = home.service(
        &[
            &[
                "install",
                "--print",
                "--server",
                &hub.url(""),
                "--token-file",
                token_file.to_str().unwrap(),
                "--host-dir",
                host_dir.to_str().unwrap(),
                "--name",
                "hardened",
            ][..],
            &given,
        ]
        .concat(),
        &[],
        "",
    );
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    let unit = text(&printed.stdout);
    assert!(!unit.contains(token), "the token is in the unit:\n{unit}");
    assert_eq!(home.files(), Vec::<PathBuf>::new(), "--print wrote files");
    let words = exec_start(&unit);
    let gantry_path = std::fs::canonicalize(GANTRY).unwrap();
    assert_eq!(
        words[..7],
        [
            gantry_path.to_str().unwrap(),
            "agent",
            "start",
            "--server",
            &hub.url(""),
            "--token-file",
            token_file.to_str().unwrap()
        ],
        "{unit}"
    );
    // Every option given is in the unit, with its value (the StatsD ones
    // in Gantry's own spelling).
    let rest = words[7..].join(" ");
    for (flag, value) in given.iter().zip(given.iter().skip(1).chain([&""])) {
        let Some(flag) = flag.strip_prefix("--") else {
            continue;
        };
        let flag = flag.replace("stats-", "statsd-");
        let expected = if value.starts_with("--") || value.is_empty() {
            format!("--{flag}")
        } else {
            format!("--{flag} {value}")
        };
        assert!(rest.contains(&expected), "{expected} is not in: {rest}");
    }

    // systemd's own parser accepts it.
    home.verify(&unit);

    // The command it would run, run as systemd would.
    let mut agent = home.run(&words);
    // Registered, with the image policy it was given and no host name label.
    let node: Value = until_blocking(60, "the agent to register", || {
        let node: Value =
            serde_json::from_str(&served.admin(&["node", "show", "hardened", "--json"])).ok()?;
        node["version"].is_string().then_some(node)
    });
    assert_eq!(
        node["image_policy"]["allowed"],
        serde_json::json!(["gantry-test/*"]),
        "{node}"
    );
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(
        !node["labels"]
            .as_array()
            .unwrap()
            .contains(&Value::from(host_name.trim())),
        "--no-hostname-label: {node}"
    );
    // Its Prometheus page answers where --metrics-listen said.
    let page = until_blocking(30, "the agent's metrics page", || {
        metrics_page(&metrics).filter(|page| page.lines().any(|l| l == "gantry_agent_connected 1"))
    });
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");

    // A real Docker task: no network but loopback, a read-only root, the pids limit.
    let job = home.dir.path().join("job.yaml");
    std::fs::write(
        &job,
        format!(
            "image: {}\ncommand: [sh, -c, {:?}]\n",
            gantry_testkit::image(),
            // The loop runs in a subshell, so the shell survives a refused fork.
            "(i=0; while [ $i -lt 100 ]; do sleep 2 & i=$((i+1)); done; echo all-forked) 2>&1; \
             if touch /probe 2>/dev/null; then echo writable; else echo read-only; fi; \
             ls /sys/class/net"
        ),
    )
    .unwrap();
    let id = served
        .admin(&["task", "submit", job.to_str().unwrap()])
        .trim()
        .to_owned();
    let task: Value = until_blocking(120, "the task to end", || {
        let task: Value =
            serde_json::from_str(&served.admin(&["task", "show", &id, "--json"])).ok()?;
        matches!(
            task["state"].as_str(),
            Some("succeeded" | "failed" | "canceled")
        )
        .then_some(task)
    });
    assert_eq!(task["state"], "succeeded", "{task}");
    let logs = served.admin(&["task", "logs", &id]);
    assert!(
        logs.contains("can't fork") && !logs.contains("all-forked"),
        "100 processes under --task-pids-limit 64: {logs}"
    );
    assert!(
        logs.ends_with("\nread-only\nlo\n"),
        "--read-only-root, --task-network none: {logs}"
    );

    // And it told StatsD, under its namespace.
    let said = statsd_until(&statsd, "svc.tasks.started:1|c");
    assert!(said.contains("svc.tasks.started:1|c"), "{said}");
    agent.terminate(std::time::Duration::from_secs(30));
}

/// `GET /metrics` at `address`, plain HTTP/1.1: the whole answer, head and page.
fn metrics_page(address: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut page = String::new();
    stream.read_to_string(&mut page).ok()?;
    Some(page)
}

/// The datagrams `socket` gets, a line each, until one holds `line` (30 s at most).
fn statsd_until(socket: &std::net::UdpSocket, line: &str) -> String {
    socket
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut said = String::new();
    let mut buffer = [0u8; 2048];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !said.contains(line) && std::time::Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buffer) {
            said.push_str(&String::from_utf8_lossy(&buffer[..n]));
            said.push('\n');
        }
    }
    said
}
