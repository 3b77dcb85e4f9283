//! `cargo xtask test`: the one command that checks everything, from a fresh
//! machine to a summary line.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::exec::{self, say};
use crate::services::{self, DockerEngine, Postgres, Registry};
use crate::{desktop, packages, ui};

/// The tests' own totals, summed from libtest's `test result:` lines.
#[derive(Debug, Default)]
struct Totals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

/// Runs every step in order and stops at the first failure; `extra` goes to
/// `cargo test`. Prints one summary line with each step's time either way.
pub fn run(extra: &[String], dist: bool) -> Result<()> {
    let started = Instant::now();
    let mut times: Vec<(&str, Duration)> = Vec::new();
    let mut totals = None;
    let result = steps(extra, dist, &mut times, &mut totals);
    let steps: Vec<_> = times
        .iter()
        .map(|(name, took)| format!("{name} {}", exec::human(*took)))
        .collect();
    let counts = totals
        .map(|t: Totals| {
            format!(
                "; tests: {} passed, {} failed, {} ignored",
                t.passed, t.failed, t.ignored
            )
        })
        .unwrap_or_default();
    let verdict = match &result {
        Ok(()) => "passed".to_owned(),
        Err(_) => format!(
            "FAILED at {}",
            times.last().map_or("start", |(name, _)| *name)
        ),
    };
    say(format!(
        "test {verdict} in {} ({}){counts}",
        exec::human(started.elapsed()),
        steps.join(", ")
    ));
    result
}

