//! A private desktop for each test or benchmark: its own D-Bus session bus
//! with a GNOME Keyring (the Secret Service), a notification server that
//! logs every Notify call (python3-dbusmock), a StatusNotifierWatcher that
//! records tray icons, and an Xvfb display. Nothing is shared, so two apps
//! never meet (the single-instance guard is a D-Bus name), and nothing of
//! the person's own session (keychain, tray, notifications) is touched.

mod tray;
mod window;

pub use tray::{MenuEntry, Tray};

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::children::{AGENT_ENV, Children};

/// A session bus with no services started on demand.
const BUS_CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

/// The programs every private desktop runs, with their Debian packages.
const SESSION: [(&str, &str); 3] = [
    ("Xvfb", "xvfb"),
    ("dbus-daemon", "dbus"),
    ("gnome-keyring-daemon", "gnome-keyring"),
];

/// The programs the desktop tests also look at it with.
const TOOLS: [(&str, &str); 2] = [("secret-tool", "libsecret-tools"), ("xdotool", "xdotool")];

/// Whether `program` is on PATH.
fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The programs a private desktop needs that this machine lacks, each as
/// `program (Debian package)`.
pub fn missing_programs() -> Vec<String> {
    missing(&SESSION)
}

fn missing(programs: &[(&str, &str)]) -> Vec<String> {
    programs
        .iter()
        .filter(|(program, _)| !on_path(program))
        .map(|(program, package)| format!("{program} ({package})"))
        .collect()
}

/// Whether the desktop tests can run here; they skip (or fail when
/// GANTRY_REQUIRE_SERVICES=1) otherwise. They drive the app through
/// tauri-driver and run its tasks on the Docker engine, so those count too.
pub fn desktop_ready() -> bool {
    let mut absent = missing(&SESSION);
    absent.extend(missing(&TOOLS));
    if tauri_driver().is_none() {
        absent.push("tauri-driver (cargo install tauri-driver)".into());
    }
    if webkit_driver().is_none() {
        absent.push("WebKitWebDriver".into());
    }
    if absent.is_empty() {
        return crate::services::docker_ready();
    }
    assert!(
        !crate::services::required(),
        "the desktop tests need {}, and GANTRY_REQUIRE_SERVICES=1 (cargo xtask test installs them)",
        absent.join(", ")
    );
    eprintln!("SKIPPED: the desktop tests need {}", absent.join(", "));
    false
}

/// tauri-driver: `GANTRY_TAURI_DRIVER`, else cargo's bin folder, else PATH;
/// `None` unless it answers `--help`.
pub fn tauri_driver() -> Option<PathBuf> {
    let path = std::env::var_os("GANTRY_TAURI_DRIVER")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from)?;
            let cargo = home.join(".cargo/bin/tauri-driver");
            cargo.exists().then_some(cargo)
        })
        .unwrap_or_else(|| PathBuf::from("tauri-driver"));
    let found = Command::new(&path)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    found.then_some(path)
}

/// WebKitGTK's WebDriver, which tauri-driver runs underneath it on Linux.
pub fn webkit_driver() -> Option<PathBuf> {
    let path = std::env::var_os("GANTRY_WEBKIT_DRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/WebKitWebDriver"));
    path.exists().then_some(path)
}

/// The `gantry` CLI, built by `cargo test --workspace` in the same target
/// dir as the test running.
pub fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let cli = dir.join("gantry");
    assert!(
        cli.exists(),
        "{} is missing: build it with cargo build -p gantry-cli",
        cli.display()
    );
    cli
}

/// The keychain a desktop has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyring {
    /// GNOME Keyring, unlocked as at login.
    Unlocked,
    /// GNOME Keyring with its login keyring locked, and no prompter.
    Locked,
    /// No Secret Service at all.
    Missing,
}

