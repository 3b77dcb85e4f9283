//! The NVIDIA driver, read through NVML the way the agent reads it
//! ([`crate::monitor::Monitor`]), and the NVIDIA Container Toolkit that
//! hands GPUs to containers: its programs' versions (`nvidia-ctk`,
//! `nvidia-container-cli`, `nvidia-container-runtime`), the engine's
//! `nvidia` runtime, and CDI specifications for `nvidia.com/gpu` (in the
//! engine's CDI folders, `/etc/cdi` and `/var/run/cdi`).
//!
//! Toolkit versions with known container escapes are a warning:
//! CVE-2024-0132 (1.16.1 and earlier) and CVE-2025-23266 (1.17.7 and
//! earlier), compared as versions (a pre-release comes before its release).

use std::path::Path;
use std::time::Duration;

use gantry_protocol::wire::GpuStatus;

use super::Check;
use crate::docker::EngineFacts;
use crate::monitor::Monitor;

/// The driver check's verdict, and whether the machine has NVIDIA GPUs
/// (which makes the toolkit necessary).
#[derive(Debug, Clone)]
pub struct Driver {
    /// The `nvidia-driver` check.
    pub check: Check,
    /// NVML answered and sees at least one GPU.
    pub has_gpus: bool,
}

/// The `nvidia-driver` check: NVML loads and sees GPUs.
pub async fn driver(host_dir: &Path) -> Driver {
    let host_dir = host_dir.to_path_buf();
    let sample = tokio::task::spawn_blocking(move || Monitor::new(&host_dir).sample()).await;
    let Ok(info) = sample else {
        return Driver {
            check: Check::warning(
                "nvidia-driver",
                "reading NVML stopped short",
                "run gantry doctor again",
            ),
            has_gpus: false,
        };
    };
    judge_driver(&info.gpu_status, &info.gpus, &info.extra)
}

fn judge_driver(
    status: &GpuStatus,
    gpus: &[gantry_protocol::wire::GpuInfo],
    versions: &std::collections::BTreeMap<String, String>,
) -> Driver {
    const NAME: &str = "nvidia-driver";
    match status {
        GpuStatus::Available => {
            let mut names: Vec<&str> = gpus.iter().map(|g| g.name.as_str()).collect();
            names.dedup();
            Driver {
                check: Check::ok(
                    NAME,
                    format!(
                        "NVIDIA driver {}{}: {} GPU{} ({})",
                        versions.get("nvidia_driver").map_or("?", String::as_str),
                        versions
                            .get("cuda_driver")
                            .map(|v| format!(" (CUDA {v})"))
                            .unwrap_or_default(),
                        gpus.len(),
                        if gpus.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ),
                ),
                has_gpus: true,
            }
        }
        GpuStatus::NoDriver => Driver {
            check: Check::ok(
                NAME,
                "no NVIDIA driver (NVML is not installed): this node takes tasks that need no GPU",
            ),
            has_gpus: false,
        },
        GpuStatus::NoGpu => Driver {
            check: Check::warning(
                NAME,
                format!(
                    "the NVIDIA driver {} loads but sees no GPU",
                    versions.get("nvidia_driver").map_or("", String::as_str)
                ),
                "check `nvidia-smi`; a GPU that fell off the bus needs a reboot, and a driver \
                 without a GPU can be removed",
            ),
            has_gpus: false,
        },
        GpuStatus::Error { message } => Driver {
            check: Check::failure(
                NAME,
                format!("NVML is installed but fails: {message}"),
                "make `nvidia-smi` work on this machine (install or reload the driver, reboot \
                 after an update); until then GPU tasks cannot run here",
            ),
            has_gpus: false,
        },
    }
}

/// A toolkit version: major, minor, patch, and whether it is a pre-release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolkitVersion {
    /// As written, e.g. "1.17.0-rc.1".
    pub text: String,
    numbers: (u64, u64, u64),
    pre_release: bool,
}

impl ToolkitVersion {
    /// The first `X.Y.Z[-pre]` in `text` (a program's `--version` output).
    pub fn find(text: &str) -> Option<ToolkitVersion> {
        text.split(|c: char| c.is_whitespace() || c == ',' || c == '"')
            .map(|word| word.trim_start_matches('v'))
            .find_map(ToolkitVersion::parse)
    }

    fn parse(word: &str) -> Option<ToolkitVersion> {
        let (core, pre) = match word.split_once(['-', '+']) {
            Some((core, rest)) => (
                core,
                word[core.len()..].starts_with('-') && !rest.is_empty(),
            ),
            None => (word, false),
        };
        let mut parts = core.split('.').map(|p| p.parse::<u64>());
        let numbers = (
            parts.next()?.ok()?,
            parts.next()?.ok()?,
            parts.next()?.ok()?,
        );
        if parts.next().is_some() {
            return None;
        }
        Some(ToolkitVersion {
            text: word.to_owned(),
            numbers,
            pre_release: pre,
        })
    }

