//! `cargo xtask dist`: the signed Linux packages, built offline.
//!
//! xtask builds (the UI, the release binaries, the CLI's man pages and
//! completions); `gantry-dist` (packaging/dist) holds the Tauri bundler and
//! the signing, and runs twice: first for the updater's public key, which
//! the app is built with, then to bundle and sign.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::exec::{self, say};
use crate::{packages, ui};

/// What `dist` was asked for.
#[derive(Debug, Default)]
pub struct Options {
    /// Where the packages go; `<target dir>/dist/packages` by default.
    pub out: Option<PathBuf>,
    /// Refuse throwaway keys (a release).
    pub require_keys: bool,
    /// ui/dist was just built (`test` builds and checks it first), so it
    /// is not built again.
    pub ui_built: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--out" => {
                    let out = args.next().context("--out needs a folder")?;
                    options.out = Some(std::path::absolute(out)?);
                }
                "--require-keys" => options.require_keys = true,
                other => bail!("unknown dist option `{other}`; see `cargo xtask help`"),
            }
        }
        Ok(options)
    }
}

/// Builds, bundles and signs; returns the folder holding the packages.
pub fn run(options: &Options) -> Result<PathBuf> {
    say("dist: Debian packages for the build and the signing");
    packages::ensure_for_dist()?;
    if !options.ui_built {
        say("dist: the UI (npm ci when stale, npm run build)");
        ui::build(false)?;
    }

    let target = target_dir()?;
    let dist = target.join("dist");
    let keys_dir = dist.join("throwaway-keys");
    let out = options.out.clone().unwrap_or_else(|| dist.join("packages"));
    let key_args = |command: &mut Command| {
        command.arg("--keys-dir").arg(&keys_dir);
        if options.require_keys {
            command.arg("--require-keys");
        }
    };

    say("dist: the signing keys (gantry-dist keys)");
    let mut keys = gantry_dist();
    keys.arg("keys");
    key_args(&mut keys);
    let (status, stdout) = exec::output(&mut keys)?;
    if !status.success() {
        bail!("gantry-dist keys failed ({status})");
    }
    let updater_key = String::from_utf8(stdout)
        .context("gantry-dist printed a key that is not text")?
        .trim()
        .to_owned();

    say(
        "dist: cargo build --release -p gantry-desktop -p gantry-cli (the updater's key compiled in)",
    );
    let binaries = build_release(&updater_key)?;

    say("dist: man pages and completions (gantry generate)");
    let generated = dist.join("generated");
    if generated.exists() {
        std::fs::remove_dir_all(&generated)?;
    }
    exec::run(
        Command::new(binaries.join("gantry"))
            .arg("generate")
            .arg("--out")
            .arg(&generated),
    )?;

    say("dist: bundle and sign (gantry-dist bundle)");
    let mut bundle = gantry_dist();
    bundle.arg("bundle");
    key_args(&mut bundle);
    bundle
        .arg("--config")
        .arg(exec::workspace_root().join("src-tauri/tauri.conf.json"))
        .arg("--binaries")
        .arg(&binaries)
        .arg("--generated")
        .arg(&generated)
        .arg("--out")
        .arg(&out);
    exec::run(&mut bundle)?;
    say(format!("dist: packages in {}", out.display()));
    Ok(out)
}

/// `cargo run -p gantry-dist --`, quietly.
fn gantry_dist() -> Command {
    let mut command = exec::cargo();
    command.args(["run", "--quiet", "-p", "gantry-dist", "--"]);
    command
}

/// The folder cargo builds into, from cargo's own metadata, so that a
/// CARGO_TARGET_DIR outside the clone (CI's) is found too.
fn target_dir() -> Result<PathBuf> {
    let output = exec::cargo()
        .args(["metadata", "--format-version=1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed ({})", output.status);
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata names no target directory")
}

/// Builds both release binaries with `updater_key` compiled into the app and
/// returns the folder holding them.
fn build_release(updater_key: &str) -> Result<PathBuf> {
    let mut command = exec::cargo();
    command
        .args([
            "build",
            "--release",
            "-p",
            "gantry-desktop",
            "-p",
            "gantry-cli",
        ])
        .env("GANTRY_UPDATER_PUBKEY", updater_key);
    let built = exec::build(&mut command)?;
    let desktop = built
        .get("gantry-desktop")
        .context("cargo built no gantry-desktop executable")?;
    let folder = desktop
        .parent()
        .map(Path::to_path_buf)
        .context("the executable's folder")?;
    if !folder.join("gantry").is_file() {
        bail!("cargo built no gantry executable beside gantry-desktop");
    }
    Ok(folder)
}
