//! The image policy and the hardening of task containers through the layers
//! (flag > environment > agent.toml > default): `--allowed-images`,
//! `--pinned-images-only`, `--task-pids-limit`, `--read-only-root`,
//! `--task-network`, `--task-network-allow`. Each refusal names where the
//! value was written and what to write instead.

use gantry_protocol::image_policy::ImagePolicy;

use super::{ConfigError, Flags, Layers};
use crate::docker::hardening::{DEFAULT_PIDS_LIMIT, Hardening, TaskNetwork};

/// The image policy and hardening as the command line gave them.
#[derive(Debug, Clone, Default)]
pub struct ImageFlags {
    /// `--allowed-images PATTERN`, repeatable.
    pub allowed_images: Vec<String>,
    /// `--pinned-images-only`.
    pub pinned_images_only: bool,
    /// `--task-pids-limit N`.
    pub task_pids_limit: Option<u64>,
    /// `--read-only-root`.
    pub read_only_root: bool,
    /// `--task-network full|no-private|none`.
    pub task_network: Option<String>,
    /// `--task-network-allow CIDR`, repeatable.
    pub task_network_allow: Vec<String>,
}

impl Layers<'_> {
    /// The node's image policy; every pattern checked.
    pub(super) fn image_policy(&self, flags: &Flags) -> Result<ImagePolicy, ConfigError> {
        let f = &flags.images;
        // A blank flag is a mistake (an unset shell variable, say), not "any
        // image": saying nothing would run what the person meant to refuse.
        if f.allowed_images.iter().any(|p| p.trim().is_empty()) {
            return Err(ConfigError(
                "--allowed-images was given an empty pattern; write e.g. \
                 registry.example.com/** or nvidia/cuda, or leave the flag out to allow any image"
                    .into(),
            ));
        }
        let policy = ImagePolicy {
            allowed: self.repeated(
                f.allowed_images.clone(),
                "GANTRY_ALLOWED_IMAGES",
                self.file.allowed_images.clone(),
            ),
            pinned_only: f.pinned_images_only
                || self.boolean(
                    &["GANTRY_PINNED_IMAGES_ONLY"],
                    self.file.pinned_images_only,
                    false,
                )?,
        };
        policy.validate().map_err(|e| {
            ConfigError(format!(
                "--allowed-images (GANTRY_ALLOWED_IMAGES, allowed_images): {e}; write e.g. \
                 registry.example.com/** or nvidia/cuda"
            ))
        })?;
        Ok(policy)
    }

    /// How task containers are hardened.
    pub(super) fn hardening(&self, flags: &Flags) -> Result<Hardening, ConfigError> {
        let f = &flags.images;
        let file = &self.file;
        let pids_limit = match f.task_pids_limit {
            Some(n) => n,
            None => self.number(
                &["GANTRY_TASK_PIDS_LIMIT"],
                file.task_pids_limit,
                DEFAULT_PIDS_LIMIT,
            )?,
        };
        if (1..16).contains(&pids_limit) {
            return Err(ConfigError(format!(
                "a task pids limit of {pids_limit} leaves too few processes for an image's \
                 entrypoint; give at least 16 (default {DEFAULT_PIDS_LIMIT}), or 0 for no limit"
            )));
        }
        let network = match f
            .task_network
            .clone()
            .or_else(|| self.text(&["GANTRY_TASK_NETWORK"], file.task_network.clone()))
        {
            None => TaskNetwork::Full,
            Some(text) => TaskNetwork::parse(&text).ok_or_else(|| {
                ConfigError(format!(
                    "task network {text:?} is not known; write --task-network full, no-private or none"
                ))
            })?,
        };
        let network_allow = self.repeated(
            f.task_network_allow.clone(),
            "GANTRY_TASK_NETWORK_ALLOW",
            file.task_network_allow.clone(),
        );
        for range in &network_allow {
            if !is_ipv4_cidr(range) {
                return Err(ConfigError(format!(
                    "--task-network-allow {range}: write an IPv4 address or range, e.g. \
                     192.168.1.0/24 or 10.0.0.5"
                )));
            }
        }
        if !network_allow.is_empty() && network != TaskNetwork::NoPrivate {
            return Err(ConfigError(
                "--task-network-allow names private ranges tasks may still reach, which only \
                 --task-network no-private uses; add --task-network no-private or drop it"
                    .into(),
            ));
        }
        Ok(Hardening {
            pids_limit,
            read_only_root: f.read_only_root
                || self.boolean(&["GANTRY_READ_ONLY_ROOT"], file.read_only_root, false)?,
            network,
            network_allow,
        })
    }

    /// A repeatable setting: the flags, else the variable split at commas,
    /// else the file's list; blank entries dropped.
    fn repeated(
        &self,
        flags: Vec<String>,
        var: &'static str,
        file: Option<Vec<String>>,
    ) -> Vec<String> {
        let values = if !flags.is_empty() {
            flags
        } else if let Some((_, value)) = self.var(&[var]) {
            value.split(',').map(str::to_owned).collect()
        } else {
            file.unwrap_or_default()
        };
        values
            .into_iter()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    }
}

