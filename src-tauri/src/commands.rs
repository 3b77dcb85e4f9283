//! The UI's API: typed commands, and channels for what streams (status,
//! logs). Every command answers a [`UiError`] (a stable code and a
//! sentence) when it fails. The token goes one way: into `connect`, then the
//! keychain; no command returns it.

use std::path::PathBuf;
use std::sync::Arc;

use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use crate::node::Node;
use crate::view::{LogBatch, Notifications, Setup, Status, UiError};

type NodeState<'a> = State<'a, Arc<Node>>;

fn folder(text: Option<String>) -> Option<PathBuf> {
    text.map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(PathBuf::from)
}

fn set_autostart(app: &AppHandle, enabled: bool) -> Result<(), UiError> {
    crate::set_launch_at_login(app, enabled).map_err(|e| UiError::new("launch_at_login", e))
}

/// What the wizard shows.
#[tauri::command]
pub async fn setup_state(app: AppHandle, node: NodeState<'_>) -> Result<Setup, UiError> {
    let mut setup = node.setup().await;
    setup.launch_at_login = app.autolaunch().is_enabled().unwrap_or(false);
    Ok(setup)
}

/// Checks the token against the hub, keeps it in the keychain, starts.
#[tauri::command]
pub async fn connect(
    app: AppHandle,
    node: NodeState<'_>,
    server: String,
    token: String,
    host_dir: Option<String>,
    launch_at_login: bool,
) -> Result<(), UiError> {
    node.connect(server, token, folder(host_dir)).await?;
    set_autostart(&app, launch_at_login)
}

/// "Use this computer only": the embedded hub.
#[tauri::command]
pub async fn use_local(
    app: AppHandle,
    node: NodeState<'_>,
    host_dir: Option<String>,
    launch_at_login: bool,
) -> Result<(), UiError> {
    node.use_local(folder(host_dir)).await?;
    set_autostart(&app, launch_at_login)
}

/// The status now.
#[tauri::command]
pub fn status(node: NodeState<'_>) -> Result<Status, UiError> {
    Ok(node.status())
}

/// Sends the status now and at each change, until the window goes.
#[tauri::command]
pub fn watch_status(node: NodeState<'_>, on_event: Channel<Status>) -> Result<(), UiError> {
    let mut watch = node.watch();
    let stop = node.stopping();
    node.spawn(async move {
        loop {
            let status = watch.borrow_and_update().clone();
            if on_event.send(status).is_err() {
                return;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                changed = watch.changed() => if changed.is_err() { return },
            }
        }
    });
    Ok(())
}

/// Pauses one task.
#[tauri::command]
pub fn pause_task(node: NodeState<'_>, id: String) -> Result<(), UiError> {
    node.pause_task(&id)
}

/// Resumes one task.
#[tauri::command]
pub fn resume_task(node: NodeState<'_>, id: String) -> Result<(), UiError> {
    node.resume_task(&id)
}

/// Cancels one task.
#[tauri::command]
pub fn cancel_task(node: NodeState<'_>, id: String) -> Result<(), UiError> {
    node.cancel_task(&id)
}

/// Freezes every task.
#[tauri::command]
pub fn pause_all(node: NodeState<'_>) -> Result<(), UiError> {
    node.pause_all()
}

/// Thaws every task.
#[tauri::command]
pub fn resume_all(node: NodeState<'_>) -> Result<(), UiError> {
    node.resume_all()
}

/// Streams a task's log in batches; returns the subscription's number.
#[tauri::command]
pub fn follow_log(
    node: NodeState<'_>,
    id: String,
    on_event: Channel<LogBatch>,
) -> Result<u32, UiError> {
    node.follow_log(id, move |batch| on_event.send(batch).is_ok())
}

/// Ends a log subscription.
#[tauri::command]
pub fn unfollow_log(node: NodeState<'_>, subscription: u32) -> Result<(), UiError> {
    node.unfollow_log(subscription);
    Ok(())
}

/// Opens the storage folder in the file manager.
#[tauri::command]
pub fn open_storage(app: AppHandle, node: NodeState<'_>) -> Result<(), UiError> {
    crate::open_folder(&app, &node.host_dir());
    Ok(())
}

/// Chooses which task endings raise a notification.
#[tauri::command]
pub fn set_notifications(node: NodeState<'_>, notifications: Notifications) -> Result<(), UiError> {
    node.set_notifications(notifications)
}

/// Turns launch at login on or off.
#[tauri::command]
pub fn set_launch_at_login(
    app: AppHandle,
    node: NodeState<'_>,
    enabled: bool,
) -> Result<(), UiError> {
    set_autostart(&app, enabled)?;
    node.refresh();
    Ok(())
}