fn steps(
    extra: &[String],
    dist: bool,
    times: &mut Vec<(&'static str, Duration)>,
    totals: &mut Option<Totals>,
) -> Result<()> {
    say("step 1: Debian packages");
    timed(times, "packages", packages::ensure)?;

    // The guards live until this function returns, so the services outlive
    // the tests and are stopped whatever happens to them.
    let services = start_services(times)?;

    // The desktop app's build embeds ui/dist, so clippy and the tests cannot
    // compile src-tauri before the UI is built; the UI's own type check and
    // unit tests run here too.
    say(
        "step 4: the desktop app's UI: npm ci (when stale), check, unit tests, browser tests (chromium), build",
    );
    timed(times, "ui", || ui::build(true))?;

    // Before the long compile steps, so that a machine that cannot get
    // tauri-driver finds out in the first minutes.
    say("step 5: WebDriver for the desktop tests: tauri-driver and WebKitWebDriver");
    let drivers = timed(times, "drivers", desktop::ensure_drivers)?;

    say("step 6: cargo fmt --check");
    timed(times, "fmt", || {
        exec::run(exec::cargo().args(["fmt", "--all", "--", "--check"]))
    })?;

    say("step 7: cargo clippy -D warnings");
    timed(times, "clippy", || {
        exec::run(exec::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;

    // The packages are built before the tests so that the package test
    // (src-tauri/tests/package.rs) finds them; without --dist it skips.
    let packages = if dist {
        say("step 7b: cargo xtask dist (throwaway keys unless the environment gives real ones)");
        Some(timed(times, "dist", || {
            crate::dist::run(&crate::dist::Options {
                ui_built: true,
                ..crate::dist::Options::default()
            })
        })?)
    } else {
        None
    };

    say("step 8: cargo test");
    let mut test = exec::cargo();
    test.arg("test");
    // A package chosen after `--` narrows the run; --workspace would widen it again.
    if !extra
        .iter()
        .any(|arg| arg == "-p" || arg.starts_with("--package"))
    {
        test.arg("--workspace");
    }
    test.args(extra);
    services.hand_to(&mut test);
    test.env("GANTRY_TAURI_DRIVER", &drivers.tauri)
        .env("GANTRY_WEBKIT_DRIVER", &drivers.webkit)
        // Tests skip a missing service on a developer's laptop; here every
        // service was provided, so a missing one is a failure.
        .env("GANTRY_REQUIRE_SERVICES", "1");
    if let Some(packages) = &packages {
        test.env("GANTRY_DIST_DIR", packages);
    }
    timed(times, "test", || {
        let (status, counted) = run_counting(&mut test)?;
        *totals = Some(counted);
        if !status.success() {
            bail!("`{}` failed ({status})", exec::describe(&test));
        }
        Ok(())
    })?;

    // A short pass of every fuzz target, so a panic any input can cause is
    // caught here; `cargo xtask fuzz` runs them longer. Skipped when the
    // arguments narrowed the run to some tests.
    if !extra.is_empty() {
        return Ok(());
    }
    if !crate::fuzz::nightly_available() {
        // Nightly cannot be downloaded here; without it the pass is skipped,
        // loudly, rather than failing every other check with it.
        say(
            "step 9: fuzz SKIPPED: no nightly toolchain on this machine (rustup toolchain install nightly)",
        );
        return Ok(());
    }
    say(format!("step 9: fuzz, {FUZZ_SECONDS} s a target"));
    timed(times, "fuzz", || crate::fuzz::run(FUZZ_SECONDS, &[]))?;
    Ok(())
}

/// Runs `step`, timed even when it fails, so the summary says where the
/// time went and which step stopped the run.
fn timed<T>(
    times: &mut Vec<(&'static str, Duration)>,
    name: &'static str,
    step: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let started = Instant::now();
    let result = step();
    times.push((name, started.elapsed()));
    result
}

/// The services the tests talk to, each stopped when this is dropped (the
/// fields drop in order: the registry, the engine, then PostgreSQL).
pub struct Services {
    registry: Registry,
    docker: DockerEngine,
    postgres_url: String,
    /// The CA of the server's TLS certificate: ours, or GANTRY_TEST_POSTGRES_CA's.
    postgres_ca: Option<String>,
    /// The schemathesis program the hub's API fuzz test runs.
    schemathesis: std::path::PathBuf,
    /// A Python with prometheus-client, whose parser the metrics tests use.
    prometheus_python: std::path::PathBuf,
    /// `None` when GANTRY_TEST_POSTGRES named a server of someone else's.
    _postgres: Option<Postgres>,
}

/// Steps 2 and 3: PostgreSQL, the Docker engine, the test image and the
/// registry; and schemathesis (3b), which the hub's fuzz test runs.
pub fn start_services(times: &mut Vec<(&'static str, Duration)>) -> Result<Services> {
    let (postgres, postgres_url, postgres_ca) = match std::env::var("GANTRY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => {
            say("step 2: PostgreSQL: using GANTRY_TEST_POSTGRES from the environment");
            let ca = std::env::var("GANTRY_TEST_POSTGRES_CA")
                .ok()
                .filter(|ca| !ca.is_empty());
            (None, url, ca)
        }
        _ => {
            say("step 2: PostgreSQL: starting a throwaway server on 127.0.0.1, with TLS");
            let server = timed(times, "postgres", Postgres::start)?;
            let url = server.url();
            let ca = server.ca_file().display().to_string();
            say(format!("PostgreSQL ready at {url} (its CA: {ca})"));
            (Some(server), url, Some(ca))
        }
    };
    say("step 3: Docker engine, test image and registry");
    let docker = timed(times, "docker", DockerEngine::start)?;
    timed(times, "image", || docker.build_test_image())?;
    let registry = timed(times, "registry", || Registry::start(&docker))?;
    say(format!("registry ready at {}", registry.address()));
    say("step 3b: schemathesis, the API fuzzer (pip into its venv when missing)");
    let schemathesis = timed(times, "schemathesis", crate::schemathesis::ensure)?;
    say("step 3c: prometheus-client, whose text parser reads /metrics in the tests");
    let prometheus_python = timed(
        times,
        "prometheus-client",
        crate::schemathesis::ensure_prometheus_parser,
    )?;
    Ok(Services {
        registry,
        docker,
        postgres_url,
        postgres_ca,
        schemathesis,
        prometheus_python,
        _postgres: postgres,
    })
}

impl Services {
    /// Names the services to the tests `command` runs, in the environment
    /// the test kit (crates/testkit) reads.
    fn hand_to(&self, command: &mut Command) {
        for (name, value) in self.environment() {
            command.env(name, value);
        }
    }

    /// The variables the test kit reads, with their values.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GANTRY_TEST_POSTGRES", self.postgres_url.clone()),
            (
                "GANTRY_TEST_POSTGRES_CA",
                self.postgres_ca.clone().unwrap_or_default(),
            ),
            ("DOCKER_HOST", self.docker.host().to_owned()),
            ("GANTRY_TEST_IMAGE", services::TEST_IMAGE.to_owned()),
            ("GANTRY_TEST_REGISTRY", self.registry.address()),
            (
                "GANTRY_TEST_REGISTRY_USER",
                services::REGISTRY_USER.to_owned(),
            ),
            (
                "GANTRY_TEST_REGISTRY_PASSWORD",
                services::REGISTRY_PASSWORD.to_owned(),
            ),
            (
                "GANTRY_TEST_SCHEMATHESIS",
                self.schemathesis.display().to_string(),
            ),
            (
                "GANTRY_TEST_PROMETHEUS_PYTHON",
                self.prometheus_python.display().to_string(),
            ),
        ]
    }
}

/// How long each fuzz target runs in `cargo xtask test`.
const FUZZ_SECONDS: u64 = 20;

/// Runs `cargo test`, passing its output through untouched while summing the
/// `test result:` lines for the summary.
fn run_counting(command: &mut Command) -> Result<(std::process::ExitStatus, Totals)> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", exec::describe(command)))?;
    let stdout = child.stdout.take().expect("stdout was piped");
    // A thread reads, because the main thread must stay free to notice Ctrl-C.
    let reader = std::thread::spawn(move || {
        let mut totals = Totals::default();
        let mut out = std::io::stdout();
        let mut input = BufReader::new(stdout);
        let mut line = Vec::new();
        while input
            .read_until(b'\n', &mut line)
            .is_ok_and(|read| read > 0)
        {
            let _ = out.write_all(&line);
            let _ = out.flush();
            count(&String::from_utf8_lossy(&line), &mut totals);
            line.clear();
        }
        totals
    });
    let status = exec::wait(child)?;
    let totals = reader.join().unwrap_or_default();
    Ok((status, totals))
}

/// Adds one libtest line such as `test result: ok. 12 passed; 0 failed;
/// 1 ignored; 0 measured; 0 filtered out; finished in 0.01s` to `totals`.
fn count(line: &str, totals: &mut Totals) {
    let Some(rest) = line.trim().strip_prefix("test result: ") else {
        return;
    };
    for part in rest.split(';') {
        let mut words = part.split_whitespace().rev();
        let (Some(what), Some(number)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match what {
            "passed" => totals.passed += number,
            "failed" => totals.failed += number,
            "ignored" => totals.ignored += number,
            _ => {}
        }
    }
}

/// `cargo xtask services`: starts the tests' services, prints their
/// variables as shell `export` lines, and holds them until Ctrl-C.
pub fn hold_services() -> Result<()> {
    let mut times = Vec::new();
    let services = start_services(&mut times)?;
    for (name, value) in services.environment() {
        println!("export {name}='{value}'");
    }
    println!("export GANTRY_REQUIRE_SERVICES=1");
    std::io::stdout().flush().ok();
    say("services up; Ctrl-C (or SIGTERM) stops them");
    while !exec::interrupted() {
        std::thread::sleep(Duration::from_millis(200));
    }
    say("stopping the services");
    drop(services);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_libtest_result_lines() {
        let mut totals = Totals::default();
        count(
            "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n",
            &mut totals,
        );
        count(
            "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out; finished in 1.20s",
            &mut totals,
        );
        count("test something ... ok", &mut totals);
        assert_eq!((totals.passed, totals.failed, totals.ignored), (15, 2, 1));
    }
}
