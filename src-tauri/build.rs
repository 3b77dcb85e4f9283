//! Declares the app's own commands so that capabilities/main.json can grant
//! them to the main window only (an undeclared command would be open to every
//! window), then lets tauri-build embed the config and the UI.

/// Every command the UI may call; `src/commands.rs` defines them.
const COMMANDS: &[&str] = &[
    "setup_state",
    "connect",
    "use_local",
    "status",
    "watch_status",
    "pause_task",
    "resume_task",
    "cancel_task",
    "pause_all",
    "resume_all",
    "follow_log",
    "unfollow_log",
    "open_storage",
    "set_launch_at_login",
    "set_notifications",
    "watch_metrics",
    "containers",
    "task_detail",
    "save_log",
    "storage_list",
    "storage_delete",
    "storage_open",
    "node_settings",
    "save_node_settings",
    "replace_token",
    "submit_task",
    "run_job_file",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed: is ui/dist built? run `npm ci && npm run build` in ui/");
}
