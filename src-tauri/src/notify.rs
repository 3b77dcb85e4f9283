//! Native notifications when a task ends, with notify-rust (the Tauri plugin
//! cannot report a click). Clicking one opens the task's log. No
//! notification server is a normal state, logged once, never an error.
//! A new version of the app is announced the same way; clicking that one
//! opens Settings, where it is installed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify_rust::{ActionResponse, Notification, Urgency};
use tauri::AppHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use gantry_desktop_core::Desktop;
use gantry_desktop_core::view::{TaskState, TaskView};

/// Shows a notification for each task that ends, as the settings allow,
/// and (when Settings asks) one each time the agent starts stepping aside.
pub fn spawn(
    app: AppHandle,
    desktop: Arc<Desktop>,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    spawn_yielding(app.clone(), Arc::clone(&desktop), stop.clone(), tracker);
    let mut ended = desktop.ended();
    let inner = tracker.clone();
    let told = Arc::new(AtomicBool::new(false));
    tracker.spawn(async move {
        loop {
            let view = tokio::select! {
                _ = stop.cancelled() => return,
                view = ended.recv() => match view {
                    Ok(view) => view,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                },
            };
            let kinds = desktop.settings().notify;
            let wanted = match view.state {
                TaskState::Succeeded => kinds.succeeded,
                TaskState::Canceled => kinds.canceled,
                _ => kinds.failed,
            };
            if wanted {
                inner.spawn(show(app.clone(), view, stop.clone(), Arc::clone(&told)));
            }
        }
    });
}

/// Says once each time the agent starts stepping aside for the person (off
/// unless "When to step aside" asks for it); a click opens the Overview.
fn spawn_yielding(
    app: AppHandle,
    desktop: Arc<Desktop>,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    let mut watch = desktop.watch();
    let inner = tracker.clone();
    tracker.spawn(async move {
        let mut was = watch.borrow_and_update().yielding.clone();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = watch.changed() => if changed.is_err() { return },
            }
            let now = watch.borrow_and_update().yielding.clone();
            let wanted = desktop.settings().step_aside.is_some_and(|s| s.notify);
            if let (None, Some(line), true) = (&was, &now, wanted) {
                inner.spawn(yielding(app.clone(), line.clone(), stop.clone()));
            }
            was = now;
        }
    });
}

async fn yielding(app: AppHandle, line: String, stop: CancellationToken) {
    let shown = Notification::new()
        .appname("Gantry")
        .summary("Gantry steps aside")
        .body(&line)
        .urgency(Urgency::Low)
        .action("default", "Open Gantry")
        .show_async()
        .await;
    let Ok(handle) = shown else {
        tracing::debug!("no notification server answered; the tray shows why work paused");
        return;
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = handle.wait_for_action_async(|action| {
            if let ActionResponse::Custom("default") = action {
                crate::show_main(&app);
            }
        }) => {}
    }
}

/// The title and text of a task's notification.
pub fn words(view: &TaskView) -> (String, String, Urgency) {
    let name = &view.name;
    match view.state {
        TaskState::Succeeded => (
            format!("{name} finished"),
            "The task succeeded.".into(),
            Urgency::Low,
        ),
        TaskState::Canceled => (
            format!("{name} was canceled"),
            view.reason.clone().unwrap_or_default(),
            Urgency::Normal,
        ),
        _ => (
            format!("{name} failed"),
            view.reason
                .clone()
                .unwrap_or_else(|| "The task failed.".into()),
            Urgency::Normal,
        ),
    }
}

async fn show(app: AppHandle, view: TaskView, stop: CancellationToken, told: Arc<AtomicBool>) {
    let (summary, body, urgency) = words(&view);
    let shown = Notification::new()
        .appname("Gantry")
        .summary(&summary)
        .body(&body)
        .urgency(urgency)
        .action("default", "Show the log")
        .show_async()
        .await;
    let handle = match shown {
        Ok(handle) => handle,
        Err(error) => {
            if !told.swap(true, Ordering::SeqCst) {
                tracing::info!(%error, "no notification server answered; notifications are off until one does");
            }
            return;
        }
    };
    let id = view.id.clone();
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = handle.wait_for_action_async(|action| {
            if let ActionResponse::Custom("default") = action {
                crate::window::show(&app, Some(crate::window::Intent::Task { id: id.clone() }));
            }
        }) => {}
    }
}

/// Says that a newer version of the app is available; a click opens
/// Settings, which shows its notes and installs it.
pub async fn update_available(app: AppHandle, version: String, stop: CancellationToken) {
    let shown = Notification::new()
        .appname("Gantry")
        .summary(&format!("Gantry {version} is available"))
        .body("Open Settings to see what changed and to install it.")
        .urgency(Urgency::Low)
        .action("default", "Open Settings")
        .show_async()
        .await;
    let handle = match shown {
        Ok(handle) => handle,
        Err(error) => {
            tracing::info!(%error, "no notification server answered; Settings shows the update");
            return;
        }
    };
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = handle.wait_for_action_async(|action| {
            if let ActionResponse::Custom("default") = action {
                crate::window::show(&app, Some(crate::window::Intent::Settings));
            }
        }) => {}
    }
}
