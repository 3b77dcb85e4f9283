//! The tray icon and its menu, updated live from the app's status.
//!
//! On Linux the tray is a StatusNotifierItem whose menu is exported over
//! D-Bus (dbusmenu): clicks on the icon itself are never reported, so every
//! action is in the menu, "Open Gantry" first, and the icon's title carries
//! the short status.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tauri::AppHandle;
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri_plugin_autostart::ManagerExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use gantry_desktop_core::Desktop;
use gantry_desktop_core::view::{Connection, Status};

/// The tray icon's id.
pub const TRAY_ID: &str = "main";

/// The items whose text or check mark changes.
struct Items {
    status: MenuItem<tauri::Wry>,
    pause: MenuItem<tauri::Wry>,
    pause_hour: MenuItem<tauri::Wry>,
    drain: CheckMenuItem<tauri::Wry>,
    login: CheckMenuItem<tauri::Wry>,
}

/// The icon for each state, embedded in the binary.
fn icon(state: IconState) -> Image<'static> {
    let bytes: &'static [u8] = match state {
        IconState::Idle => include_bytes!("../../icons/tray/idle.png"),
        IconState::Working => include_bytes!("../../icons/tray/working.png"),
        IconState::Paused => include_bytes!("../../icons/tray/paused.png"),
        IconState::Yielding => include_bytes!("../../icons/tray/yielding.png"),
        IconState::Error => include_bytes!("../../icons/tray/error.png"),
        IconState::Offline => include_bytes!("../../icons/tray/offline.png"),
    };
    Image::from_bytes(bytes).expect("the tray icons are valid PNGs")
}

/// What the icon shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconState {
    /// Connected, nothing running.
    Idle,
    /// Tasks running.
    Working,
    /// Paused by the person.
    Paused,
    /// Stepping aside for the person by one of their rules (a crescent
    /// instead of the paused dot).
    Yielding,
    /// Something needs the person: the agent stopped, or Docker is missing.
    Error,
    /// No hub, or not set up.
    Offline,
}

impl IconState {
    /// The state for `status`; `failure` is why the agent stopped, if it did.
    pub fn of(status: &Status, failure: bool) -> IconState {
        if failure || status.docker_problem.is_some() {
            IconState::Error
        } else if status.paused {
            IconState::Paused
        } else if status.yielding.is_some() {
            IconState::Yielding
        } else if matches!(
            status.connection,
            Connection::Offline | Connection::Setup | Connection::Connecting
        ) {
            IconState::Offline
        } else if !status.tasks.is_empty() {
            IconState::Working
        } else {
            IconState::Idle
        }
    }
}

/// The status line: "2 tasks running · GPU 87 %"; while a rule makes the
/// agent step aside, why ("Paused while you use this computer").
pub fn status_line(status: &Status, failure: Option<&str>) -> String {
    if let Some(failure) = failure {
        let mut line: String = failure.chars().take(60).collect();
        if failure.chars().count() > 60 {
            line.push('…');
        }
        return format!("Stopped: {line}");
    }
    let tasks = match status.tasks.len() {
        0 => "No tasks running".to_owned(),
        1 => "1 task running".to_owned(),
        n => format!("{n} tasks running"),
    };
    let mut parts = vec![match status.connection {
        Connection::Setup => "Not set up yet".to_owned(),
        Connection::Connecting => "Connecting…".to_owned(),
        Connection::Offline => format!("Offline · {}", tasks.to_lowercase()),
        _ if status.paused => format!("Paused · {}", tasks.to_lowercase()),
        _ if status.yielding.is_some() => status.yielding.clone().unwrap_or_default(),
        _ if status.draining => format!("Finishing · {}", tasks.to_lowercase()),
        _ => tasks,
    }];
    if let Some(gpu) = status.gpu_percent {
        parts.push(format!("GPU {gpu} %"));
    }
    parts.join(" · ")
}

