//! `cargo xtask fuzz`: each fuzz target in fuzz/ for a bounded time, with
//! cargo-fuzz on the nightly toolchain installed on the machine.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};

/// Every fuzz target, with what it hammers.
pub const TARGETS: &[(&str, &str)] = &[
    (
        "job_file",
        "the job-file parser, as YAML and JSON, and the wire round trip of what parses",
    ),
    (
        "hub_requests",
        "the hub's log appends, events and submits, on a real hub: never a 5xx or a panic",
    ),
];

/// Runs each of `targets` (all when empty) for `seconds`.
pub fn run(seconds: u64, targets: &[String]) -> Result<()> {
    ensure_tools()?;
    let chosen: Vec<&str> = if targets.is_empty() {
        TARGETS.iter().map(|(name, _)| *name).collect()
    } else {
        for target in targets {
            if !TARGETS.iter().any(|(name, _)| name == target) {
                bail!(
                    "no fuzz target `{target}`; there are {}",
                    TARGETS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        targets.iter().map(String::as_str).collect()
    };
    for target in chosen {
        say(format!("fuzz: {target} for {seconds} s"));
        let mut command = Command::new("cargo");
        command
            .args([
                "+nightly",
                "fuzz",
                "run",
                target,
                "--",
                &format!("-max_total_time={seconds}"),
            ])
            .current_dir(exec::workspace_root())
            .stdin(Stdio::null());
        // A target dir beside the project's, when one is set, so CI rebuilds only what changed.
        if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
            command.env(
                "CARGO_TARGET_DIR",
                std::path::PathBuf::from(dir).join("fuzz"),
            );
        }
        exec::run(&mut command).with_context(|| {
            format!("fuzz target {target} found a failure; the input that caused it is under fuzz/artifacts/{target}/")
        })?;
    }
    Ok(())
}

/// Whether the nightly toolchain cargo-fuzz needs is installed.
pub fn nightly_available() -> bool {
    Command::new("cargo")
        .args(["+nightly", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// cargo-fuzz is installed from crates.io when missing; nightly cannot be
/// fetched here, so its absence is a clear error.
fn ensure_tools() -> Result<()> {
    if !nightly_available() {
        bail!(
            "fuzzing needs the nightly toolchain (cargo +nightly); install it with `rustup toolchain install nightly`"
        );
    }
    let has_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !has_fuzz {
        say("installing cargo-fuzz from crates.io: the fuzz targets are built and run with it");
        exec::run(
            Command::new("cargo")
                .args(["install", "cargo-fuzz", "--locked"])
                .stdin(Stdio::null()),
        )?;
    }
    Ok(())
}
