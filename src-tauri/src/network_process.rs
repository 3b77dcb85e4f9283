//! Ending WebKit's network process once no window is left.
//!
//! WebKitGTK ends its network process only when the web context that
//! started it is freed, and Tauri keeps that context for the app's life: once
//! the window has been shown, about 60 MiB RSS would stay after it closed.
//! So when the window is destroyed and WebKit's web process has gone, the
//! app ends the network process it left; WebKit starts a new one when the
//! next window needs it.

use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tauri::{AppHandle, Manager};
use tokio_util::sync::CancellationToken;

use crate::window::MAIN;

/// The names WebKitGTK's helper processes carry in /proc/PID/comm (cut to
/// 15 characters by the kernel).
const WEB_PROCESS: &str = "WebKitWebProces";
const NETWORK_PROCESS: &str = "WebKitNetworkPr";

/// Waits for the closed window's web process to end (at most 10 s), then
/// ends the network process, unless a window was made again meanwhile.
pub async fn end_when_idle(app: AppHandle, stop: CancellationToken) {
    for _ in 0..20 {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if app.get_webview_window(MAIN).is_some() {
            return;
        }
        let children = own_children();
        if children.iter().any(|(_, name)| name == WEB_PROCESS) {
            continue;
        }
        for (pid, _) in children.iter().filter(|(_, name)| name == NETWORK_PROCESS) {
            tracing::debug!(pid, "no window left: ending WebKit's network process");
            let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
        }
        return;
    }
    tracing::debug!("the closed window's web process is still running; WebKit's processes stay");
}

/// This process's children, each with its /proc comm.
fn own_children() -> Vec<(i32, String)> {
    let me = std::process::id().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // After "pid (comm)" come the state and the parent's pid; comm
            // may hold spaces and parentheses, so read from its last ')'.
            let (head, rest) = stat.rsplit_once(')')?;
            let parent = rest.split_whitespace().nth(1)?;
            let name = head.split_once('(')?.1;
            (parent == me).then(|| (pid, name.to_owned()))
        })
        .collect()
}
