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
        postgres.make_certificates()?;
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

    /// The CA that signed the server's certificate (PEM), for tests that
    /// connect with `sslmode=verify-full&sslrootcert=…`.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A CA and a server certificate for 127.0.0.1 and localhost, made with
    /// the `openssl` command (no crypto crate in xtask), valid for two days:
    /// the server speaks TLS as a hosted PostgreSQL does, and the hub's
    /// `sslmode` URLs are tested against it.
    fn make_certificates(&self) -> Result<()> {
        let openssl = |args: &[&str]| -> Result<()> {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(&self.dir)
                .stdin(Stdio::null())
                .output()
                .context("cannot run openssl (Debian's `openssl` package)")?;
            if !output.status.success() {
                bail!(
                    "openssl {} failed ({}):\n{}",
                    args.join(" "),
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            Ok(())
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"],
                &ec[..],
                &["-keyout", "ca.key", "-out", "ca.pem"],
                &["-subj", "/CN=Gantry test PostgreSQL CA", "-days", "2"],
            ]
            .concat(),
        )?;
        openssl(
            &[
                &["req"],
                &ec[..],
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        )?;
        std::fs::write(
            self.dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .context("cannot write server.ext")?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ])?;
        // PostgreSQL reads a key only its owner can read, and the owner is
        // the server's user.
        let key = self.dir.join("server.key");
        exec::run(Command::new("chmod").arg("600").arg(&key))?;
        if exec::running_as_root() {
            exec::run(Command::new("chown").arg("postgres:").arg(&key))?;
        }
        Ok(())
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
            "-h 127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            self.port,
            shell_quote(&self.dir),
            shell_quote(&self.dir.join("server.pem")),
            shell_quote(&self.dir.join("server.key")),
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

/// How long the Docker engine and the registry may take to answer.
const DOCKER_START_LIMIT: Duration = Duration::from_secs(60);

/// The small image the end-to-end tests run: Debian's static busybox in an
/// image built FROM scratch, since nothing can be pulled from the internet here.
pub const TEST_IMAGE: &str = "gantry-test/busybox:1";

/// A Docker engine for the tests: the one already answering (`DOCKER_HOST`,
/// or the standard socket), else a `dockerd` of our own in a temporary folder,
/// which dropping stops and removes.
#[derive(Debug)]
pub struct DockerEngine {
    host: String,
    own: Option<(std::process::Child, PathBuf)>,
}

impl DockerEngine {
    /// Finds or starts an engine and waits until it answers.
    pub fn start() -> Result<DockerEngine> {
        let candidates = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|host| !host.is_empty())
            .into_iter()
            .chain(["unix:///var/run/docker.sock".to_owned()]);
        for host in candidates {
            if docker_answers(&host) {
                say(format!("Docker engine: using the one at {host}"));
                return Ok(DockerEngine { host, own: None });
            }
        }
        let dir = std::env::temp_dir().join(format!("gantry-xtask-docker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let host = format!("unix://{}", dir.join("docker.sock").display());
        let log = std::fs::File::create(dir.join("dockerd.log"))?;
        say(format!("Docker engine: starting dockerd at {host}"));
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(&host)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context(
                "cannot start dockerd: is the `docker.io` package installed, and is xtask root?",
            )?;
        let engine = DockerEngine {
            host,
            own: Some((child, dir)),
        };
        let started = Instant::now();
        while !docker_answers(&engine.host) {
            if exec::interrupted() {
                bail!("interrupted");
            }
            if started.elapsed() > DOCKER_START_LIMIT {
                bail!(
                    "dockerd did not answer within {}s\n{}",
                    DOCKER_START_LIMIT.as_secs(),
                    engine.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(engine)
    }

    /// The engine's address, for `DOCKER_HOST`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// A `docker` command against this engine.
    pub fn docker(&self) -> Command {
        let mut command = Command::new(docker_cli());
        command.env("DOCKER_HOST", &self.host).stdin(Stdio::null());
        command
    }

    /// Builds [`TEST_IMAGE`] from the static busybox, unless it exists already.
    pub fn build_test_image(&self) -> Result<()> {
        if self
            .docker()
            .args(["image", "inspect", TEST_IMAGE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?
            .success()
        {
            return Ok(());
        }
        let context =
            std::env::temp_dir().join(format!("gantry-xtask-image-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&context);
        std::fs::create_dir_all(&context)?;
        std::fs::copy("/bin/busybox", context.join("busybox"))
            .context("cannot copy /bin/busybox: is the `busybox-static` package installed?")?;
        std::fs::write(
            context.join("Dockerfile"),
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\nCMD [\"sh\"]\n",
        )?;
        // The classic builder ships with the engine; BuildKit may be absent.
        let built = exec::run(
            self.docker()
                .env("DOCKER_BUILDKIT", "0")
                .args(["build", "-q", "-t", TEST_IMAGE])
                .arg(&context),
        );
        let _ = std::fs::remove_dir_all(&context);
        built
    }

    fn log_tail(&self) -> String {
        let Some((_, dir)) = &self.own else {
            return String::new();
        };
        let log = std::fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for DockerEngine {
    fn drop(&mut self) {
        let Some((child, dir)) = &mut self.own else {
            return;
        };
        say("stopping dockerd");
        // SIGTERM lets dockerd stop its containers and unmount its layers.
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if child.try_wait().is_ok_and(|status| status.is_some()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if child.try_wait().is_ok_and(|status| status.is_none()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(error) = std::fs::remove_dir_all(&*dir) {
            say(format!("could not remove {}: {error}", dir.display()));
        }
    }
}

/// The docker CLI: Debian's, which matches Debian's engine, when present.
fn docker_cli() -> &'static str {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

fn docker_answers(host: &str) -> bool {
    Command::new(docker_cli())
        .args(["version", "--format", "{{.Server.Version}}"])
        .env("DOCKER_HOST", host)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A Docker registry on loopback with htpasswd login, holding the test image
/// as `<address>/gantry-test/busybox:1`, for the private-pull tests.
#[derive(Debug)]
pub struct Registry {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
}

/// The registry's test login.
pub const REGISTRY_USER: &str = "gantry";
/// Its password; throwaway, like the registry.
pub const REGISTRY_PASSWORD: &str = "test-password";

impl Registry {
    /// Starts Debian's `docker-registry` and pushes the test image to it.
    pub fn start(engine: &DockerEngine) -> Result<Registry> {
        let dir =
            std::env::temp_dir().join(format!("gantry-xtask-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data"))?;
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", REGISTRY_USER, REGISTRY_PASSWORD])
            .output()
            .context("cannot run htpasswd: is the `apache2-utils` package installed?")?;
        std::fs::write(dir.join("htpasswd"), htpasswd.stdout)?;
        let port = free_port()?;
        std::fs::write(
            dir.join("config.yml"),
            format!(
                "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: gantry-test\n    path: {}\n",
                dir.join("data").display(),
                dir.join("htpasswd").display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("registry.log"))?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("cannot start docker-registry: is the `docker-registry` package installed?")?;
        let registry = Registry { child, dir, port };
        let started = Instant::now();
        while std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if started.elapsed() > DOCKER_START_LIMIT {
                bail!("docker-registry did not listen on 127.0.0.1:{port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // A private docker config, so the login never lands in the person's ~/.docker.
        let config = registry.dir.join("docker-config");
        std::fs::create_dir_all(&config)?;
        let docker = || {
            let mut command = engine.docker();
            command.env("DOCKER_CONFIG", &config);
            command
        };
        let target = format!("{}/gantry-test/busybox:1", registry.address());
        exec::run(
            docker()
                .args([
                    "login",
                    "-u",
                    REGISTRY_USER,
                    "--password-stdin",
                    &registry.address(),
                ])
                .stdin(password_pipe()?),
        )?;
        exec::run(docker().args(["tag", TEST_IMAGE, &target]))?;
        exec::run(docker().args(["push", &target]).stdout(Stdio::null()))?;
        exec::run(
            docker()
                .args(["logout", &registry.address()])
                .stdout(Stdio::null()),
        )?;
        // The tests pull it back; it must not be on the machine already.
        exec::run(docker().args(["rmi", &target]).stdout(Stdio::null()))?;
        Ok(registry)
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// The registry password on a pipe, so it never appears in a process list.
fn password_pipe() -> Result<Stdio> {
    let path = std::env::temp_dir().join(format!("gantry-xtask-password-{}", std::process::id()));
    std::fs::write(&path, REGISTRY_PASSWORD)?;
    let file = std::fs::File::open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(Stdio::from(file))
}

impl Drop for Registry {
    fn drop(&mut self) {
        say("stopping docker-registry");
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The throwaway server speaks TLS with a certificate its CA signed for
    /// 127.0.0.1, as the hub's `sslmode=verify-full` tests need.
    #[test]
    fn postgres_serves_tls_that_its_ca_verifies() {
        if newest_bin().is_err() {
            assert!(
                std::env::var("GANTRY_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "no PostgreSQL server is installed, and GANTRY_REQUIRE_SERVICES=1"
            );
            eprintln!("SKIPPED: no PostgreSQL server installed (apt-get install postgresql)");
            return;
        }
        let postgres = Postgres::start().unwrap();
        let output = Command::new(postgres.bin.join("psql"))
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
                postgres.port,
                postgres.ca_file().display()
            ))
            .args([
                "-tAc",
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "t");
    }
}
