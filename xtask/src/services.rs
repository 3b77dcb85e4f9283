//! The services the tests talk to, started for one run and stopped after it.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};

/// How long PostgreSQL may take to accept connections before xtask gives up.
const POSTGRES_START_LIMIT: Duration = Duration::from_secs(30);

/// A throwaway PostgreSQL server in a temporary folder, listening on loopback
/// only. Dropping it stops the server and deletes the folder, so a run that
/// fails or is interrupted leaves nothing behind.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    /// Holds the data folder, the unix socket and the server's log.
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    /// Creates a cluster with `initdb` and starts it on a free port,
    /// returning once `pg_isready` answers.
    pub fn start() -> Result<Postgres> {
        let bin = newest_bin()?;
        let dir =
            std::env::temp_dir().join(format!("gantry-xtask-postgres-{}", std::process::id()));
        // A folder of this name can only be left over from a killed run whose
        // process id this one reuses; its server is gone with it.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // From here on the guard owns the folder, so every early return below
        // still removes it.
        let postgres = Postgres {
            bin,
            dir,
            port: free_port()?,
        };
        if exec::running_as_root() {
            // PostgreSQL refuses to run as root, so the server runs as the
            // `postgres` user the Debian package creates, and owns its folder.
            exec::run(Command::new("chown").arg("postgres:").arg(&postgres.dir))?;
        }
        postgres.initdb()?;
        postgres.launch()?;
        postgres.wait_until_ready()?;
        Ok(postgres)
    }

    /// The URL the tests connect with: trust authentication, so no password.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// A command for one of the server's programs, run as the `postgres` user
    /// when xtask is root, in the temporary folder so that the server never
    /// needs to read the workspace.
    fn server_command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut command = if exec::running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }

    fn initdb(&self) -> Result<()> {
        // The C locale exists on every machine, unlike the person's own, and
        // --no-sync saves seconds on a cluster that lives for one run.
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(self.data())
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "--locale=C",
                "--encoding=UTF8",
                "--no-sync",
            ])
            .output()
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }

    fn launch(&self) -> Result<()> {
        // pg_ctl passes -o to the server through a shell, hence the quotes.
        let options = format!(
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            shell_quote(&self.dir)
        );
        // -W: pg_ctl returns at once and xtask does the bounded wait itself,
        // so a failure can show the server's log.
        let output = self
            .server_command("pg_ctl")
            .arg("start")
            .arg("-W")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .arg("-o")
            .arg(options)
            .output()
            .context("cannot run pg_ctl")?;
        if !output.status.success() {
            bail!(
                "pg_ctl start failed ({}):\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                self.log_tail()
            );
        }
        Ok(())
    }

    fn wait_until_ready(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            let ready = Command::new(self.bin.join("pg_isready"))
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-p",
                    &self.port.to_string(),
                ])
                .stdin(Stdio::null())
                .status()
                .context("cannot run pg_isready")?;
            if ready.success() {
                return Ok(());
            }
            if exec::interrupted() {
                bail!("interrupted");
            }
            if started.elapsed() > POSTGRES_START_LIMIT {
                bail!(
                    "PostgreSQL did not accept connections on 127.0.0.1:{} within {}s\n{}",
                    self.port,
                    POSTGRES_START_LIMIT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of the server's log, which say why it would not start.
    fn log_tail(&self) -> String {
        match std::fs::read_to_string(self.log()) {
            Ok(log) => {
                let lines: Vec<_> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(20)..].join("\n");
                format!("last lines of {}:\n{tail}", self.log().display())
            }
            Err(error) => format!("(no server log at {}: {error})", self.log().display()),
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            say("stopping PostgreSQL");
            // Immediate mode: the data is thrown away, so a clean checkpoint
            // would only cost time.
            let stopped = self
                .server_command("pg_ctl")
                .args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(self.data())
                .stdout(Stdio::null())
                .status();
            if !stopped.is_ok_and(|status| status.success()) {
                say(format!(
                    "could not stop PostgreSQL cleanly; see {}",
                    self.log().display()
                ));
            }
        }
        if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            say(format!("could not remove {}: {error}", self.dir.display()));
        }
    }
}

/// The `bin` folder of the newest PostgreSQL installed the Debian way, in
/// `/usr/lib/postgresql/<major>/bin`; Debian keeps these off `PATH`.
fn newest_bin() -> Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let entries = std::fs::read_dir(root).with_context(|| {
        format!(
            "cannot read {}: is the `postgresql` package installed?",
            root.display()
        )
    })?;
    let newest = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major);
    match newest {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server under {} (expected <major>/bin/initdb)",
            root.display()
        ),
    }
}

/// A port nobody listens on right now. Another program could take it before
/// PostgreSQL binds it; the race is rare on a test machine, and the start
/// then fails with a clear message in the log.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

/// `path` in single quotes for a POSIX shell.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}
