//! The services as tests see them: what `cargo xtask test` started and named
//! in the environment, or nothing, in which case a test skips and says so.
//!
//! A developer's laptop may lack Docker or PostgreSQL, and the tests that
//! need them skip there; with `GANTRY_REQUIRE_SERVICES=1` (set by `xtask
//! test`, where every service was provided) a missing one is a failure, so a
//! broken setup never passes as a run of skipped tests.

use std::process::{Command, Stdio};

/// Whether a test must fail, rather than skip, when a service is missing.
pub fn required() -> bool {
    std::env::var("GANTRY_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// The small test image.
pub fn image() -> String {
    std::env::var("GANTRY_TEST_IMAGE").unwrap_or_else(|_| "gantry-test/busybox:1".into())
}

/// The test registry: (address, user, password), when one runs.
pub fn registry() -> Option<(String, String, String)> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        get("GANTRY_TEST_REGISTRY"),
        get("GANTRY_TEST_REGISTRY_USER"),
        get("GANTRY_TEST_REGISTRY_PASSWORD"),
    ) {
        (Some(address), Some(user), Some(password)) => Some((address, user, password)),
        _ if required() => panic!(
            "GANTRY_TEST_REGISTRY* are not set, and GANTRY_REQUIRE_SERVICES=1 forbids skipping"
        ),
        _ => None,
    }
}

/// The PostgreSQL server for tests, if one was set up (`cargo xtask test` does).
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("GANTRY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required() => {
            panic!(
                "GANTRY_TEST_POSTGRES is not set, and GANTRY_REQUIRE_SERVICES=1 forbids skipping PostgreSQL tests"
            )
        }
        _ => None,
    }
}

/// The CA of the test PostgreSQL server's TLS certificate (`cargo xtask
/// test` serves PostgreSQL over TLS and names it in GANTRY_TEST_POSTGRES_CA).
pub fn postgres_ca() -> Option<std::path::PathBuf> {
    match std::env::var("GANTRY_TEST_POSTGRES_CA") {
        Ok(path) if !path.is_empty() => Some(path.into()),
        _ if required() => panic!(
            "GANTRY_TEST_POSTGRES_CA is not set, and GANTRY_REQUIRE_SERVICES=1 forbids skipping the PostgreSQL TLS tests"
        ),
        _ => {
            eprintln!(
                "SKIPPED: set GANTRY_TEST_POSTGRES_CA (cargo xtask test does) to test PostgreSQL over TLS"
            );
            None
        }
    }
}

/// Whether the Docker engine answers and has the test image; skips (or fails
/// when services are required) otherwise.
pub fn docker_ready() -> bool {
    let ready = docker_command()
        .args(["image", "inspect", &image()])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            !required(),
            "the Docker engine or the image {} is missing, and GANTRY_REQUIRE_SERVICES=1",
            image()
        );
        eprintln!(
            "SKIPPED: no Docker engine with {} (cargo xtask test starts one)",
            image()
        );
    }
    ready
}

/// The docker CLI against the engine `DOCKER_HOST` names, for checks from
/// outside Gantry; stdin is closed.
pub fn docker_command() -> Command {
    let mut command = Command::new("docker");
    command.stdin(Stdio::null());
    command
}

/// Runs the docker CLI against the test engine; returns its trimmed stdout.
pub fn docker(args: &[&str]) -> String {
    stdout_of(docker_command().args(args))
}

/// Runs `command` to its end; returns its trimmed stdout.
pub fn stdout_of(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The schemathesis program `cargo xtask test` installed (in
/// `GANTRY_TEST_SCHEMATHESIS`), for the hub's API fuzz test; `None` when it
/// was not set up (the test then says it was skipped), a failure when
/// services are required.
pub fn schemathesis() -> Option<std::path::PathBuf> {
    match std::env::var("GANTRY_TEST_SCHEMATHESIS") {
        Ok(path) if !path.is_empty() => Some(path.into()),
        _ if required() => panic!(
            "GANTRY_TEST_SCHEMATHESIS is not set, and GANTRY_REQUIRE_SERVICES=1 forbids skipping the API fuzz test"
        ),
        _ => {
            eprintln!(
                "SKIPPED: set GANTRY_TEST_SCHEMATHESIS (cargo xtask test does) to run the API fuzz test"
            );
            None
        }
    }
}
