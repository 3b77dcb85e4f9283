//! Images of a chosen size, built here and pushed to the kit's registry:
//! the test image with a file of random (incompressible) bytes on top, so
//! the disk budget's tests and benchmark pull real images whose sizes they
//! know. The push uses a private docker config, so the registry's login
//! lands nowhere else; the image is then removed from the engine, so a
//! pull really pulls.

use std::io::{Read, Write};
use std::process::Stdio;

use crate::services::{docker, docker_command, image};

/// An image in the kit's registry.
#[derive(Debug, Clone)]
pub struct SizedImage {
    /// `127.0.0.1:PORT/gantry-test/disk-NAME-PID:MB`.
    pub reference: String,
    /// Its size on the engine (`docker image inspect`'s Size), once pulled.
    pub size: u64,
}

/// Builds the test image with `mb` MB of random bytes on top, pushes it to
/// `registry` (address, user, password) and removes it from the engine.
pub fn build_and_push(registry: &(String, String, String), name: &str, mb: usize) -> SizedImage {
    let address = &registry.0;
    let reference = format!(
        "{address}/gantry-test/disk-{name}-{}:{mb}",
        std::process::id()
    );
    let context = tempfile::tempdir().unwrap();
    let mut noise = Vec::new();
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .take((mb * 1_000_000) as u64)
        .read_to_end(&mut noise)
        .unwrap();
    std::fs::write(context.path().join("noise"), noise).unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {}\nCOPY noise /noise\n", image()),
    )
    .unwrap();
    run(docker_command()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &reference])
        .arg(context.path()));
    let size = docker(&["image", "inspect", "-f", "{{.Size}}", &reference])
        .parse()
        .unwrap();
    logged_in(registry, &["push", &reference]);
    remove(&reference);
    SizedImage { reference, size }
}

/// Pulls `reference` from the registry with its login (a private docker config).
pub fn pull(registry: &(String, String, String), reference: &str) {
    logged_in(registry, &["pull", "-q", reference]);
}

/// Runs `docker ARGS` (a push, a pull) logged in to `registry` (address,
/// user, password) through a private docker config, gone afterwards.
fn logged_in(registry: &(String, String, String), args: &[&str]) {
    let (address, user, password) = registry;
    let config = tempfile::tempdir().unwrap();
    let mut login = docker_command()
        .env("DOCKER_CONFIG", config.path())
        .args(["login", "-u", user, "--password-stdin", address])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        // It warns that the private config keeps the login unencrypted.
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    login
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    assert!(login.wait().unwrap().success(), "docker login {address}");
    run(docker_command()
        .env("DOCKER_CONFIG", config.path())
        .args(args)
        .stdout(Stdio::null()));
}

/// Whether the engine has `reference`.
pub fn present(reference: &str) -> bool {
    docker_command()
        .args(["image", "inspect", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Removes `reference` from the engine, if there (the registry's copy stays).
pub fn remove(reference: &str) {
    let _ = docker_command()
        .args(["rmi", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn run(command: &mut std::process::Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
