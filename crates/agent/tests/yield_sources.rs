//! The yield rules against their real sources: an X server (Xvfb) given
//! real input by xdotool and a real full-screen window, UPower and logind
//! as python3-dbusmock serves them on a private bus, and a real process
//! named like an exclusive app. Each test skips where its programs are
//! missing, and fails there with GANTRY_REQUIRE_SERVICES=1.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gantry_agent::monitor::GpuDevice;
use gantry_agent::yielding::YieldSettings;
use gantry_agent::yielding::bus::SystemBus;
use gantry_agent::yielding::engine::{Check, Probes, Sources};
use gantry_agent::yielding::x11::Display;
use x11rb::connection::Connection as _;
use x11rb::protocol::xproto::{
    AtomEnum, ConnectionExt as _, CreateWindowAux, PropMode, WindowClass,
};
use x11rb::wrapper::ConnectionExt as _;

/// A child process killed when the test ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `programs` are all there; skips (or fails, when required) otherwise.
fn ready(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {p}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("GANTRY_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{missing:?} missing and GANTRY_REQUIRE_SERVICES=1 forbids skipping"
    );
    eprintln!("skipped: {missing:?} missing");
    false
}

/// The agent's side of the GPUs: none here.
struct NoGpus;

impl Probes for NoGpus {
    fn devices(&self) -> Vec<GpuDevice> {
        Vec::new()
    }
    fn own_pids(&self) -> HashSet<u32> {
        HashSet::new()
    }
}

/// An Xvfb display of its own (it picks a free number), 1280x800.
fn xvfb() -> (Kill, String) {
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-noreset", "-nolisten", "tcp"])
        .args(["-screen", "0", "1280x800x24"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (Kill(child), format!(":{}", line.trim()))
}

fn xdotool(display: &str, args: &[&str]) {
    let status = Command::new("xdotool")
        .args(args)
        .env("DISPLAY", display)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn idle_time_follows_real_input_and_full_screen_windows_are_seen() {
    if !ready(&["Xvfb", "xdotool"]) {
        return;
    }
    let (_xvfb, name) = xvfb();
    let mut display = Display::new(Some(name.clone()));
    xdotool(&name, &["mousemove", "10", "10"]);
    std::thread::sleep(Duration::from_millis(1500));
    let idle = display.presence().expect("the display answers");
    assert!(idle.idle >= Duration::from_millis(1400), "{idle:?}");
    assert!(!idle.full_screen);
    xdotool(&name, &["mousemove", "200", "300"]);
    let active = display.presence().unwrap();
    assert!(active.idle < Duration::from_millis(1000), "{active:?}");
    xdotool(&name, &["key", "shift"]);
    assert!(display.presence().unwrap().idle < Duration::from_millis(1000));

    // A window as large as the screen, with no window manager to ask.
    let (x, screen) = x11rb::connect(Some(&name)).unwrap();
    let root = x.setup().roots[screen].root;
    let window = x.generate_id().unwrap();
    x.create_window(
        0,
        window,
        root,
        0,
        0,
        1280,
        800,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new(),
    )
    .unwrap();
    x.map_window(window).unwrap();
    x.sync().unwrap();
    assert!(display.presence().unwrap().full_screen);
    x.unmap_window(window).unwrap();
    x.sync().unwrap();
    assert!(!display.presence().unwrap().full_screen);

    // An EWMH window manager's word: the active window's state.
    let small = x.generate_id().unwrap();
    x.create_window(
        0,
        small,
        root,
        10,
        10,
        200,
        100,
        0,
        WindowClass::INPUT_OUTPUT,
        0,
        &CreateWindowAux::new(),
    )
    .unwrap();
    x.map_window(small).unwrap();
    let atom = |n: &[u8]| x.intern_atom(false, n).unwrap().reply().unwrap().atom;
    let (active_window, state, fullscreen) = (
        atom(b"_NET_ACTIVE_WINDOW"),
        atom(b"_NET_WM_STATE"),
        atom(b"_NET_WM_STATE_FULLSCREEN"),
    );
    x.change_property32(
        PropMode::REPLACE,
        root,
        active_window,
        AtomEnum::WINDOW,
        &[small],
    )
    .unwrap();
    x.change_property32(
        PropMode::REPLACE,
        small,
        state,
        AtomEnum::ATOM,
        &[fullscreen],
    )
    .unwrap();
    x.sync().unwrap();
    assert!(display.presence().unwrap().full_screen);
    x.change_property32(PropMode::REPLACE, small, state, AtomEnum::ATOM, &[])
        .unwrap();
    x.sync().unwrap();
    assert!(!display.presence().unwrap().full_screen);
}

#[tokio::test]
async fn the_activity_rule_fires_on_input_and_clears_when_idle() {
    if !ready(&["Xvfb", "xdotool"]) {
        return;
    }
    let (_xvfb, name) = xvfb();
    let settings = YieldSettings {
        when_active: Some(Duration::from_secs(1)),
        ..YieldSettings::default()
    };
    let mut sources = Sources::new(&settings, NoGpus).unwrap().with_display(&name);
    xdotool(&name, &["mousemove", "50", "50"]);
    let firing = sources.firing().await;
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0].reason, "you are using this computer");
    assert!(!firing[0].gpu_only);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sources.firing().await.is_empty());
}

/// A private bus with UPower (on battery) and logind served by dbusmock.
struct Bus {
    address: String,
    _daemon: Kill,
    _mocks: Vec<Kill>,
    _dir: tempfile::TempDir,
}

