//! `cargo xtask run`: starts Gantry for a person to try.

use std::os::unix::process::CommandExt;

use anyhow::{Result, bail};

use crate::exec::{self, say};

/// Builds and runs the hub in the foreground, with `args` after `hub serve`.
///
/// xtask replaces itself with cargo, so Ctrl-C and the exit status belong to
/// the hub alone. When the desktop app joins the workspace, this starts the
/// app instead, which embeds the hub.
pub fn run(args: &[String]) -> Result<()> {
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
    say(format!("running `{}`", exec::describe(&command)));
    let error = command.exec();
    bail!("cannot start `{}`: {error}", exec::describe(&command))
}
