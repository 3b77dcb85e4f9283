//! `cargo xtask bench NAME [OPTIONS]`: readies the machine for a benchmark
//! and runs it. The measuring is the `gantry-bench` binary's (crates/bench);
//! xtask builds what it measures (release binaries, the UI the app embeds),
//! starts the Docker engine with the test image where the benchmark needs
//! one, and runs it in the workspace root, whose docs/benchmarks.md it
//! records into.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};
use crate::services::{DockerEngine, REGISTRY_PASSWORD, REGISTRY_USER, Registry, TEST_IMAGE};
use crate::ui;

/// What a benchmark needs readied before it runs.
#[derive(Debug, Default)]
struct Needs {
    /// The release `gantry-desktop`, and the UI it embeds.
    desktop: bool,
    /// The UI built and its packages installed: the console the release
    /// `gantry` embeds, and playwright-core for the browser part.
    ui: bool,
    /// The Docker engine, and whether it must hold the test image.
    docker: Option<Docker>,
    /// The test registry (with the engine and the test image).
    registry: bool,
}

/// How a benchmark uses the Docker engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Docker {
    /// It runs tasks in the test image: an engine is found or started.
    WithImage,
    /// Its agents sit idle beside one, and can do without: one is used or
    /// started only where that disturbs no other engine.
    IfHarmless,
}

impl Needs {
    /// The needs of the benchmark `name`; an unknown name needs nothing
    /// here, and `gantry-bench --check` says it is unknown.
    fn of(name: &str) -> Needs {
        match name {
            "agent" | "recovery" | "yield" => Needs {
                docker: Some(Docker::WithImage),
                ..Needs::default()
            },
            "desktop" => Needs {
                desktop: true,
                ui: true,
                docker: Some(Docker::IfHarmless),
                registry: false,
            },
            "disk" => Needs {
                docker: Some(Docker::WithImage),
                registry: true,
                ..Needs::default()
            },
            "console" => Needs {
                ui: true,
                ..Needs::default()
            },
            _ => Needs::default(),
        }
    }
}

/// Runs the benchmark named in `args[0]` with the options after it.
pub fn run(args: &[String]) -> Result<()> {
    let Some((name, options)) = args.split_first() else {
        bail!("name a benchmark: `cargo xtask bench hub`; see `cargo xtask help`");
    };
    // The benchmark's own build first: a mistyped option is said before
    // the long release builds.
    let bench = build_bench()?;
    exec::run(Command::new(&bench).arg("--check").arg(name).args(options))?;
    let needs = Needs::of(name);
    if needs.ui {
        // The app's build embeds ui/dist, the hub's ui/dist-console.
        ui::build(false).context("cannot build the UI in ui/, which the binaries embed")?;
    }
    let mut command = Command::new(&bench);
    command
        .arg(name)
        .args(options)
        .current_dir(exec::workspace_root())
        .stdin(Stdio::null());
    let (gantry, desktop) = build_release(needs.desktop)?;
    command.env("GANTRY_BENCH_CLI", gantry);
    if let Some(desktop) = desktop {
        command.env("GANTRY_BENCH_DESKTOP", desktop);
    }
    // The registry, then the engine, when this run starts them, stop when this returns.
    let mut _registry = None;
    let _engine = match needs.docker {
        None => None,
        Some(Docker::WithImage) => {
            let engine = DockerEngine::start()?;
            engine.build_test_image()?;
            command
                .env("DOCKER_HOST", engine.host())
                .env("GANTRY_TEST_IMAGE", TEST_IMAGE);
            if needs.registry {
                let registry = Registry::start(&engine)?;
                command
                    .env("GANTRY_TEST_REGISTRY", registry.address())
                    .env("GANTRY_TEST_REGISTRY_USER", REGISTRY_USER)
                    .env("GANTRY_TEST_REGISTRY_PASSWORD", REGISTRY_PASSWORD);
                _registry = Some(registry);
            }
            Some(engine)
        }
        Some(Docker::IfHarmless) => {
            let (engine, words) = harmless_engine();
            match &engine {
                Some(engine) => command.env("DOCKER_HOST", engine.host()),
                None => command.env_remove("DOCKER_HOST"),
            };
            command.env("GANTRY_BENCH_DOCKER", words);
            engine
        }
    };
    exec::run(&mut command)
}

/// Builds the `gantry-bench` binary in the dev profile (the profile the
/// benchmarks' clients have always run in) and returns its path.
fn build_bench() -> Result<PathBuf> {
    let mut built = exec::build(exec::cargo().args(["build", "-p", "gantry-bench"]))?;
    built
        .remove("gantry-bench")
        .context("cargo built no `gantry-bench` executable")
}

/// Builds the release `gantry` and, with `desktop`, `gantry-desktop`.
fn build_release(desktop: bool) -> Result<(PathBuf, Option<PathBuf>)> {
    let mut command = exec::cargo();
    command.args(["build", "--release", "-p", "gantry-cli"]);
    if desktop {
        command.args(["-p", "gantry-desktop"]);
    }
    say(format!("bench: {}", exec::describe(&command)));
    let mut built = exec::build(&mut command)?;
    let gantry = built
        .remove("gantry")
        .context("cargo built no `gantry` executable")?;
    let desktop = if desktop {
        Some(
            built
                .remove("gantry-desktop")
                .context("cargo built no `gantry-desktop` executable")?,
        )
    } else {
        None
    };
    Ok((gantry, desktop))
}

/// The Docker engine the other benchmarks use, or none: then the agents run
/// without one and report Docker missing, which the record says. Returns
/// it with the words the record uses for it.
///
/// A `dockerd` that someone else started on a private socket (a
/// `cargo xtask test` run, say) is left alone: a second engine with the
/// default bridge would fight it over docker0 and its iptables rules.
fn harmless_engine() -> (Option<DockerEngine>, String) {
    let reachable = std::env::var("DOCKER_HOST").is_ok_and(|host| !host.is_empty())
        || Path::new("/var/run/docker.sock").exists();
    if !reachable && let Some(pid) = process_named("dockerd") {
        return (
            None,
            format!(
                "none: another dockerd (pid {pid}) runs on a private socket and a second would \
                 fight it over the default bridge, so the agents ran without Docker and report it missing"
            ),
        );
    }
    match DockerEngine::start() {
        Ok(engine) => {
            let version = engine
                .docker()
                .args(["version", "--format", "{{.Server.Version}}"])
                .stderr(Stdio::null())
                .output()
                .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .unwrap_or_default();
            // `DockerEngine` starts its own engine on a socket in a folder named for this process.
            let whose = if engine.host().contains("gantry-xtask-docker-") {
                "a dockerd started for this run".to_owned()
            } else {
                format!("the engine at {}", engine.host())
            };
            let words = format!("Docker Engine {version}, {whose}");
            (Some(engine), words)
        }
        Err(error) => (
            None,
            format!("none ({error:#}), so the agents ran without Docker and report it missing"),
        ),
    }
}

/// The pid of a running process whose name is `name`, if any.
fn process_named(name: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == name)
        })
}
