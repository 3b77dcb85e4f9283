//! The UI's API: typed commands, and channels for what streams (status,
//! logs). Each command is thin: it calls the core ([`Desktop`]) and adds
//! only what needs Tauri (a channel, a dialog, launch at login, the file
//! manager). Every command answers a [`UiError`] (a stable code and a
//! sentence) when it fails. The token goes one way: into `connect`, then the
//! keychain; no command returns it.

use std::path::PathBuf;
use std::sync::Arc;

use tauri::ipc::Channel;
use tauri::{AppHandle, State};
use tauri_plugin_autostart::ManagerExt;

use gantry_desktop_core::Desktop;
use gantry_desktop_core::step_aside::StepAside;
use gantry_desktop_core::view::{
    ContainerView, LogBatch, MetricsSample, NewTask, NodeSettings, NodeSettingsChange,
    Notifications, Setup, Status, StorageListing, TaskDetail, UiError, UpdateProgress, UpdateState,
    UpdateStep,
};

use crate::updater::Updates;
use crate::window::{Intent, MainWindow};

type DesktopState<'a> = State<'a, Arc<Desktop>>;
type UpdatesState<'a> = State<'a, Arc<Updates>>;
type WindowState<'a> = State<'a, Arc<MainWindow>>;

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
pub async fn setup_state(app: AppHandle, desktop: DesktopState<'_>) -> Result<Setup, UiError> {
    let mut setup = desktop.setup().await;
    setup.launch_at_login = app.autolaunch().is_enabled().unwrap_or(false);
    Ok(setup)
}

/// Checks the token against the hub, keeps it in the keychain, starts.
#[tauri::command]
#[expect(
    clippy::too_many_arguments,
    reason = "a command's arguments are the fields of the UI's call, named one by one"
)]
pub async fn connect(
    app: AppHandle,
    desktop: DesktopState<'_>,
    server: String,
    token: String,
    host_dir: Option<String>,
    launch_at_login: bool,
    ca_file: Option<String>,
    allow_insecure_http: bool,
) -> Result<(), UiError> {
    let hub = gantry_desktop_core::desktop::HubTrust {
        ca_file: folder(ca_file),
        allow_insecure_http,
    };
    desktop
        .connect(server, token, folder(host_dir), hub)
        .await?;
    set_autostart(&app, launch_at_login)
}

/// "Use this computer only": the embedded hub.
#[tauri::command]
pub async fn use_local(
    app: AppHandle,
    desktop: DesktopState<'_>,
    host_dir: Option<String>,
    launch_at_login: bool,
) -> Result<(), UiError> {
    desktop.use_local(folder(host_dir)).await?;
    set_autostart(&app, launch_at_login)
}

/// The status now.
#[tauri::command]
pub fn status(desktop: DesktopState<'_>) -> Result<Status, UiError> {
    Ok(desktop.status())
}

/// Sends the status now and at each change, until the window goes.
#[tauri::command]
pub fn watch_status(
    app: AppHandle,
    desktop: DesktopState<'_>,
    life: WindowState<'_>,
    on_event: Channel<Status>,
) -> Result<(), UiError> {
    let alive = while_shown(app, &life);
    desktop.watch_status(move |status| alive() && on_event.send(status).is_ok());
    Ok(())
}

