//! The `docker` executor, through bollard. This is the only module that knows
//! bollard or the Docker API.
//!
//! A task's main container is attached *before* it starts, as `docker run`
//! does, so not one byte of its output is missed; the attach stream carries
//! stdout and stderr exactly as written. Containers are labelled with the task
//! and node (never the token), run with `no-new-privileges`, never privileged,
//! without the Docker socket, with an init process and a bounded log driver.
//!
//! This file holds the types the rest of the agent names; [`Engine`]'s
//! methods live with their concern: `engine` (connecting, bounded calls,
//! waiting for a lost engine, error classification), `image` (pulls),
//! `container` (create, start beside, stop, remove), `watch` (a container
//! watched to its end), `output` (where its output comes from: the attach
//! stream or the engine's log, re-read with `reread`'s ledger) and `usage`
//! (the containers listed with their CPU and memory). `hardening` says how
//! task containers are locked down (capabilities, pids, read-only root, the
//! network) and `no_private` holds the firewall rules of `--task-network no-private`.

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;
use gantry_protocol::job::Resources;

use crate::executor::Command;

mod container;
mod cpu;
mod engine;
mod facts;
pub mod hardening;
mod image;
mod image_store;
pub mod no_private;
mod output;
mod release;
mod reread;
mod usage;
mod watch;

pub use facts::EngineFacts;
pub use image::registry_of;
pub use image_store::ImageFacts;
pub use usage::ContainerUse;
pub use watch::Found;

/// Label naming the task a container belongs to.
pub const LABEL_TASK: &str = "gantry.task";
/// Label naming the node that runs it.
pub const LABEL_NODE: &str = "gantry.node";
/// Label saying what the container is for: `main`, `epilogue` or `service`.
pub const LABEL_ROLE: &str = "gantry.role";
/// Label naming the agent (one per host dir) that made the container: two
/// agents on one engine, even with one node name, never touch each other's.
pub const LABEL_AGENT: &str = "gantry.agent";

/// Where containers mount the task's folder, and their working directory.
pub const TASK_MOUNT: &str = "/task";

/// A login for one registry (DOCKER_REGISTRY / DOCKER_LOGIN / DOCKER_PASSWORD).
#[derive(Clone)]
pub struct RegistryLogin {
    /// The registry's host, e.g. `registry.example.com:5000`.
    pub registry: String,
    /// The user name.
    pub login: String,
    /// The password; never printed.
    pub password: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RegistryLogin {{ registry: {:?}, login: {:?}, password: *** }}",
            self.registry, self.login
        )
    }
}

/// A container to run for a task.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    /// The task's id.
    pub task_id: String,
    /// The node's name, for the label.
    pub node: String,
    /// `main`, `epilogue` or `service`.
    pub role: &'static str,
    /// The container's name.
    pub name: String,
    /// The image.
    pub image: String,
    /// The command, environment, working folder and timeout.
    pub command: Command,
    /// Blobs mounted read-only: (file on this machine, path relative to the task folder).
    pub inputs: Vec<(PathBuf, String)>,
    /// Limits and devices.
    pub resources: Resources,
    /// The UUIDs of the GPUs the agent gave the task: the container's
    /// device request names exactly these.
    pub gpu_ids: Vec<String>,
    /// The task's private network, when it has services.
    pub network: Option<String>,
    /// Host names the container answers to on that network.
    pub aliases: Vec<String>,
    /// `name:address` lines added to the container's /etc/hosts.
    pub extra_hosts: Vec<String>,
}

/// A connection to the Docker engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    call_timeout: Duration,
    agent: Option<String>,
    /// How task containers are hardened ([`hardening`]).
    hardening: hardening::Hardening,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let login = RegistryLogin {
            registry: "r".into(),
            login: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }
}
