//! A private desktop for each test: its own D-Bus session bus with an
//! unlocked GNOME Keyring (the Secret Service), a notification server that
//! logs every Notify call (python3-dbusmock), a StatusNotifierWatcher that
//! records tray icons, and an Xvfb display. Nothing is shared between tests,
//! so their apps never meet (the single-instance guard is a D-Bus name).
//!
//! Also: a small W3C WebDriver client for tauri-driver, and the tray's menu
//! read and clicked over D-Bus (dbusmenu).

#![allow(dead_code, missing_docs, missing_debug_implementations)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where a program the tests need is, or a clear failure.
fn program(env: &str, name: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME").map(PathBuf::from)?;
            let cargo = home.join(".cargo/bin").join(name);
            cargo.exists().then_some(cargo)
        })
        .unwrap_or_else(|| PathBuf::from(default));
    let found = Command::new(&path)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    found.then_some(path)
}

/// Whether the desktop tests can run here; they skip (or fail when
/// GANTRY_REQUIRE_SERVICES=1) otherwise.
pub fn desktop_ready() -> bool {
    let missing: Vec<&str> = [
        ("Xvfb", "Xvfb"),
        ("dbus-daemon", "dbus-daemon"),
        ("gnome-keyring-daemon", "gnome-keyring-daemon"),
        ("secret-tool", "secret-tool"),
        ("xdotool", "xdotool"),
    ]
    .into_iter()
    .filter(|(_, bin)| {
        Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .stdout(Stdio::null())
            .status()
            .map_or(true, |s| !s.success())
    })
    .map(|(name, _)| name)
    .chain(
        tauri_driver()
            .is_none()
            .then_some("tauri-driver (cargo install tauri-driver)"),
    )
    .chain(webkit_driver().is_none().then_some("WebKitWebDriver"))
    .collect();
    if missing.is_empty() {
        return gantry_tests::docker_ready();
    }
    assert!(
        !gantry_tests::required(),
        "the desktop tests need {}, and GANTRY_REQUIRE_SERVICES=1 (cargo xtask test installs them)",
        missing.join(", ")
    );
    eprintln!("SKIPPED: the desktop tests need {}", missing.join(", "));
    false
}

pub fn tauri_driver() -> Option<PathBuf> {
    program("GANTRY_TAURI_DRIVER", "tauri-driver", "tauri-driver")
}

pub fn webkit_driver() -> Option<PathBuf> {
    let path = std::env::var_os("GANTRY_WEBKIT_DRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/WebKitWebDriver"));
    path.exists().then_some(path)
}

/// The app under test, built by cargo beside this test.
pub fn app_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gantry-desktop"))
}

/// The `gantry` CLI, built by `cargo test --workspace` in the same target dir.
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

/// Whether the tests run as root, read from the owner of `/proc/self`.
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// Chooses "Use this computer only" in the wizard and waits for local mode.
pub async fn choose_local_mode(driver: &Driver) {
    let local = driver.wait("[data-testid=wizard-local]", 60).await;
    driver.click(&local).await;
    driver
        .wait_text("[data-testid=status-connection]", 60, |t| {
            t.trim() == "local"
        })
        .await;
}

