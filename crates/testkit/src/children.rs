//! Gantry's own programs as child processes, started the way a person or a
//! service manager starts them: `gantry hub serve`, `gantry agent start`,
//! and the hub's administration commands.
//!
//! The hub says where it listens on its first line of stdout, `listening on
//! http://ADDR`; [`HubChild::start`] is the one place that reads it. Every
//! child here is killed when its guard goes, so a failed test or a Ctrl-C
//! leaves nothing running.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a hub may take to say where it listens.
const LISTEN_LIMIT: Duration = Duration::from_secs(30);

/// The agent's settings a person's environment may hold, which no agent a
/// test or a benchmark starts may see: it gets its own.
pub const AGENT_ENV: &[&str] = &[
    "GANTRY_SERVER",
    "SERVER_ADDRESS",
    "GANTRY_TOKEN",
    "ACCESS_TOKEN",
    "GANTRY_HOST_DIR",
    "AGENT_HOST_DIR",
    "GANTRY_CONFIG",
    "GANTRY_ADMIN_TOKEN",
    "GANTRY_NAME",
    "GANTRY_CA_FILE",
    "GANTRY_ALLOW_INSECURE_HTTP",
];

/// The environment that leaves every number of the disk budget out (`0`).
pub const NO_DISK_BUDGET: &[(&str, &str)] = &[
    ("GANTRY_DISK_MAX_GB", "0"),
    ("GANTRY_DISK_MAX_PERCENT", "0"),
    ("GANTRY_DISK_MIN_FREE_GB", "0"),
];

/// A child process, killed when this goes, unless it ended.
#[derive(Debug)]
pub struct Process(pub Child);

impl Process {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> std::io::Result<Process> {
        command.spawn().map(Process)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Sends `signal`; a process that is gone is not an error.
    pub fn signal(&self, signal: Signal) {
        if let Ok(pid) = i32::try_from(self.pid()) {
            let _ = kill(Pid::from_raw(pid), signal);
        }
    }

    /// Whether it still runs (it has not exited, or not been reaped).
    pub fn running(&mut self) -> bool {
        self.0.try_wait().is_ok_and(|status| status.is_none())
    }