impl super::AgentConfig {
    /// The image policy as the hub is told it: none when the node takes any image.
    pub fn image_policy_to_send(&self) -> Option<ImagePolicy> {
        (!self.image_policy.is_open()).then(|| self.image_policy.clone())
    }
}

/// `a.b.c.d` or `a.b.c.d/n` (n up to 32).
fn is_ipv4_cidr(text: &str) -> bool {
    let (address, prefix) = text.split_once('/').unwrap_or((text, "32"));
    address.parse::<std::net::Ipv4Addr>().is_ok() && prefix.parse::<u8>().is_ok_and(|n| n <= 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConfig;
    use std::collections::HashMap;

    fn resolve(
        flags: ImageFlags,
        env: &[(&str, &str)],
        file: &str,
    ) -> Result<AgentConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, file).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AgentConfig::resolve(
            Flags {
                images: flags,
                config_file: Some(path),
                ..Flags::default()
            },
            &|name| env.get(name).cloned(),
            None,
        )
    }

    #[test]
    fn the_policy_comes_from_each_layer() {
        let config = resolve(ImageFlags::default(), &[], "").unwrap();
        assert!(config.image_policy.is_open());
        let file = "allowed_images = [\"registry.example.com/**\"]\npinned_images_only = true\n";
        let config = resolve(ImageFlags::default(), &[], file).unwrap();
        assert_eq!(config.image_policy.allowed, ["registry.example.com/**"]);
        assert!(config.image_policy.pinned_only);
        let env = [
            ("GANTRY_ALLOWED_IMAGES", "a.io/**, busybox"),
            ("GANTRY_PINNED_IMAGES_ONLY", "0"),
        ];
        let config = resolve(ImageFlags::default(), &env, file).unwrap();
        assert_eq!(config.image_policy.allowed, ["a.io/**", "busybox"]);
        assert!(!config.image_policy.pinned_only);
        let flags = ImageFlags {
            allowed_images: vec!["nvidia/*".into()],
            ..ImageFlags::default()
        };
        let config = resolve(flags, &env, file).unwrap();
        assert_eq!(config.image_policy.allowed, ["nvidia/*"]);
        let bad = resolve(
            ImageFlags::default(),
            &[("GANTRY_ALLOWED_IMAGES", "Team/X")],
            "",
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad.contains("--allowed-images") && bad.contains("lower-case"),
            "{bad}"
        );
        // A blank flag is refused; a blank variable means it is not set.
        let blank = ImageFlags {
            allowed_images: vec![" ".into()],
            ..ImageFlags::default()
        };
        let said = resolve(blank, &[], "").unwrap_err().to_string();
        assert!(said.contains("empty pattern"), "{said}");
        let config = resolve(ImageFlags::default(), &[("GANTRY_ALLOWED_IMAGES", "")], "").unwrap();
        assert!(config.image_policy.is_open());
    }

    #[test]
    fn hardening_comes_from_each_layer() {
        let config = resolve(ImageFlags::default(), &[], "").unwrap();
        assert_eq!(config.hardening, Hardening::default());
        let file = "task_pids_limit = 512\nread_only_root = true\ntask_network = \"no-private\"\n\
                    task_network_allow = [\"192.168.1.0/24\"]\n";
        let config = resolve(ImageFlags::default(), &[], file).unwrap();
        assert_eq!(config.hardening.pids_limit, 512);
        assert!(config.hardening.read_only_root);
        assert_eq!(config.hardening.network, TaskNetwork::NoPrivate);
        assert_eq!(config.hardening.network_allow, ["192.168.1.0/24"]);
        let env = [
            ("GANTRY_TASK_NETWORK", "none"),
            ("GANTRY_TASK_NETWORK_ALLOW", ""),
        ];
        let err = resolve(ImageFlags::default(), &env, file)
            .unwrap_err()
            .to_string();
        assert!(err.contains("only --task-network no-private uses"), "{err}");
        let flags = ImageFlags {
            task_network: Some("none".into()),
            task_pids_limit: Some(0),
            ..ImageFlags::default()
        };
        let config = resolve(flags, &[], "").unwrap();
        assert_eq!(config.hardening.network, TaskNetwork::None);
        assert_eq!(config.hardening.pids_limit, 0);
        for (env, words) in [
            (("GANTRY_TASK_NETWORK", "lan"), "full, no-private or none"),
            (("GANTRY_TASK_PIDS_LIMIT", "3"), "at least 16"),
            (("GANTRY_TASK_PIDS_LIMIT", "many"), "not a whole number"),
        ] {
            let err = resolve(ImageFlags::default(), &[env], "")
                .unwrap_err()
                .to_string();
            assert!(err.contains(words), "{err}");
        }
        let flags = ImageFlags {
            task_network: Some("no-private".into()),
            task_network_allow: vec!["10.0.0.0/33".into()],
            ..ImageFlags::default()
        };
        assert!(
            resolve(flags, &[], "")
                .unwrap_err()
                .to_string()
                .contains("IPv4")
        );
    }
}
