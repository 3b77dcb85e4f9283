//! The Docker engine and the cgroups it runs containers in.
//!
//! Pausing a task (`gantry task pause`, a freeze when the node yields)
//! is `docker pause`, which the kernel's cgroup freezer carries out: on
//! cgroup v2 each cgroup has a `cgroup.freeze` file (Linux 5.2 and later);
//! on v1 the `freezer` controller must be mounted. The engine says which
//! version it uses (`docker info`'s CgroupVersion); the files under
//! `/sys/fs/cgroup` say whether the freezer is there, when the engine runs
//! on this machine (a `unix://` socket).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Check;
use crate::docker::{Engine, EngineFacts};
use crate::executor::ExecError;

/// The engine's address as the agent would use it: `docker_host` (the
/// agent's setting), else DOCKER_HOST, else the standard socket.
pub fn address(docker_host: Option<&str>) -> String {
    docker_host
        .map(str::to_owned)
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned())
}

/// Connects to the engine at `at` (an [`address`]) and reads what it says
/// of itself, each call bounded by `call_timeout`.
pub async fn connect(at: &str, call_timeout: Duration) -> Result<EngineFacts, ExecError> {
    let engine = Engine::connect(Some(at), call_timeout).await?;
    engine.facts().await
}

/// The `docker` check: the engine answers, and its version.
pub fn docker(at: &str, facts: &Result<EngineFacts, ExecError>) -> Check {
    match facts {
        Ok(facts) => Check::ok(
            "docker",
            format!(
                "Docker {} (API {}) answers at {at}{}",
                facts.version,
                facts.api_version,
                if facts.rootless { ", rootless" } else { "" }
            ),
        ),
        Err(error) => Check::failure(
            "docker",
            // The error's first clause; its advice is the fix below.
            format!(
                "Docker does not answer at {at}: {}",
                error.to_string().split("; ").next().unwrap_or_default()
            ),
            "start Docker (e.g. sudo systemctl start docker), make sure your user may use it \
             (the docker group), or point DOCKER_HOST at the engine; tasks that run \
             `executor: process` still work without it",
        ),
    }
}

/// The cgroup hierarchy as this machine's `/sys/fs/cgroup` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2 only (the unified hierarchy at the root).
    V2,
    /// v1 controllers, with v2 beside them at `unified/` (hybrid).
    Hybrid,
    /// v1 controllers only.
    V1,
    /// No cgroup file system found.
    Unknown,
}

/// What the cgroup file system says, read from `root` (`/sys/fs/cgroup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupFiles {
    /// Which hierarchy is mounted.
    pub hierarchy: Hierarchy,
    /// Whether the freezer the engine would use is there: `cgroup.freeze`
    /// files on v2, the mounted `freezer` controller on v1 and hybrid.
    pub freezer: bool,
}

/// Reads the cgroup file system under `root`; `own` is this process's
/// `/proc/self/cgroup`, which names its own v2 cgroup (the root cgroup has
/// no `cgroup.freeze`, so the freezer is looked for below it).
pub fn read_cgroups(root: &Path, own: &str) -> CgroupFiles {
    if root.join("cgroup.controllers").is_file() {
        let own_dir = own
            .lines()
            .find_map(|line| line.strip_prefix("0::"))
            .map(|path| root.join(path.trim_start_matches('/')))
            .filter(|dir| dir != root);
        // In a container with its own cgroup namespace the root shown is
        // itself a child cgroup, with its own cgroup.freeze.
        let freezer = std::iter::once(root.to_path_buf())
            .chain(own_dir)
            .chain(child_dirs(root))
            .any(|dir| dir.join("cgroup.freeze").is_file());
        return CgroupFiles {
            hierarchy: Hierarchy::V2,
            freezer,
        };
    }
    let freezer = root.join("freezer").join("cgroup.procs").is_file();
    let hierarchy = if root.join("unified").join("cgroup.controllers").is_file() {
        Hierarchy::Hybrid
    } else if root.is_dir() && child_dirs(root).next().is_some() {
        Hierarchy::V1
    } else {
        Hierarchy::Unknown
    };
    CgroupFiles { hierarchy, freezer }
}

fn child_dirs(root: &Path) -> impl Iterator<Item = PathBuf> {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
}

/// The `cgroup` check: cgroup v2, and the freezer pause needs.
pub fn cgroup(at: &str, facts: &Result<EngineFacts, ExecError>) -> Check {
    let local = at.starts_with("unix://");
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let files = read_cgroups(Path::new("/sys/fs/cgroup"), &own);
    judge_cgroup(facts.as_ref().ok(), local.then_some(files))
}