/// The timed-pause item's text: the time left while one runs.
fn pause_hour_text(status: &Status, now_ms: i64) -> String {
    match status.paused_until_ms {
        Some(until) if until > now_ms => {
            let minutes = ((until - now_ms) as f64 / 60_000.0).ceil() as i64;
            format!("Paused for 1 hour · {minutes} min left")
        }
        _ => "Pause for 1 hour".to_owned(),
    }
}

/// Builds the tray and keeps it in step with the app's status until `stop`.
pub fn build(
    app: &AppHandle,
    desktop: Arc<Desktop>,
    stop: CancellationToken,
    tracker: &TaskTracker,
) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Gantry", true, None::<&str>)?;
    let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
    let pause = MenuItem::with_id(app, "pause", "Pause all", true, None::<&str>)?;
    let pause_hour = MenuItem::with_id(app, "pause_hour", "Pause for 1 hour", true, None::<&str>)?;
    let drain = CheckMenuItem::with_id(
        app,
        "drain",
        "Stop taking new tasks",
        true,
        false,
        None::<&str>,
    )?;
    let login_enabled = app.autolaunch().is_enabled().unwrap_or(false);
    let login = CheckMenuItem::with_id(
        app,
        "login",
        "Launch at login",
        true,
        login_enabled,
        None::<&str>,
    )?;
    let storage = MenuItem::with_id(app, "storage", "Open storage folder", true, None::<&str>)?;
    let settings = MenuItem::with_id(app, "settings", "Settings…", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit Gantry", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &status,
            &PredefinedMenuItem::separator(app)?,
            &pause,
            &pause_hour,
            &drain,
            &PredefinedMenuItem::separator(app)?,
            &storage,
            &settings,
            &login,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let menu_desktop = Arc::clone(&desktop);
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(IconState::Offline))
        .tooltip("Gantry")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(move |app, event| on_menu(app, &menu_desktop, event.id().as_ref()))
        .build(app)?;
    let items = Items {
        status,
        pause,
        pause_hour,
        drain,
        login,
    };
    let app = app.clone();
    let shown: Mutex<Option<IconState>> = Mutex::new(None);
    let mut watch = desktop.watch();
    tracker.spawn(async move {
        // The timed pause's minutes count down even when nothing else changes.
        let mut tick = tokio::time::interval(Duration::from_secs(20));
        loop {
            let status = watch.borrow_and_update().clone();
            update(&app, &desktop, &items, &shown, &status);
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = watch.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
        }
    });
    Ok(())
}

fn update(
    app: &AppHandle,
    desktop: &Desktop,
    items: &Items,
    shown: &Mutex<Option<IconState>>,
    status: &Status,
) {
    let failure = desktop.failure();
    let line = status_line(status, failure.as_deref());
    let set_up = status.connection != Connection::Setup;
    let now = gantry_desktop_core::clock::now_ms();
    let results = [
        items.status.set_text(&line),
        items.pause.set_text(if status.paused {
            "Resume all"
        } else {
            "Pause all"
        }),
        items.pause.set_enabled(set_up),
        items.pause_hour.set_text(pause_hour_text(status, now)),
        items.pause_hour.set_enabled(set_up),
        items.drain.set_checked(status.draining),
        items.drain.set_enabled(set_up),
        items
            .login
            .set_checked(app.autolaunch().is_enabled().unwrap_or(false)),
    ];
    for result in results {
        if let Err(error) = result {
            tracing::debug!(%error, "cannot update the tray menu");
        }
    }
    // The icon changes only with its state, never at every sample, so it
    // does not flicker.
    let state = IconState::of(status, failure.is_some());
    let mut shown = shown.lock().expect("tray state poisoned");
    if *shown != Some(state) {
        if let Some(tray) = app.tray_by_id(TRAY_ID) {
            let _ = tray.set_icon(Some(icon(state)));
            let _ = tray.set_tooltip(Some(format!("Gantry: {line}")));
        }
        *shown = Some(state);
    }
}

