//! The main window, made only while the person looks at it.
//!
//! A WebKitGTK window costs its web and network processes (about 240 MiB
//! RSS together) even unmapped, so the app in the tray holds none: the
//! window is built when first shown (tray "Open", a notification's click, a
//! second launch, the wizard) and destroyed when closed; the app stays in
//! the tray. A window being built cannot hear an event yet, so what it
//! should open ([`Intent`]) waits here until its UI asks (`take_intent`).
//! Each window has a generation: what streams to a window (status, metrics)
//! stops once that window is gone, so nothing is pushed while none exists.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

pub use gantry_desktop_core::view::Intent;
use tauri::{AppHandle, Emitter, Manager, WebviewUrl, WebviewWindowBuilder};

/// The main window's label (capabilities/main.json grants it the commands).
pub const MAIN: &str = "main";

/// The main window's life: which one is current, and what it should open.
#[derive(Debug, Default)]
pub struct MainWindow {
    /// Grows by one each time a window is built.
    generation: AtomicU64,
    /// Waiting for a window being built to ask for it.
    intent: Mutex<Option<Intent>>,
}

impl MainWindow {
    /// The current window's generation: a stream started for it checks
    /// [`MainWindow::alive`] with this before each message.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether the window of `generation` still exists.
    pub fn alive(&self, app: &AppHandle, generation: u64) -> bool {
        self.generation() == generation && app.get_webview_window(MAIN).is_some()
    }

    /// What the new window should open, once.
    pub fn take_intent(&self) -> Option<Intent> {
        self.intent.lock().expect("intent poisoned").take()
    }
}

/// Shows the main window, building it if none exists, and opens `intent` in it.
pub fn show(app: &AppHandle, intent: Option<Intent>) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
        if let Some(intent) = intent {
            let _ = match intent {
                Intent::Task { id } => app.emit("open-task", serde_json::json!({ "id": id })),
                Intent::Settings => app.emit("open-settings", ()),
            };
        }
        return;
    }
    let life = app.state::<std::sync::Arc<MainWindow>>();
    *life.intent.lock().expect("intent poisoned") = intent;
    life.generation.fetch_add(1, Ordering::SeqCst);
    let built = WebviewWindowBuilder::new(app, MAIN, WebviewUrl::default())
        .title("Gantry")
        .inner_size(960.0, 680.0)
        .min_inner_size(480.0, 400.0)
        .build();
    match built {
        Ok(window) => {
            let _ = window.set_focus();
        }
        Err(error) => tracing::warn!(%error, "cannot open the window"),
    }
}