    /// Whether this version is at most `last` (a release): a pre-release
    /// of `last` counts as before it.
    fn at_most(&self, last: (u64, u64, u64)) -> bool {
        self.numbers <= last
    }

    /// The known container escapes this version has (CVE names).
    pub fn escapes(&self) -> Vec<&'static str> {
        ESCAPES
            .iter()
            .filter(|(_, last)| self.at_most(*last))
            .map(|(cve, _)| *cve)
            .collect()
    }
}

impl PartialOrd for ToolkitVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ToolkitVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // A pre-release comes before its release.
        (self.numbers, !self.pre_release).cmp(&(other.numbers, !other.pre_release))
    }
}

/// Known container escapes and the last toolkit release each affects.
const ESCAPES: &[(&str, (u64, u64, u64))] = &[
    ("CVE-2024-0132", (1, 16, 1)),
    ("CVE-2025-23266", (1, 17, 7)),
];

/// The toolkit's programs, asked for their versions.
const PROGRAMS: &[&str] = &[
    "nvidia-ctk",
    "nvidia-container-cli",
    "nvidia-container-runtime",
];

/// The toolkit as found on this machine and in the engine.
#[derive(Debug, Clone, Default)]
struct Toolkit {
    /// (program, version) of each program that answered.
    programs: Vec<(&'static str, ToolkitVersion)>,
    /// The engine has an `nvidia` runtime.
    runtime: bool,
    /// CDI specification files that name `nvidia.com/gpu`.
    cdi_specs: Vec<String>,
}

/// The `nvidia-toolkit` check.
pub async fn toolkit(driver: &Driver, facts: Option<&EngineFacts>) -> Check {
    let mut found = Toolkit::default();
    for program in PROGRAMS {
        if let Some(version) = program_version(program).await {
            found.programs.push((program, version));
        }
    }
    found.runtime = facts.is_some_and(|f| f.runtimes.iter().any(|r| r.starts_with("nvidia")));
    let mut dirs: Vec<String> = facts.map(|f| f.cdi_spec_dirs.clone()).unwrap_or_default();
    for dir in ["/etc/cdi", "/var/run/cdi"] {
        if !dirs.iter().any(|d| d == dir) {
            dirs.push(dir.to_owned());
        }
    }
    found.cdi_specs = nvidia_cdi_specs(&dirs);
    judge_toolkit(driver.has_gpus, &found)
}

/// Runs `program --version` (5 s at most); its version, when it has one.
async fn program_version(program: &str) -> Option<ToolkitVersion> {
    let run = tokio::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .ok()?
        .ok()?;
    ToolkitVersion::find(&String::from_utf8_lossy(&output.stdout))
        .or_else(|| ToolkitVersion::find(&String::from_utf8_lossy(&output.stderr)))
}

/// The CDI specification files in `dirs` that name NVIDIA GPUs.
fn nvidia_cdi_specs(dirs: &[String]) -> Vec<String> {
    let mut specs = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let spec = path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
            if spec
                && std::fs::read_to_string(&path).is_ok_and(|text| text.contains("nvidia.com/gpu"))
            {
                specs.push(path.display().to_string());
            }
        }
    }
    specs
}