fn on_menu(app: &AppHandle, desktop: &Arc<Desktop>, id: &str) {
    let result = match id {
        "open" => {
            crate::show_main(app);
            Ok(())
        }
        "pause" => {
            if desktop.status().paused {
                desktop.resume_all()
            } else {
                desktop.pause_all()
            }
        }
        "pause_hour" => desktop.pause_for(Duration::from_secs(3600)),
        "drain" => desktop.drain(!desktop.status().draining),
        "login" => {
            let enabled = app.autolaunch().is_enabled().unwrap_or(false);
            if let Err(error) = crate::set_launch_at_login(app, !enabled) {
                tracing::warn!(%error, "cannot change launch at login");
            }
            desktop.refresh();
            Ok(())
        }
        "storage" => {
            crate::open_folder(app, &desktop.host_dir());
            Ok(())
        }
        "settings" => {
            crate::window::show(app, Some(crate::window::Intent::Settings));
            Ok(())
        }
        "quit" => {
            crate::quit(app.clone(), Arc::clone(desktop));
            Ok(())
        }
        _ => Ok(()),
    };
    if let Err(error) = result {
        tracing::warn!(code = %error.code, message = %error.message, "tray action failed");
    }
    // The menu's own check marks toggle on click; put them back to the truth.
    desktop.refresh();
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_desktop_core::view::{TaskState, TaskView};

    fn status() -> Status {
        Status {
            connection: Connection::Connected,
            node: "box".into(),
            server: None,
            paused: false,
            paused_until_ms: None,
            draining: false,
            tasks: Vec::new(),
            recent: Vec::new(),
            docker_problem: None,
            gpu_percent: None,
            host_dir: "/x".into(),
            yielding: None,
        }
    }

    fn task() -> TaskView {
        TaskView {
            id: "t".into(),
            name: "t".into(),
            state: TaskState::Running,
            image: None,
            reason: None,
            exit_code: None,
            started_at_ms: None,
            finished_at_ms: None,
            pull: None,
        }
    }

    #[test]
    fn the_status_line_says_tasks_and_gpu() {
        let mut s = status();
        assert_eq!(status_line(&s, None), "No tasks running");
        s.tasks = vec![task(), task()];
        s.gpu_percent = Some(87);
        assert_eq!(status_line(&s, None), "2 tasks running · GPU 87 %");
        s.paused = true;
        assert_eq!(status_line(&s, None), "Paused · 2 tasks running · GPU 87 %");
        assert!(status_line(&s, Some("the hub refused this agent")).starts_with("Stopped: "));
    }

    #[test]
    fn the_line_and_icon_say_why_work_stepped_aside() {
        let mut s = status();
        s.tasks = vec![task()];
        s.yielding = Some("Paused for quiet hours until 18:00".into());
        assert_eq!(status_line(&s, None), "Paused for quiet hours until 18:00");
        assert_eq!(IconState::of(&s, false), IconState::Yielding);
        s.gpu_percent = Some(3);
        assert_eq!(
            status_line(&s, None),
            "Paused for quiet hours until 18:00 · GPU 3 %"
        );
        // The person's own pause says so first.
        s.paused = true;
        assert_eq!(IconState::of(&s, false), IconState::Paused);
        assert!(status_line(&s, None).starts_with("Paused · 1 task running"));
    }

    #[test]
    fn the_icon_follows_the_state() {
        let mut s = status();
        assert_eq!(IconState::of(&s, false), IconState::Idle);
        s.tasks = vec![task()];
        assert_eq!(IconState::of(&s, false), IconState::Working);
        s.paused = true;
        assert_eq!(IconState::of(&s, false), IconState::Paused);
        s.connection = Connection::Offline;
        s.paused = false;
        assert_eq!(IconState::of(&s, false), IconState::Offline);
        assert_eq!(IconState::of(&s, true), IconState::Error);
    }

    #[test]
    fn a_timed_pause_shows_the_minutes_left() {
        let mut s = status();
        assert_eq!(pause_hour_text(&s, 0), "Pause for 1 hour");
        s.paused_until_ms = Some(47 * 60_000 - 5_000);
        assert_eq!(pause_hour_text(&s, 0), "Paused for 1 hour · 47 min left");
    }
}
