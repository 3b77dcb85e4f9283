//! How task containers are hardened beyond Docker's defaults, and why each
//! setting is what it is.
//!
//! Every task container (the task's, its epilogue's and its services') runs:
//! - with every capability dropped and only [`CAPS_ADDED_BACK`] given back:
//!   what a root entrypoint of an ordinary image does (chown its data, read a
//!   folder another user owns, drop to a user with su/gosu, apt's `_apt`
//!   sandbox user, tini signalling a child that runs as another user). Docker's
//!   default set also gives NET_RAW (raw sockets: ping, ARP spoofing on the
//!   bridge), MKNOD, SETFCAP, SETPCAP, SYS_CHROOT, AUDIT_WRITE, FSETID and
//!   NET_BIND_SERVICE (not needed: Docker lets a container bind ports below
//!   1024 without it, by `net.ipv4.ip_unprivileged_port_start=0`);
//! - with a pids limit ([`Hardening::pids_limit`]), so a fork bomb stops at
//!   it instead of taking the machine;
//! - optionally with a read-only root file system (the task's and the
//!   epilogue's containers: a service such as a database writes into its
//!   image's folders), with a writable tmpfs at `/tmp` and the task folder
//!   still writable;
//! - on the network the node chose ([`TaskNetwork`]).
//!
//! `no-new-privileges`, no privileged mode and no Docker socket were there before.

use std::collections::HashMap;

use bollard::models::HostConfig;

/// The capabilities given back after dropping all (see the module docs).
pub const CAPS_ADDED_BACK: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "SETUID",
    "SETGID",
    "KILL",
];

/// The default pids limit of a task container.
pub const DEFAULT_PIDS_LIMIT: u64 = 4096;

/// Where the writable tmpfs of a read-only root goes.
pub const TMPFS_PATH: &str = "/tmp";

/// The Docker network tasks without services join under `no-private`.
pub const NO_PRIVATE_NETWORK: &str = "gantry-no-private";

/// The prefix of the bridge interfaces of `no-private` networks; the
/// firewall rules match it (`gantryp+`), so they hold for every such network.
pub const NO_PRIVATE_BRIDGE_PREFIX: &str = "gantryp";

/// What a task's containers may reach (`--task-network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TaskNetwork {
    /// Docker's bridge, as before: everything the machine reaches.
    #[default]
    Full,
    /// The internet, but none of the machine's private networks (RFC 1918,
    /// link-local, CGNAT, the machine itself) except the hub's host and the
    /// ranges allowed (`--task-network-allow`).
    NoPrivate,
    /// No network: a task alone gets none at all; a task with services
    /// reaches them on an internal network that leads nowhere else.
    None,
}

impl TaskNetwork {
    /// Reads `full`, `no-private` or `none`.
    pub fn parse(text: &str) -> Option<TaskNetwork> {
        match text.trim() {
            "full" => Some(TaskNetwork::Full),
            "no-private" => Some(TaskNetwork::NoPrivate),
            "none" => Some(TaskNetwork::None),
            _ => None,
        }
    }

    /// As written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskNetwork::Full => "full",
            TaskNetwork::NoPrivate => "no-private",
            TaskNetwork::None => "none",
        }
    }
}

/// The hardening settings of a node's task containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardening {
    /// At most this many processes in one container; 0: no limit.
    pub pids_limit: u64,
    /// Mount the root file system read-only (`--read-only-root`).
    pub read_only_root: bool,
    /// What the containers may reach (`--task-network`).
    pub network: TaskNetwork,
    /// Private ranges (CIDR) still reachable under `no-private`
    /// (`--task-network-allow`), besides the hub's host.
    pub network_allow: Vec<String>,
}

impl Default for Hardening {
    fn default() -> Hardening {
        Hardening {
            pids_limit: DEFAULT_PIDS_LIMIT,
            read_only_root: false,
            network: TaskNetwork::Full,
            network_allow: Vec::new(),
        }
    }
}

impl Hardening {
    /// Sets the capability, pids and (for the task's own containers, `role`
    /// `main` or `epilogue`) root file system settings on `host`.
    pub fn apply(&self, host: &mut HostConfig, role: &str) {
        host.cap_drop = Some(vec!["ALL".to_owned()]);
        host.cap_add = Some(CAPS_ADDED_BACK.iter().map(|c| (*c).to_owned()).collect());
        if self.pids_limit > 0 {
            host.pids_limit = Some(self.pids_limit.min(i64::MAX as u64) as i64);
        }
        if self.read_only_root && role != "service" {
            host.readonly_rootfs = Some(true);
            host.tmpfs = Some(HashMap::from([(
                TMPFS_PATH.to_owned(),
                "rw,nosuid,nodev,mode=1777".to_owned(),
            )]));
        }
    }

    /// The network a container without a task network joins: `None` for
    /// Docker's default bridge.
    pub fn default_network(&self) -> Option<&'static str> {
        match self.network {
            TaskNetwork::Full => None,
            TaskNetwork::NoPrivate => Some(NO_PRIVATE_NETWORK),
            TaskNetwork::None => Some("none"),
        }
    }
}

/// The bridge interface of a `no-private` network: the prefix the firewall
/// rules match and 8 hex digits of `name` (15 characters, Linux's limit).
pub fn no_private_bridge(name: &str) -> String {
    // FNV-1a: stable across runs and versions, unlike std's hasher.
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{NO_PRIVATE_BRIDGE_PREFIX}{hash:08x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_drop_caps_and_limit_pids() {
        let mut host = HostConfig::default();
        Hardening::default().apply(&mut host, "main");
        assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_owned()][..]));
        assert!(
            !host
                .cap_add
                .as_ref()
                .unwrap()
                .contains(&"NET_RAW".to_owned())
        );
        assert_eq!(host.pids_limit, Some(4096));
        assert_eq!(host.readonly_rootfs, None);
    }

    #[test]
    fn read_only_root_spares_services() {
        let hardening = Hardening {
            read_only_root: true,
            pids_limit: 0,
            ..Hardening::default()
        };
        let mut main = HostConfig::default();
        hardening.apply(&mut main, "main");
        assert_eq!(main.readonly_rootfs, Some(true));
        assert!(main.tmpfs.as_ref().unwrap().contains_key("/tmp"));
        assert_eq!(main.pids_limit, None, "0 is no limit");
        let mut service = HostConfig::default();
        hardening.apply(&mut service, "service");
        assert_eq!(service.readonly_rootfs, None);
    }

    #[test]
    fn bridges_fit_linux_names() {
        let bridge = no_private_bridge("gantry-0193f2a4-7b1c-7d2e-9f00-123456789abc");
        assert_eq!(bridge.len(), 15);
        assert!(bridge.starts_with(NO_PRIVATE_BRIDGE_PREFIX));
        assert_ne!(bridge, no_private_bridge("gantry-other"));
        assert_eq!(
            TaskNetwork::parse("no-private"),
            Some(TaskNetwork::NoPrivate)
        );
        assert_eq!(TaskNetwork::parse("lan"), None);
    }
}
