//! `cargo xtask run`: starts Gantry for a person to try: the desktop app where
//! there is a display to show it on, the hub alone where there is none.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Result, bail};

use crate::exec::{self, say};
use crate::ui;

/// Runs the desktop app, or the hub with `--headless` or without a display,
/// in the foreground; `args` go to whichever of the two runs.
///
/// `args` may start with xtask's own `--headless`, then an optional `--`
/// before the program's arguments: `cargo xtask run --headless -- --listen
/// 127.0.0.1:9000`.
pub fn run(args: &[String]) -> Result<()> {
    let (headless, args) = match args.split_first() {
        Some((first, rest)) if first == "--headless" => (
            true,
            rest.strip_prefix(&["--".to_owned()][..]).unwrap_or(rest),
        ),
        _ => (false, args),
    };
    if headless {
        say("--headless: running the hub without the desktop app");
        return hub(args);
    }
    match display() {
        Some(variable) => {
            say(format!(
                "{variable} is set, so there is a display: building the UI and running the desktop app (--headless runs the hub alone)"
            ));
            desktop(args)
        }
        None => {
            say(
                "neither DISPLAY nor WAYLAND_DISPLAY is set, so the desktop app has nowhere to open its window: running the hub headless instead",
            );
            hub(args)
        }
    }
}

/// The variable that names a display the app can open a window on, if any.
fn display() -> Option<&'static str> {
    ["WAYLAND_DISPLAY", "DISPLAY"]
        .into_iter()
        .find(|variable| std::env::var_os(variable).is_some_and(|value| !value.is_empty()))
}

/// Builds the UI, then builds and runs the desktop app, which embeds it and
/// the hub, with `args` (e.g. `--hidden`).
fn desktop(args: &[String]) -> Result<()> {
    // src-tauri's build embeds ui/dist, so the UI must be built first; its
    // checks and tests are `cargo xtask test`'s business, not a quick start's.
    ui::build(false)?;
    let mut command = exec::cargo();
    command
        .args([
            "run",
            "-p",
            "gantry-desktop",
            "--bin",
            "gantry-desktop",
            "--",
        ])
        .args(args);
    replace_with(command)
}

/// Builds the web console and the hub, which embeds it, and runs the hub,
/// with `args` after `gantry hub serve`; the hub prints the console's
/// address. Without a usable npm the hub still runs, without its console.
fn hub(args: &[String]) -> Result<()> {
    if let Err(error) = ui::build(false) {
        say(format!(
            "the web console (ui/, npm run build) could not be built, so the hub runs without it: {error:#}"
        ));
    }
    let mut command = exec::cargo();
    command
        .args([
            "run",
            "-p",
            "gantry-cli",
            "--bin",
            "gantry",
            "--",
            "hub",
            "serve",
        ])
        .args(args);
    replace_with(command)
}

/// Replaces xtask with `command`, so that Ctrl-C and the exit status belong
/// to the program alone; returns only when it cannot start.
fn replace_with(mut command: Command) -> Result<()> {
    say(format!("running `{}`", exec::describe(&command)));
    let error = command.exec();
    bail!("cannot start `{}`: {error}", exec::describe(&command))
}
