//! Images of distinct sizes built here for the disk budget's tests: the
//! test image with a file of incompressible bytes on top, pushed to the
//! kit's registry and removed from the engine, so the agent really pulls
//! them, and the budget is set from their real sizes.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use gantry_agent::docker::RegistryLogin;
use gantry_testkit::services::docker_command;
use gantry_testkit::{docker, image};
use sha2::{Digest, Sha256};

/// An image in the kit's registry, not on the engine.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Its reference, `127.0.0.1:PORT/gantry-test/disk-…:N`.
    pub reference: String,
    /// Its size on the engine once pulled (`docker image inspect`).
    pub size: u64,
    /// What the agent estimates a pull of it takes.
    pub needs: u64,
}

/// The kit's registry and its login; `None` where it does not run.
pub fn registry_login() -> Option<(String, RegistryLogin)> {
    let (address, user, password) = gantry_testkit::registry()?;
    Some((
        address.clone(),
        RegistryLogin {
            registry: address,
            login: user,
            password,
        },
    ))
}

/// `count` bytes that do not compress (sha256 in counter mode).
fn noise(count: usize, seed: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(count + 32);
    let mut n = 0u64;
    while bytes.len() < count {
        let mut hasher = Sha256::new();
        hasher.update(seed.as_bytes());
        hasher.update(n.to_le_bytes());
        bytes.extend_from_slice(&hasher.finalize());
        n += 1;
    }
    bytes.truncate(count);
    bytes
}

/// Builds the test image with `mb` MB of noise on top as `name`, pushes it
/// to the registry and removes it from the engine.
pub async fn build_and_push(login: &RegistryLogin, name: &str, mb: usize) -> Pushed {
    let reference = format!(
        "{}/gantry-test/disk-{name}-{}:{mb}",
        login.registry,
        std::process::id()
    );
    let context = tempfile::tempdir().unwrap();
    std::fs::write(
        context.path().join("noise"),
        noise(mb * 1_000_000, &reference),
    )
    .unwrap();
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {}\nCOPY noise /noise\n", image()),
    )
    .unwrap();
    run(docker_command()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-q", "-t", &reference])
        .arg(context.path()));
    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &reference])
        .parse()
        .unwrap();
    push(login, &reference, context.path());
    run(docker_command().args(["rmi", &reference]));
    let needs = gantry_agent::disk::estimate::image_needs(&reference, std::slice::from_ref(login))
        .await
        .expect("the registry gives the image's size");
    Pushed {
        reference,
        size,
        needs,
    }
}

/// Pushes with a private docker config, so the login lands nowhere else;
/// the password goes on stdin.
fn push(login: &RegistryLogin, reference: &str, scratch: &Path) {
    let config = scratch.join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let mut child = docker_command()
        .env("DOCKER_CONFIG", &config)
        .args([
            "login",
            "-u",
            &login.login,
            "--password-stdin",
            &login.registry,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(login.password.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "docker login");
    run(docker_command()
        .env("DOCKER_CONFIG", &config)
        .args(["push", reference])
        .stdout(Stdio::null()));
}

fn run(command: &mut std::process::Command) {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether the engine has `reference`.
pub fn present(reference: &str) -> bool {
    docker_command()
        .args(["image", "inspect", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// A budget of `max_bytes` alone (no share of the disk, no free space kept).
pub fn only_bytes(max_bytes: u64) -> gantry_agent::disk::DiskBudget {
    gantry_agent::disk::DiskBudget {
        max_bytes: Some(max_bytes),
        max_percent: None,
        min_free_bytes: None,
    }
}

/// Removes the images a test pushed, from the engine (the registry's copies stay).
pub fn forget(images: &[&Pushed]) {
    for image in images {
        let _ = docker_command()
            .args(["rmi", &image.reference])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