/// A check that the window calling now still exists: what streams to it
/// stops once it is closed, so nothing is pushed while no window exists.
fn while_shown(app: AppHandle, life: &WindowState<'_>) -> impl Fn() -> bool + Send + 'static {
    let life = Arc::clone(life);
    let generation = life.generation();
    move || life.alive(&app, generation)
}

/// Keeps the "When to step aside" rules and restarts the agent with them.
#[tauri::command]
pub async fn save_step_aside(desktop: DesktopState<'_>, rules: StepAside) -> Result<(), UiError> {
    desktop.save_step_aside(rules).await
}

/// Keeps "Which images may run here" and restarts the agent with it.
#[tauri::command]
pub async fn save_image_policy(
    desktop: DesktopState<'_>,
    choice: gantry_desktop_core::image_policy::ImageChoice,
) -> Result<(), UiError> {
    desktop.save_image_policy(choice).await
}

/// Keeps Settings' "Task isolation" and restarts the agent with it.
#[tauri::command]
pub async fn save_task_isolation(
    desktop: DesktopState<'_>,
    isolation: gantry_desktop_core::task_isolation::TaskIsolation,
) -> Result<(), UiError> {
    desktop.save_task_isolation(isolation).await
}

/// What a window just built should open (a task, Settings), once.
#[tauri::command]
pub fn take_intent(life: WindowState<'_>) -> Result<Option<Intent>, UiError> {
    // Asked once by each window's page as it starts.
    tracing::info!("the window's page is up");
    Ok(life.take_intent())
}

/// Pauses one task.
#[tauri::command]
pub fn pause_task(desktop: DesktopState<'_>, id: String) -> Result<(), UiError> {
    desktop.pause_task(&id)
}

/// Resumes one task.
#[tauri::command]
pub fn resume_task(desktop: DesktopState<'_>, id: String) -> Result<(), UiError> {
    desktop.resume_task(&id)
}

/// Cancels one task.
#[tauri::command]
pub fn cancel_task(desktop: DesktopState<'_>, id: String) -> Result<(), UiError> {
    desktop.cancel_task(&id)
}

/// Freezes every task.
#[tauri::command]
pub fn pause_all(desktop: DesktopState<'_>) -> Result<(), UiError> {
    desktop.pause_all()
}

/// Thaws every task.
#[tauri::command]
pub fn resume_all(desktop: DesktopState<'_>) -> Result<(), UiError> {
    desktop.resume_all()
}

/// Streams a task's log in batches; returns the subscription's number.
#[tauri::command]
pub fn follow_log(
    desktop: DesktopState<'_>,
    id: String,
    on_event: Channel<LogBatch>,
) -> Result<u32, UiError> {
    desktop.follow_log(id, move |batch| on_event.send(batch).is_ok())
}

/// Ends a log subscription.
#[tauri::command]
pub fn unfollow_log(desktop: DesktopState<'_>, subscription: u32) -> Result<(), UiError> {
    desktop.unfollow_log(subscription);
    Ok(())
}

/// Opens the storage folder in the file manager.
#[tauri::command]
pub fn open_storage(app: AppHandle, desktop: DesktopState<'_>) -> Result<(), UiError> {
    crate::open_folder(&app, &desktop.host_dir());
    Ok(())
}

/// Chooses which task endings raise a notification.
#[tauri::command]
pub fn set_notifications(
    desktop: DesktopState<'_>,
    notifications: Notifications,
) -> Result<(), UiError> {
    desktop.set_notifications(notifications)
}

/// Turns launch at login on or off.
#[tauri::command]
pub fn set_launch_at_login(
    app: AppHandle,
    desktop: DesktopState<'_>,
    enabled: bool,
) -> Result<(), UiError> {
    set_autostart(&app, enabled)?;
    desktop.refresh();
    Ok(())
}

/// Sends the machine's samples of the last minutes, then each new one.
#[tauri::command]
pub fn watch_metrics(
    app: AppHandle,
    desktop: DesktopState<'_>,
    life: WindowState<'_>,
    on_event: Channel<Vec<MetricsSample>>,
) -> Result<(), UiError> {
    let alive = while_shown(app, &life);
    desktop.watch_metrics(move |samples| alive() && on_event.send(samples).is_ok());
    Ok(())
}

/// Every container of this node, with its use.
#[tauri::command]
pub async fn containers(desktop: DesktopState<'_>) -> Result<Vec<ContainerView>, UiError> {
    desktop.containers().await
}

/// A task's spec, timeline, outputs and use.
#[tauri::command]
pub async fn task_detail(desktop: DesktopState<'_>, id: String) -> Result<TaskDetail, UiError> {
    desktop.task_detail(&id).await
}

/// The Overview's "This week": GPU hours and kWh of this node's tasks that
/// ended since `since` (Unix ms: the UI's Monday 00:00, local time).
#[tauri::command]
pub async fn this_week(
    desktop: DesktopState<'_>,
    since: i64,
) -> Result<gantry_desktop_core::this_week::ThisWeek, UiError> {
    desktop.this_week(since).await
}

/// Asks where to save a task's whole log and writes it there; the path, or
/// `None` when the person canceled.
#[tauri::command]
pub async fn save_log(
    app: AppHandle,
    desktop: DesktopState<'_>,
    id: String,
) -> Result<Option<String>, UiError> {
    use tauri_plugin_dialog::DialogExt;
    let suggested = format!("gantry-{id}.log");
    let dialog = app.dialog().file().set_file_name(suggested);
    let chosen = tokio::task::spawn_blocking(move || dialog.blocking_save_file())
        .await
        .map_err(|e| UiError::new("dialog", e.to_string()))?;
    let Some(path) = chosen.and_then(|p| p.into_path().ok()) else {
        return Ok(None);
    };
    desktop.save_log(&id, &path).await?;
    Ok(Some(path.display().to_string()))
}

/// A folder of the storage folder (`""` for the top).
#[tauri::command]
pub async fn storage_list(
    desktop: DesktopState<'_>,
    path: String,
) -> Result<StorageListing, UiError> {
    desktop.storage_list(path).await
}

/// Deletes a file or folder of the storage folder.
#[tauri::command]
pub async fn storage_delete(desktop: DesktopState<'_>, path: String) -> Result<(), UiError> {
    desktop.storage_delete(path).await
}

/// Opens a folder of the storage folder in the file manager.
#[tauri::command]
pub fn storage_open(
    app: AppHandle,
    desktop: DesktopState<'_>,
    path: String,
) -> Result<(), UiError> {
    crate::open_folder(&app, &desktop.storage_folder(&path)?);
    Ok(())
}

/// The Settings screen's fields.
#[tauri::command]
pub fn node_settings(app: AppHandle, desktop: DesktopState<'_>) -> Result<NodeSettings, UiError> {
    desktop.node_settings(app.autolaunch().is_enabled().unwrap_or(false))
}

/// Settings → Health (and the wizard): `gantry doctor`'s checks for the
/// app's agent, and the keychain's.
#[tauri::command]
pub async fn health(
    desktop: DesktopState<'_>,
) -> Result<Vec<gantry_desktop_core::health::HealthCheck>, UiError> {
    Ok(desktop.health().await)
}

/// Keeps the settings and restarts the agent with them.
#[tauri::command]
pub async fn save_node_settings(
    desktop: DesktopState<'_>,
    change: NodeSettingsChange,
) -> Result<(), UiError> {
    desktop.save_node_settings(change).await
}

/// Checks and keeps a new token, and restarts the agent with it.
#[tauri::command]
pub async fn replace_token(desktop: DesktopState<'_>, token: String) -> Result<(), UiError> {
    desktop.replace_token(token).await
}

/// Settings: the CA file trusted besides the system's roots (`None`: none).
#[tauri::command]
pub async fn set_ca_file(
    desktop: DesktopState<'_>,
    ca_file: Option<String>,
) -> Result<(), UiError> {
    desktop.set_ca_file(ca_file).await
}

/// Local mode: submits the New task form; the task's id.
#[tauri::command]
pub async fn submit_task(desktop: DesktopState<'_>, task: NewTask) -> Result<String, UiError> {
    desktop.submit_task(task).await
}

/// Local mode: asks for a job file and submits it; its id, or `None` when
/// the person canceled.
#[tauri::command]
pub async fn run_job_file(
    app: AppHandle,
    desktop: DesktopState<'_>,
) -> Result<Option<String>, UiError> {
    use tauri_plugin_dialog::DialogExt;
    let dialog = app
        .dialog()
        .file()
        .add_filter("Job files", &["yaml", "yml", "json"]);
    let chosen = tokio::task::spawn_blocking(move || dialog.blocking_pick_file())
        .await
        .map_err(|e| UiError::new("dialog", e.to_string()))?;
    let Some(path) = chosen.and_then(|p| p.into_path().ok()) else {
        return Ok(None);
    };
    desktop.submit_job_file(&path).await.map(Some)
}

fn update_state_of(app: &AppHandle, updates: &Updates) -> UpdateState {
    updates.view(app.package_info().version.to_string())
}

/// The app's version, its update key and server, and what the last check
/// found.
#[tauri::command]
pub fn update_state(app: AppHandle, updates: UpdatesState<'_>) -> Result<UpdateState, UiError> {
    Ok(update_state_of(&app, &updates))
}

/// Asks the update server now ("Check now"); the state after the check, or
/// why it failed (the state keeps that too).
#[tauri::command]
pub async fn check_update(
    app: AppHandle,
    updates: UpdatesState<'_>,
) -> Result<UpdateState, UiError> {
    if let Some(found) = updates.check(&app).await? {
        // Seen here: no notification for it later.
        updates.first_news(&found.version);
    }
    Ok(update_state_of(&app, &updates))
}

/// Keeps the update server typed in Settings (empty: updates off) and, when
/// updates are on, asks it at once: the state after that check (a failed
/// check is in `last_check`; the address is kept all the same).
#[tauri::command]
pub async fn set_update_endpoint(
    app: AppHandle,
    desktop: DesktopState<'_>,
    updates: UpdatesState<'_>,
    endpoint: String,
) -> Result<UpdateState, UiError> {
    let endpoint = updates.prepare_endpoint(&endpoint)?;
    desktop.set_update_endpoint(endpoint.clone())?;
    updates.use_endpoint(endpoint);
    if updates.enabled()
        && let Ok(Some(found)) = updates.check(&app).await
    {
        updates.first_news(&found.version);
    }
    Ok(update_state_of(&app, &updates))
}

/// Downloads the update found with its progress on `on_progress`, has its
/// signature verified, installs it, and restarts the app (running tasks
/// are left running and picked up again, as at Quit).
#[tauri::command]
pub async fn install_update(
    app: AppHandle,
    desktop: DesktopState<'_>,
    updates: UpdatesState<'_>,
    on_progress: Channel<UpdateProgress>,
) -> Result<(), UiError> {
    updates
        .install(|progress| {
            let _ = on_progress.send(progress);
        })
        .await?;
    let _ = on_progress.send(UpdateProgress {
        step: UpdateStep::Restarting,
        done_bytes: 0,
        total_bytes: None,
    });
    crate::restart(app, Arc::clone(&desktop));
    Ok(())
}

/// Where Gantry stands against its disk budget (the Storage screen's bar).
#[tauri::command]
pub async fn disk_budget(
    desktop: DesktopState<'_>,
) -> Result<gantry_desktop_core::disk_budget::DiskBudgetView, UiError> {
    desktop.disk_budget().await
}

/// Keeps the disk budget's numbers and restarts the agent with them.
#[tauri::command]
pub async fn save_disk_settings(
    desktop: DesktopState<'_>,
    settings: gantry_desktop_core::disk_budget::DiskSettings,
) -> Result<(), UiError> {
    desktop.save_disk_settings(settings).await
}
