//! `gantry-desktop`: Gantry's desktop app. Glue: it hosts the agent core
//! ([`Desktop`], from `gantry-desktop-core`) on its tokio runtime and wires
//! the tray, the window, the notifications, the updater and the UI's
//! commands to it. Everything that needs no Tauri is in the core.
//!
//! `--hidden` starts in the tray with no window (launch at login uses it);
//! the window is built when first shown and destroyed when closed
//! ([`window`]). A second launch shows the first one's window and exits.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

#[cfg(test)]
mod bindings;
mod commands;
mod network_process;
mod notify;
mod tray;
mod updater;
mod window;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent, Wry};
use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogResult};
use tauri_plugin_opener::OpenerExt;

use gantry_desktop_core::Desktop;
use gantry_desktop_core::settings::Settings;

use crate::updater::Updates;

/// WebKitGTK's DMA-BUF renderer shows a blank window on many NVIDIA
/// machines, this app's usual home; it is turned off unless the person chose.
const WEBKIT_DMABUF: &str = "WEBKIT_DISABLE_DMABUF_RENDERER";

/// How long Quit waits for the agent to let go of its tasks.
const QUIT_PATIENCE: Duration = Duration::from_secs(90);

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--version" || a == "-V") {
        println!("gantry-desktop {}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "gantry-desktop [--hidden]\n\nGantry's desktop app: runs tasks from a Gantry hub on this computer.\n  \
             --hidden   start in the tray, with no window\n\n\
             Honours the agent's settings: GANTRY_SERVER, GANTRY_TOKEN, GANTRY_HOST_DIR, ~/.config/gantry/agent.toml.\n\
             GANTRY_UPDATE_ENDPOINT sets the update server (Settings > Updates otherwise; none: no update checks)."
        );
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os(WEBKIT_DMABUF).is_none() {
        // The environment can only be changed safely before any thread
        // starts, and setting it is `unsafe` in this edition: start again
        // with it set instead.
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(std::env::current_exe()?)
            .args(&args)
            .env(WEBKIT_DMABUF, "1")
            .exec();
        return Err(error).context("cannot restart with WEBKIT_DISABLE_DMABUF_RENDERER=1");
    }
    let hidden = args.iter().any(|a| a == "--hidden");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    tauri::async_runtime::set(runtime.handle().clone());
    // Tray and window callbacks run on this thread; inside the runtime's
    // context they can spawn the app's jobs.
    let _context = runtime.enter();

    let settings_path = Settings::default_path();
    let settings = Settings::load(&settings_path)?;
    let updates = Updates::from_settings(&settings);
    let desktop = Desktop::new(settings_path, settings);
    // The event loop may end the process without returning here, so the
    // log writer's guard is dropped (flushing it) at RunEvent::Exit.
    let mut log_guard = init_logging(&desktop.host_dir().join("logs"));
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "starting");

    let mut context = tauri::generate_context!();
    updater::configure(&mut context);
    let app = builder(desktop, updates, hidden)
        .build(context)
        .context("cannot start the app")?;
    app.run(move |_app, event| match event {
        // The last window closing must not end the app: it lives in the tray.
        // Quit (`app.exit`) passes a code and goes through.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => {
            tracing::info!("stopped");
            drop(log_guard.take());
        }
        _ => {}
    });
    Ok(())
}

/// The app: its plugins (single instance first: a second launch must reach
/// the first before anything else starts), its state, the commands, the
/// window's hide-on-close, and what starts once it is built ([`start`]).
fn builder(desktop: Arc<Desktop>, updates: Arc<Updates>, hidden: bool) -> tauri::Builder<Wry> {
    tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            show_main(app)
        }))
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .args(["--hidden"])
                .build(),
        )
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(updater::plugin())
        .manage(Arc::clone(&desktop))
        .manage(Arc::clone(&updates))
        .manage(Arc::new(window::MainWindow::default()))
        .invoke_handler(tauri::generate_handler![
            commands::setup_state,
            commands::connect,
            commands::use_local,
            commands::status,
            commands::watch_status,
            commands::pause_task,
            commands::resume_task,
            commands::cancel_task,
            commands::pause_all,
            commands::resume_all,
            commands::follow_log,
            commands::unfollow_log,
            commands::open_storage,
            commands::set_launch_at_login,
            commands::set_notifications,
            commands::watch_metrics,
            commands::containers,
            commands::task_detail,
            commands::this_week,
            commands::save_log,
            commands::storage_list,
            commands::storage_delete,
            commands::storage_open,
            commands::node_settings,
            commands::health,
            commands::save_node_settings,
            commands::replace_token,
            commands::set_ca_file,
            commands::submit_task,
            commands::run_job_file,
            commands::update_state,
            commands::check_update,
            commands::set_update_endpoint,
            commands::install_update,
            commands::take_intent,
            commands::save_step_aside,
            commands::save_image_policy,
            commands::save_task_isolation,
            commands::disk_budget,
            commands::save_disk_settings,
        ])
        .on_window_event(|window, event| {
            // Closing the window destroys it (Tauri's default); the app lives
            // on in the tray (RunEvent::ExitRequested), without WebKit's
            // processes ([`network_process`]).
            if let WindowEvent::Destroyed = event {
                tracing::debug!("window closed");
                let desktop = window.state::<Arc<Desktop>>();
                desktop.tracker().spawn(network_process::end_when_idle(
                    window.app_handle().clone(),
                    desktop.stopping(),
                ));
            }
        })
        .setup(move |app| {
            start(app.handle(), desktop, updates, hidden)?;
            Ok(())
        })
}

