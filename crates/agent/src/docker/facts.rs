//! What the engine says of itself, for `gantry doctor` ([`crate::doctor`]):
//! its version, the cgroup version and driver it runs containers under, its
//! runtimes (an `nvidia` one is the NVIDIA Container Toolkit's) and the
//! folders it reads CDI device specifications from.

use super::Engine;
use crate::executor::ExecError;

/// The engine's own account of itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineFacts {
    /// The engine's version, e.g. "27.3.1".
    pub version: String,
    /// The API version it speaks, e.g. "1.47".
    pub api_version: String,
    /// "1" or "2", where the engine says.
    pub cgroup_version: Option<String>,
    /// "systemd", "cgroupfs" or "none", where the engine says.
    pub cgroup_driver: Option<String>,
    /// The runtimes it knows, by name, sorted.
    pub runtimes: Vec<String>,
    /// The folders it reads CDI specifications from; empty where CDI is off.
    pub cdi_spec_dirs: Vec<String>,
    /// Devices its drivers discovered (CDI names such as `nvidia.com/gpu=0`).
    pub devices: Vec<String>,
    /// Whether it runs rootless (its security options say so).
    pub rootless: bool,
}

impl Engine {
    /// What the engine says of itself (`docker version` and `docker info`).
    pub async fn facts(&self) -> Result<EngineFacts, ExecError> {
        let version = self.call("read the version", self.docker.version()).await?;
        let info = self.call("read its info", self.docker.info()).await?;
        let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        runtimes.sort();
        Ok(EngineFacts {
            version: version.version.unwrap_or_default(),
            api_version: version.api_version.unwrap_or_default(),
            cgroup_version: info
                .cgroup_version
                .map(|v| v.to_string())
                .filter(|v| !v.is_empty()),
            cgroup_driver: info
                .cgroup_driver
                .map(|d| d.to_string())
                .filter(|d| !d.is_empty()),
            runtimes,
            cdi_spec_dirs: info.cdi_spec_dirs.unwrap_or_default(),
            devices: info
                .discovered_devices
                .unwrap_or_default()
                .into_iter()
                .filter_map(|device| device.id)
                .collect(),
            rootless: info
                .security_options
                .unwrap_or_default()
                .iter()
                .any(|option| option.contains("name=rootless")),
        })
    }
}
