//! The project's own commands, run as `cargo xtask <command>`: written in Rust
//! so that they work wherever cargo does, with no script language to install.
//!
//! This file only reads the command line and hands over to one module per
//! command.

mod bench;
mod desktop;
mod dist;
mod exec;
mod fuzz;
mod packages;
mod run;
mod schemathesis;
mod services;
mod test;
mod ui;

use anyhow::{Context, Result, bail};

const HELP: &str = "\
cargo xtask: Gantry's own commands

USAGE:
    cargo xtask test [--dist] [-- CARGO_TEST_ARGS...]
        The one test command. Installs missing Debian packages (apt-get, as
        root), starts a throwaway PostgreSQL on 127.0.0.1 (unless
        GANTRY_TEST_POSTGRES is set), uses the running Docker engine or starts
        one, builds the test image and starts a local registry holding it,
        stops all of these at the end. In between it builds the desktop app's
        UI in ui/ (npm ci when node_modules is missing or older than
        package-lock.json, then npm run check, npm test, npm run build; needs
        Node.js 20.19+ and npm), installs tauri-driver from crates.io if it is
        missing, and runs cargo fmt --check, cargo clippy -D warnings and
        cargo test --workspace, stopping at the first failure. Arguments after
        `--` go to cargo test, e.g. `cargo xtask test -- hub_` or
        `cargo xtask test -- -p gantry-hub`.
        With --dist (CI uses it), `cargo xtask dist` runs before the tests,
        and the package test checks what it wrote: every signature (and that
        tampered copies fail), the packages' metadata, the .deb installed
        with dpkg (as root), `gantry version` and the installed app under
        Xvfb, then its removal.

    cargo xtask dist [--out DIR] [--require-keys]
        Builds the signed Linux packages, offline: the UI, release builds of
        gantry-desktop and the gantry CLI, the CLI's man pages and
        completions, then (packaging/dist, the Tauri bundler as a library) a
        .deb and an .rpm, the .rpm signed inside and the .deb with a detached
        OpenPGP signature, the updater's minisign signatures (.sig) and
        latest.json, SHA256SUMS and its signature, and both public keys.
        Keys come from GANTRY_GPG_KEY / GANTRY_GPG_PASSPHRASE and
        TAURI_SIGNING_PRIVATE_KEY / TAURI_SIGNING_PRIVATE_KEY_PASSWORD;
        without them throwaway keys are made in <target dir>/dist/throwaway-keys
        (--require-keys refuses that). Default output:
        <target dir>/dist/packages. See packaging/README.md.

    cargo xtask run [--headless] [-- ARGS...]
        Runs Gantry in the foreground. With a display (DISPLAY or
        WAYLAND_DISPLAY set): builds the UI in ui/ (npm ci when stale, then
        npm run build) and runs the desktop app, `gantry-desktop ARGS...`
        (e.g. -- --hidden). With --headless, or without a display: builds
        the UI (the hub's web console) and runs the hub alone, `gantry hub
        serve ARGS...` (e.g. --headless -- --listen 127.0.0.1:9000), which
        prints the console's address.

    cargo xtask bench NAME [OPTIONS]
        Builds what the benchmark NAME measures (release builds of the CLI,
        and of the desktop app with its UI), starts the Docker engine with
        the test image where it needs one, and runs it: the gantry-bench
        binary of crates/bench, in the dev profile, in the workspace root.

    cargo xtask bench hub [--nodes 100,1000] [--tasks 200] [--no-record]
        Load-tests a release build of the hub on 127.0.0.1: N simulated
        agents long-poll for work while an admin submits tasks one at a time.
        Prints dispatch latency p50/p99, its ratio to a bare health round
        trip measured in the same run, and the hub's peak memory, and records
        them in docs/benchmarks.md (unless --no-record). 1,000 agents need
        about 2,300 open files: raise `ulimit -n` first if it is lower.

    cargo xtask bench agent [--idle SECS] [--no-record]
        Measures the agent against the raw Docker floor in one run, with a
        release build, a hub and an agent on this machine and the Docker
        engine that `test` uses: dispatch (submit to first output byte vs
        `docker run`), a million log lines into the hub (vs `docker run` +
        `docker logs`), and the idle agent's memory and CPU over a minute.
        Records them in docs/benchmarks.md (unless --no-record).

    cargo xtask bench recovery [--rounds 3] [--outage SECS] [--no-record]
        Measures the agent's \"never lose a line\" with a release build, a hub
        and an agent on this machine and the Docker engine that `test` uses.
        Part 1: an agent running 4 tasks gets SIGKILL and is started again
        (3 rounds); the time until its status lists all 4 running and new
        output reaches the hub, against an agent's boot plus `docker ps` and
        `docker logs` of the 4 containers; then every line is checked. Part
        2: the hub is killed for SECS (default 60) while a task prints a
        million lines; the agent's peak memory against its idle memory, the
        spool on disk, and the time until the hub's copy is complete and
        exact. Records them in docs/benchmarks.md (unless --no-record); a
        failed part 1 still runs part 2, then fails and records nothing.

    cargo xtask bench tasks_list [--no-record]
        Lists 100,000 tasks through a release hub on SQLite and, when
        GANTRY_TEST_POSTGRES names a server, PostgreSQL (filled through the
        hub's database API): the first page, a page 90,000 deep by `before`,
        and filtered pages, against a bare health round trip in the same
        run. Records them in docs/benchmarks.md (unless --no-record).

    cargo xtask bench transfer [--rounds 3] [--no-record]
        Moves a 1 GiB file through a release hub on this machine: upload
        with `gantry blob put`, download of an output on the hub and of one
        kept on a node (relayed from the agent) with `gantry task download`,
        each against `curl` of the same file against the same hub in the same
        run; the CLI's and the sending agent's peak memory. Process executor,
        no Docker. Records them in docs/benchmarks.md (unless --no-record).

    cargo xtask bench console [--tasks 100000] [--no-record]
        Measures the hub's web console in Debian's Chromium against a
        release hub holding TASKS tasks: page load to the first tasks and a
        filter by name (each against the page's own fetch of the same
        tasks), a log growing by 10,000 lines a second followed live (how
        far the screen trails, against a bare streaming fetch; the longest
        frame gap), and the console's JS+CSS weight against the desktop's.
        Records them in docs/benchmarks.md (unless --no-record).

    cargo xtask bench yield [--rounds 10] [--release-rounds 5] [--no-record]
        Measures how fast a node steps aside for its person and comes back,
        with a release hub and agent on this machine and the Docker engine
        that `test` uses; the person is a real program named like the
        agent's --exclusive-app. Freeze (program started to the task's
        container paused, vs `docker pause`) and resume with --settle 2
        (program killed to running again, vs `docker unpause`), ROUNDS each;
        release with --yield-grace 10 of a task ignoring SIGTERM (program
        started to container gone and task queued at the hub, vs `docker
        stop -t 10` + `docker rm`), RELEASE-ROUNDS. p50/p99 of each.
        Records them in docs/benchmarks.md (unless --no-record).

    cargo xtask bench disk [--rounds 10] [--no-record]
        What the disk budget's check before a pull adds to a task's start
        (estimate from the registry, ledger, stock-taking; and with one
        image evicted), against `docker run --rm IMAGE true` of the same
        image, with the Docker engine and a registry started here. Records
        them in docs/benchmarks.md (unless --no-record).

    cargo xtask bench disk --soak [--tasks 60] [--no-record]
        The soak instead: the release hub and agent with a 300 MB disk
        budget run TASKS tasks one after another, cycling over 8 images of
        20 to 55 MB pushed to that registry, each keeping a 1 MB result;
        what Gantry holds is taken at each task's start and end. Reports
        the most held against the budget, the disk's least free space, the
        evictions by kind and the tasks that failed. Records them in
        docs/benchmarks.md (unless --no-record).

    cargo xtask bench desktop [--seconds N] [--no-record]
        Measures the desktop app's idle footprint with a release build on
        the desktop tests' private desktop (its own D-Bus session bus, GNOME
        Keyring, dbusmock notification server, a tray watcher, Xvfb),
        connected to a hub on this machine and the Docker engine that `test`
        uses: the app and all its WebKit processes, their total RSS (mean
        and max of 1 s samples), PSS and CPU over N seconds (default 60),
        started with --hidden and with its window shown, against the
        headless agent idle in the same run.
        Records them in docs/benchmarks.md (unless --no-record). About four
        minutes after the build; needs Xvfb, dbus-daemon,
        gnome-keyring-daemon and Debian's python3-dbusmock.

    cargo xtask fuzz [--seconds N] [TARGET...]
        Runs each fuzz target in fuzz/ (job_file, hub_requests) for N seconds
        (default 60) with cargo-fuzz on the installed nightly toolchain,
        installing cargo-fuzz from crates.io if it is missing. A failing
        input is kept under fuzz/artifacts/. `test` runs a short pass.

    cargo xtask services
        Starts what `test` starts for the tests (PostgreSQL, the Docker
        engine, the test image, the registry), prints the variables the test
        kit reads as `export` lines, and keeps them up until Ctrl-C, so that
        `cargo test -p CRATE` runs against the real services while you work.

    cargo xtask help
        This text.
";

fn main() {
    if let Err(error) = dispatch() {
        exec::say(format!("error: {error:#}"));
        std::process::exit(1);
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.split_first() {
        Some((command, rest)) => (command.as_str(), rest),
        None => ("help", &[][..]),
    };
    // Arguments for the tool xtask runs come after `--`; a leading `--` is
    // optional so that `cargo xtask test hub_` works too.
    let passed = rest.strip_prefix(&["--".to_owned()][..]).unwrap_or(rest);
    match command {
        "test" => {
            exec::catch_interrupts()?;
            // `--dist` is xtask's own, before any `--` that starts cargo's.
            let dist = rest.first().is_some_and(|a| a == "--dist");
            let rest = if dist { &rest[1..] } else { rest };
            let passed = rest.strip_prefix(&["--".to_owned()][..]).unwrap_or(rest);
            test::run(passed, dist)
        }
        "dist" => {
            exec::catch_interrupts()?;
            dist::run(&dist::Options::parse(passed)?).map(drop)
        }
        "run" => run::run(passed),
        "services" => {
            exec::catch_interrupts()?;
            test::hold_services()
        }
        "bench" => {
            exec::catch_interrupts()?;
            bench::run(passed)
        }
        "fuzz" => {
            let mut seconds = 60;
            let mut targets = Vec::new();
            let mut args = passed.iter();
            while let Some(arg) = args.next() {
                if arg == "--seconds" {
                    seconds = args
                        .next()
                        .context("--seconds needs a number")?
                        .parse()
                        .context("--seconds needs a number")?;
                } else {
                    targets.push(arg.clone());
                }
            }
            fuzz::run(seconds, &targets)
        }
        "help" | "-h" | "--help" => {
            print!("{HELP}");
            Ok(())
        }
        other => bail!("unknown command `{other}`; see `cargo xtask help`"),
    }
}