fn judge_toolkit(has_gpus: bool, found: &Toolkit) -> Check {
    const NAME: &str = "nvidia-toolkit";
    let lowest = found.programs.iter().min_by(|a, b| a.1.cmp(&b.1));
    let mut parts = Vec::new();
    if let Some((program, version)) = lowest {
        parts.push(format!("{program} {}", version.text));
    }
    if found.runtime {
        parts.push("the engine's nvidia runtime".to_owned());
    }
    if !found.cdi_specs.is_empty() {
        parts.push(format!("CDI specs {}", found.cdi_specs.join(", ")));
    }
    if let Some((program, version)) = lowest {
        let escapes = version.escapes();
        if !escapes.is_empty() {
            return Check::warning(
                NAME,
                format!(
                    "the NVIDIA Container Toolkit is {} ({program}), which has known container \
                     escapes: {}",
                    version.text,
                    escapes.join(", ")
                ),
                "update the NVIDIA Container Toolkit to 1.17.8 or later (your distribution's \
                 nvidia-container-toolkit package)",
            );
        }
    }
    match (has_gpus, parts.is_empty()) {
        (_, false) if lowest.is_some() => Check::ok(
            NAME,
            format!("the NVIDIA Container Toolkit is here: {}", parts.join("; ")),
        ),
        (true, false) => Check::warning(
            NAME,
            format!(
                "the NVIDIA Container Toolkit is set up ({}), but none of its programs told \
                 its version, so known escapes cannot be ruled out",
                parts.join("; ")
            ),
            "put nvidia-ctk on the PATH (it comes with the toolkit) and run gantry doctor again",
        ),
        (false, _) => Check::ok(
            NAME,
            "not needed: no NVIDIA GPU here, and no NVIDIA Container Toolkit found",
        ),
        (true, true) => Check::failure(
            NAME,
            "this machine has NVIDIA GPUs but no NVIDIA Container Toolkit (no nvidia-ctk or \
             nvidia-container-cli, no nvidia runtime in Docker, no CDI spec for nvidia.com/gpu), \
             so tasks cannot be given a GPU",
            "install the NVIDIA Container Toolkit (1.17.8 or later) and run \
             `sudo nvidia-ctk runtime configure --runtime=docker`, then restart Docker",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn version(text: &str) -> ToolkitVersion {
        ToolkitVersion::find(text).unwrap()
    }

    #[test]
    fn versions_are_found_in_the_programs_words() {
        assert_eq!(
            version("NVIDIA Container Toolkit CLI version 1.17.8\ncommit: 0a1b2c").text,
            "1.17.8"
        );
        assert_eq!(
            version("cli-version: 1.16.1\nlib-version: 1.16.1\nbuild date: 2024-09-01").text,
            "1.16.1"
        );
        assert_eq!(version("version v1.18.0-rc.1").text, "1.18.0-rc.1");
        assert!(ToolkitVersion::find("no version here, 1.2 or 2024-09-01").is_none());
    }

    #[test]
    fn versions_compare_as_numbers_with_pre_releases_first() {
        assert!(version("1.9.0") < version("1.10.0"));
        assert!(version("1.16.10") > version("1.16.2"));
        assert!(version("1.17.0-rc.1") < version("1.17.0"));
        assert!(version("1.17.8") > version("1.17.7"));
    }

    #[test]
    fn the_known_escapes_stop_at_their_fixed_releases() {
        let escapes = |text: &str| version(text).escapes();
        assert_eq!(escapes("1.14.6"), ["CVE-2024-0132", "CVE-2025-23266"]);
        assert_eq!(escapes("1.16.1"), ["CVE-2024-0132", "CVE-2025-23266"]);
        assert_eq!(escapes("1.16.2"), ["CVE-2025-23266"]);
        // 1.16.10 is after 1.16.1, not before it (no string comparison).
        assert_eq!(escapes("1.16.10"), ["CVE-2025-23266"]);
        assert_eq!(escapes("1.17.0-rc.1"), ["CVE-2025-23266"]);
        assert_eq!(escapes("1.17.7"), ["CVE-2025-23266"]);
        assert!(escapes("1.17.8").is_empty());
        assert!(escapes("1.18.0-rc.1").is_empty());
        assert!(escapes("2.0.0").is_empty());
    }

    #[test]
    fn the_toolkit_verdicts() {
        let with = |program_version: Option<&str>, runtime: bool| Toolkit {
            programs: program_version
                .map(|v| vec![("nvidia-ctk", version(v))])
                .unwrap_or_default(),
            runtime,
            cdi_specs: Vec::new(),
        };
        let old = judge_toolkit(true, &with(Some("1.16.1"), true));
        assert_eq!(old.status, Status::Warning);
        assert!(
            old.message.contains("CVE-2024-0132") && old.message.contains("CVE-2025-23266"),
            "{old:?}"
        );
        // A vulnerable toolkit is a warning even where no GPU is seen.
        assert_eq!(
            judge_toolkit(false, &with(Some("1.17.7"), false)).status,
            Status::Warning
        );
        assert_eq!(
            judge_toolkit(true, &with(Some("1.17.8"), true)).status,
            Status::Ok
        );
        assert_eq!(
            judge_toolkit(true, &with(None, true)).status,
            Status::Warning
        );
        assert_eq!(
            judge_toolkit(true, &with(None, false)).status,
            Status::Failure
        );
        assert_eq!(judge_toolkit(false, &with(None, false)).status, Status::Ok);
    }

    #[test]
    fn the_driver_verdicts() {
        let versions = [("nvidia_driver".to_owned(), "550.54".to_owned())]
            .into_iter()
            .collect();
        let gpu = gantry_protocol::wire::GpuInfo {
            name: "RTX 4090".into(),
            ..Default::default()
        };
        let ok = judge_driver(&GpuStatus::Available, &[gpu], &versions);
        assert!(ok.has_gpus);
        assert_eq!(ok.check.status, Status::Ok);
        assert!(ok.check.message.contains("550.54") && ok.check.message.contains("RTX 4090"));
        let none = judge_driver(&GpuStatus::NoDriver, &[], &versions);
        assert_eq!((none.check.status, none.has_gpus), (Status::Ok, false));
        assert_eq!(
            judge_driver(&GpuStatus::NoGpu, &[], &versions).check.status,
            Status::Warning
        );
        let broken = GpuStatus::Error {
            message: "Unknown Error".into(),
        };
        assert_eq!(
            judge_driver(&broken, &[], &versions).check.status,
            Status::Failure
        );
    }
}
