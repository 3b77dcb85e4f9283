//! The image policy and task-container hardening flags of `gantry agent start`
//! (and `gantry service install`, which writes them into the unit's command line).

use clap::Args;
use gantry_agent::config::ImageFlags;

use crate::agent_args::Words;

/// Which images this node runs, and how their containers are locked down.
/// Each flag also reads its GANTRY_ variable and agent.toml key.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct ImageArgs {
    /// Run only images matching PATTERN (repeatable): a name as Docker reads
    /// it (`busybox` is docker.io/library/busybox), where `*` matches within a
    /// path segment and `**` across segments, e.g. registry.example.com/**;
    /// a pattern with a tag or digest matches only that. Other tasks fail
    /// before any pull, and the hub stops offering them to this node [env:
    /// GANTRY_ALLOWED_IMAGES, comma-separated; agent.toml: allowed_images =
    /// ["registry.example.com/**"]].
    #[arg(long = "allowed-images", value_name = "PATTERN")]
    allowed_images: Vec<String>,
    /// Run only images pinned by digest (name@sha256:<64 hex digits>) [env:
    /// GANTRY_PINNED_IMAGES_ONLY=1; agent.toml: pinned_images_only = true].
    #[arg(long)]
    pinned_images_only: bool,
    /// At most N processes in a task container; 0: no limit. Does not apply
    /// to executor: process tasks [env: GANTRY_TASK_PIDS_LIMIT; agent.toml:
    /// task_pids_limit; default: 4096].
    #[arg(long, value_name = "N")]
    task_pids_limit: Option<u64>,
    /// Mount task containers' root file system read-only; /tmp (a tmpfs) and
    /// the task folder stay writable; services are spared. Does not apply to
    /// executor: process tasks [env: GANTRY_READ_ONLY_ROOT=1; agent.toml:
    /// read_only_root = true].
    #[arg(long)]
    read_only_root: bool,
    /// What task containers may reach: full (as Docker gives), no-private (the
    /// internet and the hub, not this machine nor its private networks; needs
    /// root for iptables rules) or none. Does not apply to executor: process
    /// tasks [env: GANTRY_TASK_NETWORK; agent.toml: task_network; default: full].
    #[arg(long, value_name = "full|no-private|none")]
    task_network: Option<String>,
    /// With --task-network no-private: an IPv4 range (CIDR) or address tasks
    /// may still reach, e.g. a DNS server or a data store on the LAN
    /// (repeatable) [env: GANTRY_TASK_NETWORK_ALLOW, comma-separated;
    /// agent.toml: task_network_allow = ["192.168.1.53"]].
    #[arg(long = "task-network-allow", value_name = "CIDR")]
    task_network_allow: Vec<String>,
}

impl ImageArgs {
    /// As the agent's config layer takes them.
    pub fn into_flags(self) -> ImageFlags {
        ImageFlags {
            allowed_images: self.allowed_images,
            pinned_images_only: self.pinned_images_only,
            task_pids_limit: self.task_pids_limit,
            read_only_root: self.read_only_root,
            task_network: self.task_network,
            task_network_allow: self.task_network_allow,
        }
    }

    /// The same flags as command-line words, for a service's unit.
    pub fn words(&self) -> Vec<String> {
        Words::default()
            .each("--allowed-images", &self.allowed_images)
            .switch("--pinned-images-only", self.pinned_images_only)
            .value("--task-pids-limit", self.task_pids_limit)
            .switch("--read-only-root", self.read_only_root)
            .value("--task-network", self.task_network.as_ref())
            .each("--task-network-allow", &self.task_network_allow)
            .done()
    }
}