/// What starts with the app: the tray, notifications, the signal handler,
/// the update schedule, and the boot of the agent core.
fn start(
    app: &AppHandle,
    desktop: Arc<Desktop>,
    updates: Arc<Updates>,
    hidden: bool,
) -> tauri::Result<()> {
    tray::build(
        app,
        Arc::clone(&desktop),
        desktop.stopping(),
        desktop.tracker(),
    )?;
    notify::spawn(
        app.clone(),
        Arc::clone(&desktop),
        desktop.stopping(),
        desktop.tracker(),
    );
    spawn_signal_handler(app.clone(), Arc::clone(&desktop));
    updater::spawn_schedule(app.clone(), updates, desktop.stopping(), desktop.tracker());
    // The boot is one of the app's jobs: Quit waits for it like for the
    // others (an agent it starts after Quit began stops at once, its token
    // being a child of the cancelled one).
    // Shown at once unless `--hidden`: the window exists before the agent
    // is up (its screens say so), as a WebDriver session expects.
    if !hidden {
        show_main(app);
    }
    let handle = app.clone();
    let booting = Arc::clone(&desktop);
    desktop.spawn(async move {
        if booting.boot().await && hidden {
            // Not set up yet: the wizard must show even from the tray.
            show_main(&handle);
        }
    });
    Ok(())
}

/// Shows the main window (building it when none exists) and brings it to the front.
pub fn show_main(app: &AppHandle) {
    window::show(app, None);
}

/// Opens a folder in the file manager.
pub fn open_folder(app: &AppHandle, path: &Path) {
    if let Err(error) = app
        .opener()
        .open_path(path.display().to_string(), None::<&str>)
    {
        tracing::warn!(%error, path = %path.display(), "cannot open the folder");
    }
}

/// Turns launch at login on or off (an XDG autostart entry on Linux that
/// starts the app with `--hidden`).
pub fn set_launch_at_login(app: &AppHandle, enabled: bool) -> Result<(), String> {
    use tauri_plugin_autostart::ManagerExt;
    let autolaunch = app.autolaunch();
    if enabled {
        // The plugin creates `autostart/` but not `~/.config` itself, which a
        // fresh account may not have yet.
        if let Some(home) = std::env::var_os("HOME") {
            let _ = std::fs::create_dir_all(Path::new(&home).join(".config/autostart"));
        }
        autolaunch.enable()
    } else {
        autolaunch.disable()
    }
    .map_err(|e| format!("cannot change launch at login: {e}"))
}

/// Quit: with tasks running, asks whether to stop them or leave them running
/// (they are picked up again at the next start).
pub fn quit(app: AppHandle, desktop: Arc<Desktop>) {
    if !desktop.holds_tasks() {
        finish(app, desktop, false);
        return;
    }
    let dialog_app = app.clone();
    dialog_app
        .dialog()
        .message(
            "Tasks are running on this computer. Stop them now, or leave them running? \
             Tasks left running are picked up again when Gantry starts.",
        )
        .title("Quit Gantry")
        .buttons(MessageDialogButtons::YesNoCancelCustom(
            "Stop tasks".into(),
            "Leave running".into(),
            "Cancel".into(),
        ))
        .show_with_result(move |result| match result {
            MessageDialogResult::Yes => finish(app, desktop, true),
            MessageDialogResult::No => finish(app, desktop, false),
            MessageDialogResult::Custom(label) if label == "Stop tasks" => {
                finish(app, desktop, true)
            }
            MessageDialogResult::Custom(label) if label == "Leave running" => {
                finish(app, desktop, false)
            }
            _ => {}
        });
}

/// Stops the agent core and every job, then the app. Spawned outside the
/// app's tracker: it waits for that tracker, so it cannot be one of its jobs.
fn finish(app: AppHandle, desktop: Arc<Desktop>, stop_tasks: bool) {
    tauri::async_runtime::spawn(async move {
        tracing::info!(stop_tasks, "quitting");
        desktop.shutdown(stop_tasks, QUIT_PATIENCE).await;
        app.exit(0);
    });
}

/// After an update was installed: stops the agent core as Quit does, leaving
/// tasks running (the new version picks them up), then starts the app again.
pub fn restart(app: AppHandle, desktop: Arc<Desktop>) {
    tauri::async_runtime::spawn(async move {
        tracing::info!("restarting into the update");
        desktop.shutdown(false, QUIT_PATIENCE).await;
        app.request_restart();
    });
}

/// SIGTERM and Ctrl-C quit like the headless agent: tasks are left running.
/// Outside the app's tracker, like [`finish`], which it calls; it ends with
/// the process.
fn spawn_signal_handler(app: AppHandle, desktop: Arc<Desktop>) {
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::warn!("cannot listen for SIGTERM; quit from the tray");
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        finish(app, desktop, false);
    });
}

/// Logs to stderr and to a file a day in `dir`, keeping two weeks.
fn init_logging(dir: &Path) -> Option<gantry_logging::WorkerGuard> {
    gantry_logging::init(&gantry_logging::Logging {
        filter_var: "GANTRY_LOG",
        default_filter: "info",
        file: Some(gantry_logging::LogFile {
            dir: dir.to_owned(),
            prefix: "desktop",
            suffix: Some("log"),
            keep_days: Some(14),
        }),
    })
}
