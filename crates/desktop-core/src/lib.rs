//! The desktop app's core, without Tauri: everything `gantry-desktop` does
//! that needs no webview, so it is built and tested as a plain library.
//!
//! The app (`src-tauri`) is a shell around a [`Desktop`]: its commands,
//! tray and notifications call it and show what it answers. Keeping Tauri
//! out of this crate keeps the agent's hosting, the dashboard's answers and
//! the storage browser testable with `cargo test`, no display needed.
//!
//! # Layout
//!
//! - [`desktop`]: [`Desktop`], the app's hold on the agent core, split into
//!   the parts it keeps (the running agent, the task views, the timed pause,
//!   the metrics history, …) and the answers it gives, one module per screen.
//! - [`view`]: every type the UI sees; their TypeScript declarations are
//!   generated from them ([`view::typescript`]).
//! - [`settings`]: the app's own choices in `desktop.json`.
//! - [`config`]: the agent's configuration, the settings layered under the
//!   environment and `agent.toml`.
//! - [`storage`]: the Storage screen's view of the host dir.
//! - [`embedded_hub`]: local mode's hub, serving inside the app on loopback.
//! - [`keychain`]: the node token in the OS keychain.
//! - [`health`]: Settings → Health, `gantry doctor`'s checks and the keychain's.
//! - [`gpu_use`]: Task detail's GPU section (a task's GPU use and its chart).
//! - [`image_policy`]: "Which images may run here", as the wizard and Settings choose it.
//! - [`task_isolation`]: Settings' "Task isolation" (network, read-only root,
//!   pids limit) of the app's own agent.
//! - [`logs`]: a task's log, read through the agent's spool `Tail` and sent
//!   in batches.
//!
//! Architecture invariant: this crate does not depend on Tauri. What needs a
//! window, the tray, a dialog or the app's plugins stays in `src-tauri`; what
//! streams to the window is a plain `Fn(T) -> bool` here (`false`: the
//! window went away), which the app wraps around a Tauri channel.

#![deny(missing_docs)]

pub mod config;
pub mod desktop;
pub mod disk_budget;
pub mod embedded_hub;
pub mod gpu_use;
pub mod health;
pub mod image_policy;
pub mod keychain;
pub mod logs;
pub mod settings;
pub mod step_aside;
pub mod storage;
pub mod task_isolation;
pub mod this_week;
pub mod view;

pub use desktop::Desktop;
/// The agent's clock (ms since the epoch), so the app reads the time as the
/// core and the agent do.
pub use gantry_agent::clock;
