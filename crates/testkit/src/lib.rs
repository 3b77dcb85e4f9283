//! The world Gantry's tests and benchmarks run in, written once.
//!
//! Every test crate (the hub's, the CLI's, the desktop app's, the end-to-end
//! tests in this crate's `tests/`), the fuzz targets and the benchmarks
//! (`crates/bench`) start hubs, agents and services the same way, so they
//! take them from here rather than each keeping a copy that drifts:
//!
//! - [`hub`]: a real hub in the test's process on `127.0.0.1:0`, on SQLite or
//!   on a fresh PostgreSQL database, and a raw HTTP client for it;
//! - [`world`] (feature `agents`): that hub with real agents in the same
//!   process, against the real Docker engine;
//! - [`drive`] (feature `agents`): `gantry drive` as a child process
//!   against a [`World`]'s hub, its output read while it runs;
//! - [`children`]: `gantry hub serve` and `gantry agent start` as child
//!   processes, the hub's `listening on` line read in one place;
//! - [`services`]: the Docker engine, test image, registry and PostgreSQL
//!   as `cargo xtask test` hands them over in the environment;
//! - [`sized_images`]: images of a chosen size pushed to the test registry,
//!   for the disk budget's tests and benchmark; [`disk_soak`] (feature
//!   `agents`): many tasks through a node with a tight budget, measured;
//! - [`engine`]: a private Docker engine a test may restart, and the removal
//!   of what a killed agent left on an engine;
//! - [`desktop`] (feature `desktop`): a private desktop session (D-Bus,
//!   keyring, notifications, tray watcher, Xvfb);
//! - [`nvml_standin`]: a stand-in for NVIDIA's NVML where no NVIDIA GPU
//!   exists, built with `cc` at test time, its GPUs read from a file;
//! - [`netns`]: two hosts on one machine (network namespaces and a veth
//!   pair), for what crosses a real network: TLS, a reverse proxy;
//! - [`procfs`] and [`sampler`]: what /proc says of a process, and a process
//!   tree's memory and CPU sampled over time;
//! - [`prometheus`]: a `/metrics` page read by Prometheus' own Python parser;
//! - [`tls`]: a CA made at test time and the server certificates it signs,
//!   as PEM files; [`proxy`]: a counting CONNECT proxy for `HTTPS_PROXY`;
//! - [`wait`], [`Scratch`], [`free_port`]: polling with a deadline, folders
//!   that go away, ports.
//!
//! `cargo xtask test` starts the services and sets:
//! - `DOCKER_HOST`: the engine;
//! - `GANTRY_TEST_IMAGE`: a small image built FROM scratch with busybox;
//! - `GANTRY_TEST_REGISTRY`, `GANTRY_TEST_REGISTRY_USER`, `GANTRY_TEST_REGISTRY_PASSWORD`:
//!   a registry with htpasswd login holding `<registry>/gantry-test/busybox:1`;
//! - `GANTRY_TEST_POSTGRES`: a PostgreSQL server a test may create databases on;
//! - `GANTRY_TEST_POSTGRES_CA`: the CA of that server's TLS certificate;
//! - `GANTRY_TEST_PROMETHEUS_PYTHON`: a Python with prometheus-client, for [`prometheus`];
//! - `GANTRY_REQUIRE_SERVICES=1`: a missing service fails a test rather than skipping it.

pub mod browser;
pub mod children;
#[cfg(feature = "desktop")]
pub mod desktop;
#[cfg(feature = "agents")]
pub mod disk_soak;
#[cfg(feature = "agents")]
pub mod drive;
pub mod engine;
pub mod hub;
pub mod netns;
pub mod nvml_standin;
pub mod procfs;
pub mod prometheus;
pub mod proxy;
pub mod sampler;
mod scratch;
pub mod services;
pub mod sized_images;
pub mod tls;
pub mod wait;
#[cfg(feature = "agents")]
pub mod world;

pub use children::{
    AgentLaunch, HubChild, HubTokens, Process, as_admin, hub_admin, hub_serve, node_and_admin,
    quick_hub,
};
pub use hub::{Backend, TestHub, expect_error};
pub use nvml_standin::{FakeGpu, NvmlStandin};
pub use scratch::Scratch;
pub use services::{docker, docker_ready, image, registry, required};
pub use wait::{until, until_blocking, within};
#[cfg(feature = "agents")]
pub use world::{RunningAgent, World};

use std::path::Path;

/// A TCP port on loopback that nobody listens on right now. Another program
/// could take it before the caller binds it; the race is rare on a test
/// machine.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// The last `n` lines of a text file, joined with newlines, to show what a
/// child process said before it failed.
pub fn tail(path: &Path, n: usize) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    Ok(lines[lines.len().saturating_sub(n)..].join("\n"))
}