    /// SIGKILL, and wait until it is reaped.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Waits up to `limit` for it to exit by itself, blocking the thread.
    pub fn exits_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits up to `secs` for it to exit by itself.
    pub async fn exited(&mut self, secs: u64) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// SIGTERM, as a service manager sends, then up to `limit` for it to
    /// exit; SIGKILL after that, and `None`.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.signal(Signal::SIGTERM);
        let status = self.exits_within(limit);
        if status.is_none() {
            self.kill();
        }
        status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Children stopped together when this goes: SIGTERM to each, the last
/// started first, then up to 5 s each before SIGKILL.
#[derive(Debug, Default)]
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        for child in self.0.iter_mut().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `gantry hub serve --listen LISTEN --data-dir DATA`, with stdin closed;
/// the caller adds flags, environment and where stderr goes.
pub fn hub_serve(gantry: &Path, data: &Path, listen: &str) -> Command {
    let mut command = Command::new(gantry);
    command
        .args(["hub", "serve", "--listen", listen, "--data-dir"])
        .arg(data)
        .stdin(Stdio::null());
    command
}

/// `gantry ARGS --data-dir DATA`: the hub's administration (tokens, nodes),
/// run with stdin closed.
pub fn hub_admin_command(gantry: &Path, data: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(gantry);
    command
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::null());
    command
}

/// The one line a `gantry` command given `args` printed on stdout, as the
/// token commands print a token; an error that quotes its stderr if it
/// failed or printed anything else.
pub fn one_line(args: &[&str], output: &Output) -> std::io::Result<String> {
    let said = |what: &str| {
        std::io::Error::other(format!(
            "gantry {} {what} ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    };
    if !output.status.success() {
        return Err(said("failed"));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    if text.lines().count() != 1 {
        return Err(said(&format!("printed {text:?}, not one line")));
    }
    Ok(text.trim().to_owned())
}

/// Runs a [`hub_admin_command`] and returns its [`one_line`].
pub fn hub_admin(gantry: &Path, data: &Path, args: &[&str]) -> std::io::Result<String> {
    one_line(args, &hub_admin_command(gantry, data, args).output()?)
}

/// The tokens a test's hub starts with: one node's and an admin's.
#[derive(Debug, Clone)]
pub struct HubTokens {
    /// The node token of the node added.
    pub node: String,
    /// An admin token, named "me".
    pub admin: String,
}

/// Adds node `node` and an admin token to the hub whose data dir is `data`
/// (made if missing), as `gantry hub node add` and `gantry hub token create
/// --admin` do before the hub serves; panics, quoting gantry, if either fails.
pub fn node_and_admin(gantry: &Path, data: &Path, node: &str) -> HubTokens {
    let made = |args: &[&str]| hub_admin(gantry, data, args).unwrap();
    HubTokens {
        node: made(&["hub", "node", "add", node]),
        admin: made(&["hub", "token", "create", "--admin", "me"]),
    }
}

/// [`hub_serve`] on a free loopback port with a heartbeat a second (so a
/// change at the hub reaches an agent quickly) and `RUST_LOG=warn`; the
/// caller adds flags.
pub fn quick_hub(gantry: &Path, data: &Path) -> Command {
    let mut command = hub_serve(gantry, data, "127.0.0.1:0");
    command.args(["--heartbeat", "1"]).env("RUST_LOG", "warn");
    command
}

/// The `gantry` CLI as the hub's admin: the hub's address and the admin
/// token in the environment, as a person's shell holds them, and stdin
/// closed; the caller adds the arguments.
pub fn as_admin(gantry: &Path, url: &str, admin: &str) -> Command {
    let mut command = Command::new(gantry);
    command
        .env("GANTRY_SERVER", url)
        .env("GANTRY_ADMIN_TOKEN", admin)
        .stdin(Stdio::null());
    command
}

/// A running `gantry hub serve` and the address it said it listens on.
#[derive(Debug)]
pub struct HubChild {
    pub process: Process,
    /// `http://127.0.0.1:PORT`, or `https://…` when it serves TLS.
    url: String,
}

impl HubChild {
    /// Starts `command` (a [`hub_serve`]) with its stdout piped and waits for
    /// its first line, `listening on http://ADDR`, blocking the thread 30 s
    /// at most. What it prints after that is read and dropped, so the pipe
    /// never closes under it. A hub that says something else (its port is
    /// taken, say) is killed, and the error quotes its line.
    pub fn start(command: &mut Command) -> std::io::Result<HubChild> {
        let mut process = Process::spawn(command.stdout(Stdio::piped()))?;
        let stdout = process.0.stdout.take().expect("stdout was piped");
        let (first, said) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = first.send(line);
            let _ = std::io::copy(&mut stdout, &mut std::io::sink());
        });
        let line = said.recv_timeout(LISTEN_LIMIT).map_err(|_| {
            std::io::Error::other(format!(
                "the hub did not say where it listens within {} s",
                LISTEN_LIMIT.as_secs()
            ))
        })?;
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            process.kill();
            return Err(std::io::Error::other(format!(
                "the hub's first line was {line:?}, not `listening on http://ADDR`"
            )));
        };
        Ok(HubChild {
            url: url.to_owned(),
            process,
        })
    }

    /// The hub's URL with `path` appended.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// `127.0.0.1:PORT`, for `--listen` on a restart.
    pub fn address(&self) -> &str {
        self.url
            .trim_start_matches("https://")
            .trim_start_matches("http://")
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

/// How to start `gantry agent start`, kept so that a restart is the same.
#[derive(Debug, Clone)]
pub struct AgentLaunch {
    pub gantry: PathBuf,
    pub server: String,
    pub token: String,
    pub name: String,
    pub host_dir: PathBuf,
    /// Its `XDG_CONFIG_HOME`, so that no person's agent.toml is read.
    pub config_home: PathBuf,
    /// Its `DOCKER_HOST`; `None`: this process's own.
    pub docker_host: Option<String>,
    /// More flags, after the ones above.
    pub args: Vec<String>,
}

impl AgentLaunch {
    /// `gantry agent start --server … --name … --host-dir … ARGS`, with the
    /// token in `GANTRY_TOKEN`, none of [`AGENT_ENV`] from this process, and
    /// stdin closed; the caller adds environment and where the output goes.
    ///
    /// The agent gets no disk budget ([`NO_DISK_BUDGET`]): the default one
    /// depends on the machine's free disk, so on a full CI disk it would
    /// evict and write that into task logs the tests compare. A test of the
    /// budget passes `--disk-…` flags, which come before the environment.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.gantry);
        for name in AGENT_ENV {
            command.env_remove(name);
        }
        command.envs(NO_DISK_BUDGET.iter().copied());
        command
            .args(["agent", "start", "--server", &self.server])
            .args(["--name", &self.name])
            .arg("--host-dir")
            .arg(&self.host_dir)
            .args(&self.args)
            .env("GANTRY_TOKEN", &self.token)
            .env("XDG_CONFIG_HOME", &self.config_home)
            .stdin(Stdio::null());
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        command
    }
}

/// The agent's status from its control socket (`{"op":"status"}`, the
/// request `gantry agent status --json` sends), or `None` while nothing
/// answers there within 2 s.
pub async fn agent_status(socket: &Path) -> Option<serde_json::Value> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let call = async {
        let stream = tokio::net::UnixStream::connect(socket).await.ok()?;
        let (read, mut write) = stream.into_split();
        write.write_all(b"{\"op\":\"status\"}\n").await.ok()?;
        let mut line = String::new();
        tokio::io::BufReader::new(read)
            .read_line(&mut line)
            .await
            .ok()?;
        let mut answer: serde_json::Value = serde_json::from_str(&line).ok()?;
        Some(answer.get_mut("status")?.take())
    };
    tokio::time::timeout(Duration::from_secs(2), call)
        .await
        .ok()
        .flatten()
}

/// Whether the agent's status says it reached the hub on its last call.
pub async fn agent_connected(socket: &Path) -> bool {
    agent_status(socket)
        .await
        .is_some_and(|status| status["connected"] == true)
}