/// One private desktop.
#[allow(missing_debug_implementations)] // children and a bus connection; nothing to show
pub struct Desktop {
    /// Holds the session's home, config, data and runtime folders.
    pub dir: tempfile::TempDir,
    pub bus: String,
    pub display: String,
    pub notify_log: PathBuf,
    pub tray: Tray,
    children: Children,
    dbus_pid: i32,
}

impl Desktop {
    /// Starts the bus, an unlocked keyring, the notification server, the
    /// tray watcher and the display.
    pub async fn start() -> Desktop {
        Desktop::start_with(Keyring::Unlocked).await
    }

    /// Likewise, with the keyring as given.
    pub async fn start_with(keyring: Keyring) -> Desktop {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "config", "data", "runtime"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::set_permissions(
            dir.path().join("runtime"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        let (bus, dbus_pid) = start_bus(dir.path());
        let mut desktop = Desktop {
            bus,
            display: String::new(),
            notify_log: dir.path().join("notify.log"),
            tray: Tray::default(),
            children: Children::default(),
            dbus_pid,
            dir,
        };
        let mut names = vec!["org.freedesktop.Notifications"];
        if keyring != Keyring::Missing {
            desktop.start_keyring(keyring == Keyring::Unlocked);
            names.push("org.freedesktop.secrets");
        }
        // A notification server that logs each Notify call.
        let notifications = desktop
            .command("/usr/bin/python3")
            .args(["-m", "dbusmock", "--template", "notification_daemon", "-l"])
            .arg(&desktop.notify_log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/python3 -m dbusmock runs (Debian python3-dbusmock)");
        desktop.children.0.push(notifications);
        desktop.start_display();
        desktop.tray = Tray::watch(&desktop.bus).await;
        desktop.wait_for_names(&names);
        desktop
    }

    /// The keyring, unlocked with a password on stdin, as a login does; or
    /// left locked, with no prompter to unlock it.
    fn start_keyring(&mut self, unlock: bool) {
        let mut command = self.command("gnome-keyring-daemon");
        command.args(["--foreground", "--components=secrets"]);
        if unlock {
            command.arg("--unlock");
        }
        let mut daemon = command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gnome-keyring-daemon runs");
        {
            let mut stdin = daemon.stdin.take().unwrap();
            if unlock {
                stdin.write_all(b"test-password").unwrap();
            }
        }
        self.children.0.push(daemon);
    }

    /// The display: Xvfb picks a free number and writes it to stdout.
    fn start_display(&mut self) {
        let mut xvfb = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.display = format!(":{}", line.trim());
        self.children.0.push(xvfb);
    }

    /// Waits until the bus has these names.
    fn wait_for_names(&self, names: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self
                .command("dbus-send")
                .args([
                    "--session",
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.ListNames",
                ])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            if names.iter().all(|n| text.contains(n)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the session bus never got {names:?}: {text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The host dir the app uses by default here.
    pub fn host_dir(&self) -> PathBuf {
        self.data_dir().join("gantry/agent")
    }

    /// The environment of everything started on this desktop.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |p: PathBuf| p.display().to_string();
        let mut env = vec![
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus.clone()),
            ("HOME".into(), path(self.home())),
            ("XDG_CONFIG_HOME".into(), path(self.config_dir())),
            ("XDG_DATA_HOME".into(), path(self.data_dir())),
            ("XDG_CACHE_HOME".into(), path(self.home().join(".cache"))),
            (
                "XDG_RUNTIME_DIR".into(),
                path(self.dir.path().join("runtime")),
            ),
            ("NO_AT_BRIDGE".into(), "1".into()),
            ("GANTRY_LOG".into(), "info,gantry_agent=debug".into()),
        ];
        if !self.display.is_empty() {
            env.push(("DISPLAY".into(), self.display.clone()));
        }
        env
    }

    /// A command in this desktop's environment, with the agent's settings
    /// from the test's own environment removed.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        for name in AGENT_ENV.iter().chain(&["WAYLAND_DISPLAY"]) {
            command.env_remove(name);
        }
        command.envs(self.env());
        command
    }

    /// Keeps a child to be stopped with the desktop.
    pub fn adopt(&mut self, child: Child) {
        self.children.0.push(child);
    }

    /// The app's own log (the host dir's logs/desktop.*.log), for failures.
    pub fn app_log(&self) -> String {
        let mut text = String::new();
        if let Ok(entries) = std::fs::read_dir(self.host_dir().join("logs")) {
            for entry in entries.flatten() {
                text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        text
    }

    /// Every Notify call logged so far.
    pub fn notifications(&self) -> String {
        std::fs::read_to_string(&self.notify_log).unwrap_or_default()
    }

    /// The id the notification server gave the first notification whose
    /// Notify call contains `text` (the mock numbers them from 1).
    pub fn notification_id(&self, text: &str) -> Option<u32> {
        self.notifications()
            .lines()
            .filter(|line| line.contains(" Notify "))
            .position(|line| line.contains(text))
            .map(|index| index as u32 + 1)
    }

    /// Clicks a notification, as a notification server reports it.
    pub async fn click_notification(&self, id: u32) {
        let connection = zbus::connection::Builder::address(self.bus.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        connection
            .call_method(
                Some("org.freedesktop.Notifications"),
                "/org/freedesktop/Notifications",
                Some("org.freedesktop.DBus.Mock"),
                "EmitSignal",
                &(
                    "org.freedesktop.Notifications",
                    "ActionInvoked",
                    "us",
                    vec![
                        zbus::zvariant::Value::from(id),
                        zbus::zvariant::Value::from("default"),
                    ],
                ),
            )
            .await
            .expect("the mock notification server emits the click");
    }

    /// The token as the Secret Service gives it back.
    pub fn keychain_lookup(&self, server: &str) -> Option<String> {
        let out = self
            .command("secret-tool")
            .args(["lookup", "service", "gantry", "username", server])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// How many of this display's windows are visible whose title matches
    /// `name` (a regular expression).
    pub fn visible_windows(&self, name: &str) -> usize {
        self.count_visible_windows(name)
            .expect("xdotool runs (Debian xdotool)")
    }

    /// Likewise, or `None` when xdotool cannot run to tell.
    pub fn count_visible_windows(&self, name: &str) -> Option<usize> {
        let out = self
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", name])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).lines().count())
    }

    /// Starts the `gantry` CLI with `args` in this desktop's environment.
    pub fn gantry(&self, args: &[&str]) -> std::process::Output {
        self.command(cli_binary()).args(args).output().unwrap()
    }

    /// Files under `root` whose bytes contain `needle`.
    pub fn files_containing(root: &Path, needle: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file()
                    && std::fs::read(&path).is_ok_and(|bytes| {
                        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
                    })
                {
                    found.push(path);
                }
            }
        }
        found
    }
}

/// Starts a session bus for the desktop in `dir`; returns its address and
/// pid, which it prints on stdout. Its own config starts no service on
/// demand, so the desktop has exactly the services it started (the standard
/// one would start a keyring by itself).
fn start_bus(dir: &Path) -> (String, i32) {
    let config = dir.join("bus.conf");
    std::fs::write(&config, BUS_CONFIG).unwrap();
    let out = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--fork", "--print-address=1", "--print-pid=1"])
        .stdin(Stdio::null())
        .output()
        .expect("dbus-daemon runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut lines = text.lines();
    let bus = lines.next().unwrap().trim().to_owned();
    let pid: i32 = lines.next().unwrap().trim().parse().unwrap();
    (bus, pid)
}

impl Drop for Desktop {
    fn drop(&mut self) {
        // Children first (they talk on the bus), then the bus.
        drop(std::mem::take(&mut self.children));
        let _ = kill(Pid::from_raw(self.dbus_pid), Signal::SIGTERM);
    }
}