/// Opens a screen from the sidebar and waits for it.
pub async fn open_screen(driver: &Driver, name: &str) {
    let nav = driver.wait(&format!("[data-testid=nav-{name}]"), 30).await;
    driver.click(&nav).await;
    driver
        .wait(&format!("[data-testid=screen-{name}]"), 30)
        .await;
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when this goes, unless it ended.
pub struct Process(pub Child);

impl Process {
    /// Waits up to `secs` for it to exit by itself.
    pub async fn exited(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.0.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Children killed when the desktop goes.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.0.iter_mut().rev() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
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

/// The keychain a test's desktop has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyring {
    /// GNOME Keyring, unlocked as at login.
    Unlocked,
    /// GNOME Keyring with its login keyring locked, and no prompter.
    Locked,
    /// No Secret Service at all.
    Missing,
}

/// One test's private desktop.
pub struct Desktop {
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
        // The session bus: its address and pid on stdout. Its own config
        // starts no service on demand, so each test has exactly the services
        // it started (the standard one would start a keyring by itself).
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, BUS_CONFIG).unwrap();
        let out = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--fork", "--print-address=1", "--print-pid=1"])
            .output()
            .expect("dbus-daemon runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut lines = text.lines();
        let bus = lines.next().unwrap().trim().to_owned();
        let dbus_pid: i32 = lines.next().unwrap().trim().parse().unwrap();
        let mut desktop = Desktop {
            bus,
            display: String::new(),
            notify_log: dir.path().join("notify.log"),
            tray: Tray::default(),
            children: Children(Vec::new()),
            dbus_pid,
            dir,
        };
        // The keyring, unlocked with a password on stdin, as a login does;
        // or left locked, with no prompter to unlock it; or none at all.
        let unlock = match keyring {
            Keyring::Unlocked => Some(true),
            Keyring::Locked => Some(false),
            Keyring::Missing => None,
        };
        if let Some(unlock) = unlock {
            let mut command = desktop.command("gnome-keyring-daemon");
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
            desktop.children.0.push(daemon);
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
        // The display: Xvfb picks a free number and writes it to stdout.
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
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb runs");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        desktop.display = format!(":{}", line.trim());
        desktop.children.0.push(xvfb);
        desktop.tray = Tray::watch(&desktop.bus).await;
        let mut names = vec!["org.freedesktop.Notifications"];
        if unlock.is_some() {
            names.push("org.freedesktop.secrets");
        }
        desktop.wait_for_names(&names);
        desktop
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
        for name in [
            "GANTRY_SERVER",
            "SERVER_ADDRESS",
            "GANTRY_TOKEN",
            "ACCESS_TOKEN",
            "GANTRY_HOST_DIR",
            "AGENT_HOST_DIR",
            "GANTRY_CONFIG",
            "GANTRY_ADMIN_TOKEN",
            "WAYLAND_DISPLAY",
        ] {
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

    /// The names of this display's visible windows.
    pub fn visible_windows(&self, name: &str) -> usize {
        let out = self
            .command("xdotool")
            .args(["search", "--onlyvisible", "--name", name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
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

impl Drop for Desktop {
    fn drop(&mut self) {
        // Children first (they talk on the bus), then the bus.
        drop(std::mem::replace(&mut self.children, Children(Vec::new())));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.dbus_pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// Polls `check` until it gives a value, or fails with `what` after `secs`.
pub async fn until<T>(secs: u64, what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

// ---- WebDriver ----

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// tauri-driver, and one session driving the app.
pub struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: Children,
}

impl Driver {
    /// Starts tauri-driver on this desktop and the app through it.
    pub async fn start(desktop: &Desktop, args: &[&str]) -> Driver {
        Driver::start_with_env(desktop, args, &[]).await
    }

    /// Likewise, with more environment for the app.
    pub async fn start_with_env(desktop: &Desktop, args: &[&str], env: &[(&str, &str)]) -> Driver {
        Driver::start_app(desktop, &app_binary(), args, env).await
    }

    /// Starts tauri-driver on this desktop and `application` through it:
    /// the package test runs the installed copy this way.
    pub async fn start_app(
        desktop: &Desktop,
        application: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Driver {
        let port = free_port();
        let native = free_port();
        let child = desktop
            .command(tauri_driver().expect("tauri-driver"))
            .envs(env.iter().copied())
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .arg("--native-driver")
            .arg(webkit_driver().expect("WebKitWebDriver"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tauri-driver runs");
        let guard = Children(vec![child]);
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        until(30, "tauri-driver to answer", async || {
            http.get(format!("{base}/status"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await;
        let response: Value = http
            .post(format!("{base}/session"))
            .json(&json!({
                "capabilities": {
                    "alwaysMatch": {
                        "tauri:options": {
                            "application": application,
                            "args": args,
                        }
                    }
                }
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = response["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {response}"))
            .to_owned();
        Driver {
            http,
            base,
            session,
            _driver: guard,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        response["value"].clone()
    }

    /// The first element matching `css`, if any.
    pub async fn find(&self, css: &str) -> Option<String> {
        let value = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        value[ELEMENT].as_str().map(str::to_owned)
    }

    /// Waits for an element.
    pub async fn wait(&self, css: &str, secs: u64) -> String {
        until(secs, &format!("an element {css}"), async || {
            self.find(css).await
        })
        .await
    }

    pub async fn text(&self, element: &str) -> String {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    pub async fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_owned)
    }

    /// Clicks an element; a click the driver refuses fails the test.
    pub async fn click(&self, element: &str) {
        let answer = self
            .call(
                reqwest::Method::POST,
                &format!("/element/{element}/click"),
                Some(json!({})),
            )
            .await;
        assert!(
            answer.get("error").is_none(),
            "the click was refused: {answer}"
        );
    }

    pub async fn clear(&self, element: &str) {
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
    }

    pub async fn type_text(&self, element: &str, text: &str) {
        let keys: Vec<String> = text.chars().map(String::from).collect();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text, "value": keys})),
        )
        .await;
    }

    /// Runs `script` in the page and returns its value.
    pub async fn script(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// The page's text content under `css` (works for hidden elements too).
    pub async fn text_of(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            serde_json::to_string(css).unwrap()
        );
        self.script(&script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the text under `css` satisfies `check`.
    pub async fn wait_text(&self, css: &str, secs: u64, check: impl Fn(&str) -> bool) -> String {
        until(secs, &format!("the text of {css}"), async || {
            let text = self.text_of(css).await;
            check(&text).then_some(text)
        })
        .await
    }

    pub async fn screenshot(&self, path: &Path) {
        let value = self.call(reqwest::Method::GET, "/screenshot", None).await;
        if let Some(data) = value.as_str() {
            use std::io::Write as _;
            let bytes = base64_decode(data);
            let _ = std::fs::File::create(path).and_then(|mut f| f.write_all(&bytes));
        }
    }

    /// Ends the session (tauri-driver stops the app).
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let Some(value) = TABLE.iter().position(|&c| c == byte) else {
            continue;
        };
        buffer = (buffer << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

// ---- The tray over D-Bus ----

/// A StatusNotifierWatcher that records each tray icon that registers.
#[derive(Default, Clone)]
pub struct Tray {
    items: Arc<Mutex<Vec<(String, String)>>>,
    connection: Option<zbus::Connection>,
}

struct Watcher {
    items: Arc<Mutex<Vec<(String, String)>>>,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    async fn register_status_notifier_item(
        &self,
        service: &str,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let (name, path) = if service.starts_with('/') {
            (sender, service.to_owned())
        } else {
            (service.to_owned(), "/StatusNotifierItem".to_owned())
        };
        self.items.lock().unwrap().push((name, path));
    }

    async fn register_status_notifier_host(&self, _service: &str) {}

    #[zbus(property)]
    async fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items
            .lock()
            .unwrap()
            .iter()
            .map(|(name, path)| format!("{name}{path}"))
            .collect()
    }

    #[zbus(property)]
    async fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    async fn protocol_version(&self) -> i32 {
        0
    }
}

/// One menu entry.
#[derive(Debug, Clone)]
pub struct MenuEntry {
    pub id: i32,
    pub label: String,
    pub enabled: bool,
    pub toggled: Option<bool>,
}

impl Tray {
    async fn watch(bus: &str) -> Tray {
        let items = Arc::new(Mutex::new(Vec::new()));
        let connection = zbus::connection::Builder::address(bus)
            .unwrap()
            .serve_at(
                "/StatusNotifierWatcher",
                Watcher {
                    items: Arc::clone(&items),
                },
            )
            .unwrap()
            .name("org.kde.StatusNotifierWatcher")
            .unwrap()
            .build()
            .await
            .expect("the tray watcher connects to the test bus");
        Tray {
            items,
            connection: Some(connection),
        }
    }

    /// A property of the app's tray item, once it registered, with the
    /// item's bus name.
    async fn item_property(&self, property: &str) -> (String, zbus::zvariant::OwnedValue) {
        let (name, path) = until(60, "a tray icon to register", async || {
            self.items.lock().unwrap().last().cloned()
        })
        .await;
        let connection = self.connection.as_ref().unwrap();
        let reply = connection
            .call_method(
                Some(name.as_str()),
                path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.kde.StatusNotifierItem", property),
            )
            .await
            .unwrap_or_else(|e| panic!("the tray item has no {property}: {e}"));
        (name, reply.body().deserialize().unwrap())
    }

    /// The app's tray item (bus name, menu path), once it registered.
    pub async fn menu_address(&self) -> (String, String) {
        let (name, value) = self.item_property("Menu").await;
        let menu: zbus::zvariant::OwnedObjectPath = value.try_into().unwrap();
        (name, menu.to_string())
    }

    /// The icon the tray item shows now (a file name or icon name).
    pub async fn icon(&self) -> String {
        let (_, value) = self.item_property("IconName").await;
        String::try_from(value).unwrap_or_default()
    }

    /// The menu's entries, in order (separators left out).
    pub async fn menu(&self) -> Vec<MenuEntry> {
        let (name, path) = self.menu_address().await;
        let connection = self.connection.as_ref().unwrap();
        let reply = connection
            .call_method(
                Some(name.as_str()),
                path.as_str(),
                Some("com.canonical.dbusmenu"),
                "GetLayout",
                &(0i32, -1i32, Vec::<String>::new()),
            )
            .await
            .expect("GetLayout answers");
        type Layout = (
            i32,
            HashMap<String, zbus::zvariant::OwnedValue>,
            Vec<zbus::zvariant::OwnedValue>,
        );
        let (_revision, (_root, _props, children)): (u32, Layout) =
            reply.body().deserialize().unwrap();
        let mut entries = Vec::new();
        for child in &children {
            collect(child, &mut entries);
        }
        entries
    }

    /// The entry whose label starts with `prefix`.
    pub async fn entry(&self, prefix: &str) -> MenuEntry {
        let menu = self.menu().await;
        menu.iter()
            .find(|e| e.label.starts_with(prefix))
            .cloned()
            .unwrap_or_else(|| panic!("no tray menu entry {prefix:?} in {menu:?}"))
    }

    /// Clicks an entry, as a tray host does.
    pub async fn click(&self, id: i32) {
        let (name, path) = self.menu_address().await;
        let connection = self.connection.as_ref().unwrap();
        connection
            .call_method(
                Some(name.as_str()),
                path.as_str(),
                Some("com.canonical.dbusmenu"),
                "Event",
                &(id, "clicked", zbus::zvariant::Value::from(0i32), 0u32),
            )
            .await
            .expect("the menu takes the click");
    }
}

/// Walks a dbusmenu layout `(ia{sv}av)`.
fn collect(value: &zbus::zvariant::Value<'_>, out: &mut Vec<MenuEntry>) {
    use zbus::zvariant::Value as V;
    let value = match value {
        V::Value(inner) => inner.as_ref(),
        other => other,
    };
    let V::Structure(structure) = value else {
        return;
    };
    let fields = structure.fields();
    let (Some(V::I32(id)), Some(V::Dict(props)), Some(V::Array(children))) =
        (fields.first(), fields.get(1), fields.get(2))
    else {
        return;
    };
    let props: HashMap<String, zbus::zvariant::OwnedValue> =
        props.try_clone().unwrap().try_into().unwrap_or_default();
    let text = |key: &str| {
        props
            .get(key)
            .and_then(|v| String::try_from(v.try_clone().unwrap()).ok())
    };
    if *id != 0 && text("type").as_deref() != Some("separator") {
        out.push(MenuEntry {
            id: *id,
            label: text("label").unwrap_or_default().replace('_', ""),
            enabled: props
                .get("enabled")
                .and_then(|v| bool::try_from(v.try_clone().unwrap()).ok())
                .unwrap_or(true),
            toggled: props
                .get("toggle-state")
                .and_then(|v| i32::try_from(v.try_clone().unwrap()).ok())
                .map(|s| s == 1),
        });
    }
    for child in children.iter() {
        collect(child, out);
    }
}