impl Bus {
    fn start() -> Bus {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:path={}", dir.path().join("bus").display());
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address={address}"))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let mock = |template: &str, parameters: &str| {
            Kill(
                Command::new("/usr/bin/python3")
                    .args(["-m", "dbusmock", "--template", template, "-p", parameters])
                    .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        };
        let mocks = vec![
            mock("upower", r#"{"OnBattery": true}"#),
            mock("logind", "{}"),
        ];
        Bus {
            address,
            _daemon: Kill(daemon),
            _mocks: mocks,
            _dir: dir,
        }
    }

    /// Waits until both mocks own their names on the bus.
    async fn ready(&self) {
        let connection = zbus::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        for name in ["org.freedesktop.UPower", "org.freedesktop.login1"] {
            let owned = async || {
                let reply = connection
                    .call_method(
                        Some("org.freedesktop.DBus"),
                        "/org/freedesktop/DBus",
                        Some("org.freedesktop.DBus"),
                        "NameHasOwner",
                        &(name,),
                    )
                    .await
                    .unwrap();
                reply.body().deserialize::<bool>().unwrap()
            };
            until_equal(owned, true).await;
        }
    }

    /// Calls a mock's `org.freedesktop.DBus.Mock` method.
    async fn mock<B>(&self, service: &str, path: &str, method: &str, body: &B)
    where
        B: serde::Serialize + zbus::zvariant::DynamicType + Sync,
    {
        let connection = zbus::connection::Builder::address(self.address.as_str())
            .unwrap()
            .build()
            .await
            .unwrap();
        connection
            .call_method(
                Some(service),
                path,
                Some("org.freedesktop.DBus.Mock"),
                method,
                body,
            )
            .await
            .unwrap();
    }
}

/// Polls `read` until it gives `want`, for at most 20 s.
async fn until_equal<T: PartialEq + std::fmt::Debug>(mut read: impl AsyncFnMut() -> T, want: T) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = read().await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "got {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn battery_and_idle_hint_come_over_the_system_bus() {
    if !ready(&["dbus-daemon", "/usr/bin/python3"]) {
        return;
    }
    let bus = Bus::start();
    bus.ready().await;
    let mut system = SystemBus::at(&bus.address);
    until_equal(async || system.on_battery().await, true).await;

    let settings = YieldSettings {
        on_battery: true,
        ..YieldSettings::default()
    };
    let mut sources = Sources::new(&settings, NoGpus)
        .unwrap()
        .with_system_bus(&bus.address);
    let firing = sources.firing().await;
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0].reason, "on battery");

    let upower = "org.freedesktop.UPower";
    let on_battery = |on: bool| {
        (
            upower,
            HashMap::from([("OnBattery", zbus::zvariant::Value::from(on))]),
        )
    };
    bus.mock(
        upower,
        "/org/freedesktop/UPower",
        "UpdateProperties",
        &on_battery(false),
    )
    .await;
    until_equal(async || system.on_battery().await, false).await;
    assert!(sources.firing().await.is_empty());

    // logind: this user, active, then idle for five minutes.
    let login1 = "org.freedesktop.login1";
    until_equal(async || system.idle().await.is_some(), false).await;
    let uid = nix::unistd::getuid().as_raw();
    // The template's GetUser adds a number to a string and fails; real
    // logind answers the user's path.
    let get_user = (
        "org.freedesktop.login1.Manager",
        "GetUser",
        "u",
        "o",
        "ret = '/org/freedesktop/login1/user/%d' % args[0]",
    );
    bus.mock(login1, "/org/freedesktop/login1", "AddMethod", &get_user)
        .await;
    bus.mock(
        login1,
        "/org/freedesktop/login1",
        "AddUser",
        &(uid, "person", true),
    )
    .await;
    until_equal(async || system.idle().await, Some(Duration::ZERO)).await;
    let since = std::time::SystemTime::now() - Duration::from_secs(300);
    let micros = since
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let user = format!("/org/freedesktop/login1/user/{uid}");
    let idle = (
        "org.freedesktop.login1.User",
        HashMap::from([
            ("IdleHint", zbus::zvariant::Value::from(true)),
            ("IdleSinceHint", zbus::zvariant::Value::from(micros)),
        ]),
    );
    bus.mock(login1, &user, "UpdateProperties", &idle).await;
    let idle = system.idle().await.expect("logind answers");
    assert!(
        idle >= Duration::from_secs(299) && idle < Duration::from_secs(310),
        "{idle:?}"
    );
}

#[tokio::test]
async fn an_exclusive_app_running_stops_all_work() {
    let dir = tempfile::tempdir().unwrap();
    let blender = dir.path().join("blender");
    // A link, not a copy: a copy being written while another test thread forks
    // makes exec fail with "Text file busy". The process is still named for the link.
    std::os::unix::fs::symlink("/bin/sleep", &blender).unwrap();
    let settings = YieldSettings {
        exclusive_apps: vec!["Blender".into()],
        ..YieldSettings::default()
    };
    let mut sources = Sources::new(&settings, NoGpus).unwrap();
    assert!(sources.firing().await.is_empty());
    let _blender = Kill(Command::new(&blender).arg("60").spawn().unwrap());
    let mut firing = Vec::new();
    for _ in 0..100 {
        firing = sources.firing().await;
        if !firing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(firing.len(), 1, "{firing:?}");
    assert_eq!(firing[0].reason, "Blender is running");
    assert!(!firing[0].gpu_only);
}
