//! Declares the app's own commands so that capabilities/main.json can grant
//! them to the main window only (an undeclared command would be open to every
//! window), then lets tauri-build embed the config and the UI.
//!
//! Also checks the updater's public key, compiled in from the environment
//! variable `GANTRY_UPDATER_PUBKEY` (what `tauri signer generate` prints as
//! the public key: base64 of the minisign public key file): a release built
//! with a mangled key could never verify an update, so it fails here instead.

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
    "this_week",
    "save_log",
    "storage_list",
    "storage_delete",
    "storage_open",
    "node_settings",
    "health",
    "save_node_settings",
    "replace_token",
    "set_ca_file",
    "submit_task",
    "run_job_file",
    "update_state",
    "check_update",
    "install_update",
    "set_update_endpoint",
    "take_intent",
    "save_step_aside",
    "save_image_policy",
    "save_task_isolation",
    "disk_budget",
    "save_disk_settings",
];

/// The variable `src/updater.rs` reads with `option_env!`.
const PUBKEY_VAR: &str = "GANTRY_UPDATER_PUBKEY";

fn main() {
    println!("cargo:rerun-if-env-changed={PUBKEY_VAR}");
    // Empty is unset, as for the app's other variables.
    let key = std::env::var(PUBKEY_VAR).unwrap_or_default();
    if !key.trim().is_empty()
        && let Err(problem) = check_pubkey(&key)
    {
        panic!(
            "{PUBKEY_VAR} is not an updater public key ({problem}); set it to the public key \
             `tauri signer generate` prints (base64 of the minisign .pub file), or unset it \
             for a build without updates"
        );
    }
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri-build failed: is ui/dist built? run `npm ci && npm run build` in ui/");
}

/// Whether `key` is base64 of a minisign public key file, as the updater
/// plugin decodes it.
fn check_pubkey(key: &str) -> Result<(), String> {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let text = String::from_utf8(text).map_err(|_| "not text once decoded".to_owned())?;
    minisign_verify::PublicKey::decode(&text)
        .map(|_| ())
        .map_err(|e| format!("not a minisign public key: {e}"))
}