/// The verdict from what the engine says and, when it runs here, the files.
pub fn judge_cgroup(facts: Option<&EngineFacts>, files: Option<CgroupFiles>) -> Check {
    const NAME: &str = "cgroup";
    let engine_version = facts.and_then(|f| f.cgroup_version.clone());
    let driver = facts
        .and_then(|f| f.cgroup_driver.clone())
        .map(|d| format!(", {d} driver"))
        .unwrap_or_default();
    let v2 = match (&engine_version, files) {
        (Some(version), _) => version == "2",
        (None, Some(files)) => files.hierarchy == Hierarchy::V2,
        (None, None) => {
            return Check::warning(
                NAME,
                "cannot tell which cgroup version containers run under: the engine does not say, \
                 and it does not run on this machine",
                "run gantry doctor on the engine's machine, or start Docker so it can be asked",
            );
        }
    };
    let said_by = if engine_version.is_some() {
        "the engine runs containers under"
    } else {
        "this machine mounts"
    };
    match (v2, files.map(|f| f.freezer)) {
        (_, Some(false)) if files.is_some_and(|f| f.hierarchy == Hierarchy::Unknown) => {
            Check::warning(
                NAME,
                format!(
                    "{said_by} cgroup v{}{driver}, but /sys/fs/cgroup shows no cgroup file system, \
                     so the freezer cannot be checked",
                    if v2 { 2 } else { 1 }
                ),
                "run gantry doctor where /sys/fs/cgroup is visible (not in a container)",
            )
        }
        (true, Some(true)) => Check::ok(
            NAME,
            format!(
                "{said_by} cgroup v2{driver}, and the freezer is there, so tasks can be paused"
            ),
        ),
        (true, Some(false)) => Check::failure(
            NAME,
            format!(
                "{said_by} cgroup v2{driver}, but no cgroup has a cgroup.freeze file: this kernel \
                 has no v2 freezer, so pausing a task (and freezing it when the node yields) fails"
            ),
            "update the kernel to Linux 5.2 or later",
        ),
        (true, None) => Check::ok(
            NAME,
            format!(
                "{said_by} cgroup v2{driver} (the engine is on another machine: its freezer \
                 is not checked from here)"
            ),
        ),
        (false, Some(true)) | (false, None) => Check::warning(
            NAME,
            format!(
                "{said_by} cgroup v1{driver}; pausing works through the v1 freezer{}, but Docker \
                 and systemd are retiring cgroup v1",
                if files.is_some() {
                    ""
                } else {
                    " (not checked from here)"
                }
            ),
            "switch the machine to cgroup v2 (boot with systemd.unified_cgroup_hierarchy=1, \
             the default of current distributions)",
        ),
        (false, Some(false)) => Check::failure(
            NAME,
            format!(
                "{said_by} cgroup v1{driver}, and the freezer controller is not mounted, so \
                 pausing a task (and freezing it when the node yields) fails"
            ),
            "switch the machine to cgroup v2 (systemd.unified_cgroup_hierarchy=1), or mount the \
             v1 freezer controller at /sys/fs/cgroup/freezer",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    #[test]
    fn the_hierarchy_and_the_freezer_are_read_from_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(read_cgroups(root, "").hierarchy, Hierarchy::Unknown);
        // v2, the process in a cgroup with cgroup.freeze.
        touch(&root.join("cgroup.controllers"));
        touch(&root.join("user.slice/session-1.scope/cgroup.procs"));
        let own = "0::/user.slice/session-1.scope\n";
        assert_eq!(
            read_cgroups(root, own),
            CgroupFiles {
                hierarchy: Hierarchy::V2,
                freezer: false
            }
        );
        touch(&root.join("user.slice/session-1.scope/cgroup.freeze"));
        assert!(read_cgroups(root, own).freezer);
        // A container's namespace: the root shown has cgroup.freeze itself.
        let dir = tempfile::tempdir().unwrap();
        touch(&dir.path().join("cgroup.controllers"));
        assert!(!read_cgroups(dir.path(), "0::/\n").freezer);
        touch(&dir.path().join("cgroup.freeze"));
        assert!(read_cgroups(dir.path(), "0::/\n").freezer);
        // Hybrid: v1 controllers with v2 at unified/.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(&root.join("unified/cgroup.controllers"));
        touch(&root.join("memory/cgroup.procs"));
        assert_eq!(
            read_cgroups(root, ""),
            CgroupFiles {
                hierarchy: Hierarchy::Hybrid,
                freezer: false
            }
        );
        touch(&root.join("freezer/cgroup.procs"));
        assert!(read_cgroups(root, "").freezer);
    }

    #[test]
    fn v2_with_its_freezer_is_ok_v1_a_warning_no_freezer_a_failure() {
        let engine = |version: &str| EngineFacts {
            cgroup_version: Some(version.to_owned()),
            cgroup_driver: Some("systemd".to_owned()),
            ..EngineFacts::default()
        };
        let files = |hierarchy, freezer| Some(CgroupFiles { hierarchy, freezer });
        let status = |facts: Option<&EngineFacts>, files| judge_cgroup(facts, files).status;
        assert_eq!(
            status(Some(&engine("2")), files(Hierarchy::V2, true)),
            Status::Ok
        );
        assert_eq!(
            status(Some(&engine("2")), files(Hierarchy::V2, false)),
            Status::Failure
        );
        assert_eq!(status(Some(&engine("2")), None), Status::Ok);
        assert_eq!(
            status(Some(&engine("1")), files(Hierarchy::Hybrid, true)),
            Status::Warning
        );
        assert_eq!(
            status(Some(&engine("1")), files(Hierarchy::V1, false)),
            Status::Failure
        );
        assert_eq!(status(None, files(Hierarchy::V2, true)), Status::Ok);
        assert_eq!(status(None, None), Status::Warning);
        let check = judge_cgroup(Some(&engine("2")), files(Hierarchy::V2, false));
        assert!(check.message.contains("systemd driver"), "{check:?}");
        assert!(check.fix.contains("5.2"), "{check:?}");
    }
}
