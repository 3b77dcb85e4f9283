//! The system monitor: what the agent reports about its machine.
//!
//! [`Monitor`] samples the CPU, memory, the disk that holds the agent's host
//! folder, and the NVIDIA GPUs, and fills the [`SystemInfo`] the agent sends
//! to the hub when it registers and with its heartbeats.
//!
//! GPUs are read through NVML, the library that ships with the NVIDIA driver.
//! Most machines that run an agent have no such driver, so a missing library
//! is a normal state ([`GpuStatus::NoDriver`]), never an error.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use gantry_protocol::wire::{CpuInfo, DiskInfo, GpuInfo, GpuStatus, MemoryInfo, SystemInfo};
use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::error::NvmlError;
use sysinfo::{Disks, MemoryRefreshKind, System};

/// One NVIDIA GPU as the agent needs it to give GPUs out and to step aside:
/// its free memory, its temperature and who uses it, as of now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuDevice {
    /// NVML's index.
    pub index: u32,
    /// `GPU-…`: what Docker and CUDA are given.
    pub uuid: String,
    /// The product name.
    pub name: String,
    /// Free memory, in bytes.
    pub free_bytes: u64,
    /// Installed memory, in bytes.
    pub total_bytes: u64,
    /// Degrees Celsius, where the GPU says.
    pub temperature_c: Option<u32>,
    /// The processes using it now (compute and graphics), by host pid.
    pub processes: Vec<GpuProcess>,
}

/// A process using a GPU, as NVML lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuProcess {
    /// Its host pid.
    pub pid: u32,
    /// GPU memory it holds, where NVML says.
    pub used_bytes: Option<u64>,
    /// Listed as a graphics process (a game, a desktop compositor) rather than compute.
    pub graphics: bool,
}

/// What one task's processes use of its GPUs now, as NVML tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskGpuUse {
    /// GPU memory its processes hold, over all GPUs.
    pub memory_bytes: u64,
    /// Its processes' share of the streaming multiprocessors, in percent,
    /// averaged over its GPUs; `None` where NVML keeps no per-process samples.
    pub utilization_percent: Option<u32>,
    /// The energy its GPUs used since the driver loaded, in millijoules: a
    /// counter, so a task's energy is the difference of two readings (its
    /// own only while no other task shares the GPUs). `None` where the GPU
    /// does not say (older GPUs, MIG devices).
    pub energy_millijoules: Option<u64>,
    /// A process not among the task's uses one of its devices now (another
    /// task, or a program of the person's): the energy counter is not the
    /// task's alone.
    pub others: bool,
}

/// One device as [`Monitor::tasks_gpu_use`] reads it, once for all tasks.
struct DeviceUse {
    uuid: String,
    processes: Vec<GpuProcess>,
    /// (pid, timestamp, SM percent) of NVML's per-process samples; `None`
    /// where the device keeps none.
    samples: Option<Vec<(u32, u64, u32)>>,
    energy: Option<u64>,
}

/// Samples the machine's CPU, memory, the disk of the host dir, and NVIDIA GPUs.
#[derive(Debug)]
pub struct Monitor {
    host_dir: PathBuf,
    /// Kept between samples because CPU usage is the difference between two
    /// readings of `/proc/stat`. `None` only where sysinfo does not support
    /// the platform.
    system: Option<System>,
    /// `None` when NVML could not be initialised; `gpu_status` says why.
    nvml: Option<Nvml>,
    gpu_status: GpuStatus,
    gpu_count: u32,
    /// The driver's versions do not change while the agent runs, so they are
    /// read once.
    driver_versions: BTreeMap<String, String>,
    /// NVML errors already logged at warn level, so that a broken GPU logs
    /// once rather than at every heartbeat.
    warned: HashSet<String>,
}

impl Monitor {
    /// `host_dir`: the folder whose disk is reported. NVML is initialised once
    /// here; failing to load it is not an error but a status.
    pub fn new(host_dir: &Path) -> Monitor {
        Monitor::open(host_dir, Nvml::init())
    }

    /// Like [`Monitor::new`], with NVML loaded from `library` instead of the
    /// loader's search path: for a driver installed out of the way, and for
    /// tests that load the test kit's stand-in NVML into their own process
    /// (where `LD_LIBRARY_PATH`, read at process start, cannot point at it).
    pub fn with_nvml_library(host_dir: &Path, library: &Path) -> Monitor {
        Monitor::open(
            host_dir,
            Nvml::builder().lib_path(library.as_os_str()).init(),
        )
    }

    fn open(host_dir: &Path, nvml: Result<Nvml, NvmlError>) -> Monitor {
        let system = match System::new() {
            Ok(mut system) => {
                // This first reading is the baseline the first sample's CPU
                // usage is measured from.
                system.refresh_cpu_usage();
                Some(system)
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read CPU and memory on this platform");
                None
            }
        };
        let mut monitor = Monitor {
            host_dir: host_dir.to_path_buf(),
            system,
            nvml: None,
            gpu_status: GpuStatus::NoDriver,
            gpu_count: 0,
            driver_versions: BTreeMap::new(),
            warned: HashSet::new(),
        };
        match nvml {
            Ok(nvml) => {
                monitor.driver_versions = driver_versions(&nvml);
                monitor.nvml = Some(nvml);
                monitor.count_gpus();
            }
            Err(NvmlError::LibloadingError(error)) => {
                // No libnvidia-ml.so: the usual case on a machine without an
                // NVIDIA driver, so it is worth a debug line at most.
                tracing::debug!(%error, "NVML is not installed; reporting no NVIDIA driver");
            }
            Err(error) => {
                monitor.warn_once("initialising NVML", &error);
                monitor.gpu_status = GpuStatus::Error {
                    message: advice(&error),
                };
            }
        }
        monitor
    }

    /// A fresh sample. Blocking (NVML and /proc reads): async callers use
    /// spawn_blocking. CPU usage is measured since the previous sample (or
    /// since [`Monitor::new`]), so the first sample may report 0.
    pub fn sample(&mut self) -> SystemInfo {
        let (cpu, memory) = self.cpu_and_memory();
        self.count_gpus();
        let gpus = self.gpus();
        SystemInfo {
            hostname: System::host_name().unwrap_or_default(),
            os: os_name(),
            cpu,
            memory,
            disk: disk_info(&self.host_dir),
            gpu_status: self.gpu_status.clone(),
            gpus,
            extra: self.driver_versions.clone(),
        }
    }

    /// How many NVIDIA GPUs NVML sees (0 without a driver), as of the last
    /// sample.
    pub fn gpu_count(&self) -> u32 {
        self.gpu_count
    }

    /// The processes holding GPU memory, as (host pid, bytes) over every GPU
    /// (compute and graphics), as of now; empty without NVML. Blocking.
    pub fn gpu_processes(&self) -> Vec<(u32, u64)> {
        use nvml_wrapper::enums::device::UsedGpuMemory;
        let Some(nvml) = &self.nvml else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for index in 0..self.gpu_count {
            let Ok(device) = nvml.device_by_index(index) else {
                continue;
            };
            let compute = device.running_compute_processes().unwrap_or_default();
            let graphics = device.running_graphics_processes().unwrap_or_default();
            for process in compute.into_iter().chain(graphics) {
                if let UsedGpuMemory::Used(bytes) = process.used_gpu_memory {
                    found.push((process.pid, bytes));
                }
            }
        }
        found
    }

    /// Each GPU now, with free memory, temperature and processes; empty
    /// without NVML. A GPU in MIG mode is listed as its MIG devices instead
    /// (each with its own `MIG-…` UUID and memory, its parent's index and
    /// temperature): only those can be given to a task. Blocking (NVML calls).
    pub fn devices(&mut self) -> Vec<GpuDevice> {
        self.count_gpus();
        let Some(nvml) = &self.nvml else {
            return Vec::new();
        };
        let mut devices = Vec::new();
        let mut failures = Vec::new();
        for index in 0..self.gpu_count {
            let device = match nvml.device_by_index(index) {
                Ok(device) => device,
                Err(error) => {
                    failures.push((index, error));
                    continue;
                }
            };
            let temperature_c = field(
                index,
                "temperature",
                device.temperature(TemperatureSensor::Gpu),
            )
            .ok();
            let migs = mig_devices(&device);
            if migs.is_empty() {
                devices.push(describe(index, &device, temperature_c));
            }
            for mig in migs {
                devices.push(describe(index, &mig, temperature_c));
            }
        }
        for (index, error) in failures {
            self.warn_once(&format!("opening GPU {index}"), &error);
        }
        devices
    }

    /// What the processes `pids` (a task's host pids) use of the devices
    /// `uuids` (the task's, as [`Monitor::devices`] names them: a MIG
    /// device by its `MIG-…` UUID); `None` without NVML. Blocking.
    pub fn task_gpu_use(&self, pids: &HashSet<u32>, uuids: &[String]) -> Option<TaskGpuUse> {
        self.tasks_gpu_use(&[(pids, uuids)])?.pop()
    }

    /// [`Monitor::task_gpu_use`] for several tasks at once, in their order,
    /// with one pass over the devices (one NVML read of each), so the
    /// agent's GPU meter reads NVML once per sample however many tasks hold
    /// GPUs. `None` without NVML. Blocking.
    pub fn tasks_gpu_use(&self, tasks: &[(&HashSet<u32>, &[String])]) -> Option<Vec<TaskGpuUse>> {
        let nvml = self.nvml.as_ref()?;
        let wanted: HashSet<&String> = tasks.iter().flat_map(|(_, uuids)| uuids.iter()).collect();
        let mut devices = Vec::new();
        for index in 0..self.gpu_count {
            let Ok(gpu) = nvml.device_by_index(index) else {
                continue;
            };
            let migs = mig_devices(&gpu);
            for device in std::iter::once(gpu).chain(migs) {
                let Ok(uuid) = device.uuid() else {
                    continue;
                };
                if !wanted.contains(&uuid) {
                    continue;
                }
                devices.push(DeviceUse {
                    processes: describe(index, &device, None).processes,
                    samples: device.process_utilization_stats(None).ok().map(|samples| {
                        samples
                            .iter()
                            .map(|s| (s.pid, s.timestamp, s.sm_util))
                            .collect()
                    }),
                    energy: device.total_energy_consumption().ok(),
                    uuid,
                });
            }
        }
        Some(
            tasks
                .iter()
                .map(|(pids, uuids)| use_of(pids, uuids, &devices))
                .collect(),
        )
    }

    /// The devices `uuids` (a task's, as [`Monitor::devices`] names them),
    /// each with its index and its energy counter now in millijoules (`None`
    /// where it keeps none, such as a MIG device), for usage accounting.
    /// Empty without NVML. Blocking.
    pub fn energy_counters(&self, uuids: &[String]) -> Vec<(String, u32, Option<u64>)> {
        let Some(nvml) = self.nvml.as_ref() else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for index in 0..self.gpu_count {
            let Ok(gpu) = nvml.device_by_index(index) else {
                continue;
            };
            let migs = mig_devices(&gpu);
            for device in std::iter::once(gpu).chain(migs) {
                if let Ok(uuid) = device.uuid()
                    && uuids.contains(&uuid)
                {
                    let energy = device.total_energy_consumption().ok();
                    found.push((uuid, index, energy));
                }
            }
        }
        found
    }

    /// Whether NVML (the NVIDIA driver's library) was loaded: without it
    /// the machine has no NVIDIA GPU the agent can use.
    pub fn has_nvml(&self) -> bool {
        self.nvml.is_some()
    }

    /// Whether NVIDIA GPUs are usable, and why not, as of the last sample.
    pub fn gpu_status(&self) -> &GpuStatus {
        &self.gpu_status
    }

    fn cpu_and_memory(&mut self) -> (CpuInfo, MemoryInfo) {
        let Some(system) = self.system.as_mut() else {
            return (CpuInfo::default(), MemoryInfo::default());
        };
        system.refresh_cpu_usage();
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let cpu = CpuInfo {
            model: system
                .cpus()
                .first()
                .map(|cpu| cpu.brand().trim().to_owned())
                .unwrap_or_default(),
            cores: u32::try_from(system.cpus().len()).unwrap_or(u32::MAX),
            usage_percent: system.global_cpu_usage().clamp(0.0, 100.0),
        };
        let memory = MemoryInfo {
            total_bytes: system.total_memory(),
            used_bytes: system.used_memory(),
        };
        (cpu, memory)
    }

    /// Asks NVML how many GPUs it sees now and updates the status: a GPU can
    /// fall off the bus while the agent runs.
    fn count_gpus(&mut self) {
        let Some(nvml) = &self.nvml else {
            return;
        };
        match nvml.device_count() {
            Ok(0) => {
                self.gpu_count = 0;
                self.gpu_status = GpuStatus::NoGpu;
            }
            Ok(count) => {
                self.gpu_count = count;
                self.gpu_status = GpuStatus::Available;
            }
            Err(error) => {
                self.gpu_count = 0;
                self.gpu_status = GpuStatus::Error {
                    message: advice(&error),
                };
                self.warn_once("counting GPUs", &error);
            }
        }
    }

    fn gpus(&mut self) -> Vec<GpuInfo> {
        let Some(nvml) = &self.nvml else {
            return Vec::new();
        };
        let mut gpus = Vec::new();
        let mut failures = Vec::new();
        for index in 0..self.gpu_count {
            match nvml.device_by_index(index) {
                Ok(device) => {
                    // Each field is read on its own so that one unsupported
                    // query (temperature on some virtual GPUs, say) keeps
                    // the others.
                    let name = field(index, "name", device.name()).unwrap_or_default();
                    let uuid = field(index, "uuid", device.uuid()).unwrap_or_default();
                    let utilization = field(index, "utilization", device.utilization_rates())
                        .map(|rates| rates.gpu.min(100))
                        .unwrap_or_default();
                    let memory = field(index, "memory", device.memory_info()).ok();
                    let temperature = field(
                        index,
                        "temperature",
                        device.temperature(TemperatureSensor::Gpu),
                    )
                    .ok();
                    gpus.push(GpuInfo {
                        index,
                        name,
                        uuid,
                        utilization_percent: utilization,
                        memory_used_bytes: memory.as_ref().map_or(0, |memory| memory.used),
                        memory_total_bytes: memory.as_ref().map_or(0, |memory| memory.total),
                        temperature_c: temperature,
                    });
                }
                Err(error) => failures.push((index, error)),
            }
        }
        for (index, error) in failures {
            self.warn_once(&format!("opening GPU {index}"), &error);
        }
        gpus
    }

    fn warn_once(&mut self, doing: &str, error: &NvmlError) {
        let key = format!("{doing}: {error}");
        if self.warned.insert(key) {
            tracing::warn!(%error, "NVML failed {doing}; further identical errors are not logged");
        }
    }
}

/// The operating system as people name it: "Debian GNU/Linux 12" on Linux,
/// where sysinfo's long version would read "Linux (Debian GNU/Linux 12)", and
/// sysinfo's long version ("macOS 15.1.1 Sequoia") elsewhere.
fn os_name() -> String {
    if cfg!(target_os = "linux") {
        match (System::name(), System::os_version()) {
            (Ok(name), Ok(version)) => return format!("{name} {version}"),
            (Ok(name), Err(_)) => return name,
            _ => {}
        }
    }
    System::long_os_version().unwrap_or_default()
}

/// The MIG devices of a GPU in MIG mode; empty for one that is not (or
/// cannot say).
fn mig_devices<'nvml>(device: &nvml_wrapper::Device<'nvml>) -> Vec<nvml_wrapper::Device<'nvml>> {
    // NVML_DEVICE_MIG_ENABLE is 1.
    let enabled = device.mig_mode().is_ok_and(|mode| mode.current == 1);
    if !enabled {
        return Vec::new();
    }
    let count = device.mig_device_count().unwrap_or(0);
    // A slot of the maximum count may be empty: NVML answers NotFound.
    (0..count)
        .filter_map(|slot| device.mig_device_by_index(slot).ok())
        .collect()
}

/// One device (a GPU or a MIG device) as [`GpuDevice`], under `index`.
fn describe(
    index: u32,
    device: &nvml_wrapper::Device<'_>,
    temperature_c: Option<u32>,
) -> GpuDevice {
    use nvml_wrapper::enums::device::UsedGpuMemory;
    let memory = field(index, "memory", device.memory_info()).ok();
    let mut processes = Vec::new();
    for (list, graphics) in [
        (device.running_compute_processes(), false),
        (device.running_graphics_processes(), true),
    ] {
        for process in list.unwrap_or_default() {
            processes.push(GpuProcess {
                pid: process.pid,
                used_bytes: match process.used_gpu_memory {
                    UsedGpuMemory::Used(bytes) => Some(bytes),
                    UsedGpuMemory::Unavailable => None,
                },
                graphics,
            });
        }
    }
    GpuDevice {
        index,
        uuid: field(index, "uuid", device.uuid()).unwrap_or_default(),
        name: field(index, "name", device.name()).unwrap_or_default(),
        free_bytes: memory.as_ref().map_or(0, |memory| memory.free),
        total_bytes: memory.as_ref().map_or(0, |memory| memory.total),
        temperature_c,
        processes,
    }
}

/// Passes a device field through, logging a failure at debug level: the
/// caller falls back to a default so the rest of the device is still reported.
fn field<T>(index: u32, name: &str, result: Result<T, NvmlError>) -> Result<T, NvmlError> {
    if let Err(error) = &result {
        tracing::debug!(gpu = index, field = name, %error, "NVML could not read a GPU field");
    }
    result
}

/// The NVIDIA driver version and the CUDA version the driver supports, under
/// the keys `nvidia_driver` and `cuda_driver`, as far as NVML knows them.
fn driver_versions(nvml: &Nvml) -> BTreeMap<String, String> {
    let mut versions = BTreeMap::new();
    match nvml.sys_driver_version() {
        Ok(version) => {
            versions.insert("nvidia_driver".to_owned(), version);
        }
        Err(error) => tracing::debug!(%error, "NVML could not read the driver version"),
    }
    match nvml.sys_cuda_driver_version() {
        Ok(version) => {
            let major = nvml_wrapper::cuda_driver_version_major(version);
            let minor = nvml_wrapper::cuda_driver_version_minor(version);
            versions.insert("cuda_driver".to_owned(), format!("{major}.{minor}"));
        }
        Err(error) => tracing::debug!(%error, "NVML could not read the CUDA driver version"),
    }
    versions
}

/// A sentence a person can act on for an NVML failure other than a missing
/// library.
fn advice(error: &NvmlError) -> String {
    match error {
        NvmlError::DriverNotLoaded => "The NVIDIA driver's library is installed but the kernel \
             driver is not loaded: check `nvidia-smi`, and reboot if the driver was just installed."
            .to_owned(),
        NvmlError::NoPermission => "The agent may not talk to the NVIDIA driver: run it as a user \
             who can open /dev/nvidia*."
            .to_owned(),
        NvmlError::LibRmVersionMismatch => "The NVIDIA driver's library and kernel module are \
             different versions: reboot after the driver update, or reinstall the driver."
            .to_owned(),
        NvmlError::FailedToLoadSymbol(_) | NvmlError::FunctionNotFound => {
            format!("The NVIDIA driver is too old for this agent ({error}): update the driver.")
        }
        NvmlError::GpuLost => "A GPU fell off the bus or became inaccessible: check `nvidia-smi` \
             and the kernel log; the machine may need a reboot."
            .to_owned(),
        _ => format!("NVML failed: {error}. Check that `nvidia-smi` works on this machine."),
    }
}

/// The size and free space of the file system holding `host_dir`.
///
/// The folder may not exist yet (the agent creates it later), so its nearest
/// existing ancestor is measured instead: that is where it will be created.
pub fn disk_info(host_dir: &Path) -> DiskInfo {
    let mut info = DiskInfo {
        path: host_dir.display().to_string(),
        total_bytes: 0,
        free_bytes: 0,
    };
    let Some(existing) = host_dir.ancestors().find_map(|dir| dir.canonicalize().ok()) else {
        tracing::debug!(path = %host_dir.display(), "no part of the host folder exists");
        return info;
    };
    // statvfs asks the file system that actually holds the folder, so a tmpfs
    // or a bind mount is measured right; sysinfo's list of disks leaves
    // tmpfs out, and a prefix match would then report the disk under it.
    match statvfs_bytes(&existing) {
        Ok((total, free)) => {
            info.total_bytes = total;
            info.free_bytes = free;
        }
        Err(error) => {
            tracing::debug!(%error, path = %existing.display(), "statvfs failed; using the mount list");
            if let Some((total, free)) = mounted_disk(&existing) {
                info.total_bytes = total;
                info.free_bytes = free;
            }
        }
    }
    info
}

/// Total bytes of the file system holding `dir`, and the bytes available to
/// a user who is not root (what `df` calls Avail).
#[allow(
    clippy::useless_conversion,
    reason = "the statvfs counts are u64 on Linux but u32 on macOS"
)]
fn statvfs_bytes(dir: &Path) -> nix::Result<(u64, u64)> {
    let stat = nix::sys::statvfs::statvfs(dir)?;
    let block = u64::from(stat.fragment_size());
    Ok((
        u64::from(stat.blocks()).saturating_mul(block),
        u64::from(stat.blocks_available()).saturating_mul(block),
    ))
}

/// Total and available bytes of the mounted disk whose mount point is the
/// longest prefix of `dir` (a canonical path).
fn mounted_disk(dir: &Path) -> Option<(u64, u64)> {
    let disks = Disks::new_with_refreshed_list().ok()?;
    disks
        .iter()
        .filter(|disk| dir.starts_with(disk.mount_point()))
        .max_by_key(|disk| disk.mount_point().as_os_str().len())
        .map(|disk| (disk.total_space(), disk.available_space()))
}

/// What the processes `pids` use of the devices among `devices` named by `uuids`.
fn use_of(pids: &HashSet<u32>, uuids: &[String], devices: &[DeviceUse]) -> TaskGpuUse {
    let mut used = TaskGpuUse::default();
    let mut utilization: Vec<u32> = Vec::new();
    for device in devices.iter().filter(|d| uuids.contains(&d.uuid)) {
        for process in &device.processes {
            if pids.contains(&process.pid) {
                used.memory_bytes += process.used_bytes.unwrap_or(0);
            } else {
                used.others = true;
            }
        }
        if let Some(samples) = &device.samples {
            // The latest sample of each of its processes.
            let mut latest: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
            for (pid, timestamp, sm) in samples.iter().filter(|(pid, ..)| pids.contains(pid)) {
                let entry = latest.entry(*pid).or_insert((0, 0));
                if *timestamp >= entry.0 {
                    *entry = (*timestamp, *sm);
                }
            }
            utilization.push(latest.values().map(|(_, sm)| sm).sum::<u32>().min(100));
        }
        if let Some(millijoules) = device.energy {
            used.energy_millijoules = Some(used.energy_millijoules.unwrap_or(0) + millijoules);
        }
    }
    used.utilization_percent = (!utilization.is_empty())
        .then(|| utilization.iter().sum::<u32>() / utilization.len() as u32);
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `GANTRY_EXPECT_GPU=1` demands a usable NVIDIA GPU (how the test runs on
    /// a GPU machine) and `0` demands none; unset, the test accepts either,
    /// so `cargo test` passes on a person's GPU workstation as well as in CI.
    fn expected_gpu() -> Option<bool> {
        match std::env::var("GANTRY_EXPECT_GPU").as_deref() {
            Ok("1") => Some(true),
            Ok("0") => Some(false),
            _ => None,
        }
    }

    #[test]
    fn reports_gpus_or_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut monitor = Monitor::new(dir.path());
        let info = monitor.sample();
        let available = monitor.gpu_status() == &GpuStatus::Available;
        if let Some(expected) = expected_gpu() {
            assert_eq!(available, expected, "{:?}", monitor.gpu_status());
        }
        assert_eq!(&info.gpu_status, monitor.gpu_status());
        if available {
            assert!(monitor.gpu_count() >= 1);
            assert_eq!(info.gpus.len(), monitor.gpu_count() as usize);
            for gpu in &info.gpus {
                assert!(!gpu.name.is_empty(), "{gpu:?}");
                assert!(gpu.memory_total_bytes > 0, "{gpu:?}");
                assert!(gpu.memory_used_bytes <= gpu.memory_total_bytes, "{gpu:?}");
                assert!(gpu.utilization_percent <= 100, "{gpu:?}");
            }
            assert!(info.extra.contains_key("nvidia_driver"), "{:?}", info.extra);
        } else {
            // Without a GPU the state must be one of the normal ones: an
            // NVML error on a machine without a driver would be a bug.
            assert!(
                matches!(monitor.gpu_status(), GpuStatus::NoDriver | GpuStatus::NoGpu),
                "{:?}",
                monitor.gpu_status()
            );
            assert_eq!(monitor.gpu_count(), 0);
            assert!(info.gpus.is_empty());
            assert!(info.extra.is_empty(), "{:?}", info.extra);
        }
    }

    #[test]
    fn reports_cpu_memory_and_host() {
        let dir = tempfile::tempdir().unwrap();
        let info = Monitor::new(dir.path()).sample();
        assert!(info.cpu.cores > 0);
        assert!((0.0..=100.0).contains(&info.cpu.usage_percent));
        assert!(info.memory.total_bytes > 0);
        assert!(info.memory.used_bytes <= info.memory.total_bytes);
        assert!(!info.hostname.is_empty());
    }

    #[test]
    fn reports_the_disk_of_the_host_folder() {
        let dir = tempfile::tempdir().unwrap();
        let info = Monitor::new(dir.path()).sample();
        assert_eq!(info.disk.path, dir.path().display().to_string());
        assert!(info.disk.total_bytes > 0);
        assert!(info.disk.free_bytes <= info.disk.total_bytes);
    }

    #[test]
    fn a_host_folder_not_made_yet_is_measured_where_it_will_be() {
        let dir = tempfile::tempdir().unwrap();
        let later = dir.path().join("not/yet");
        let disk = disk_info(&later);
        assert_eq!(disk.path, later.display().to_string());
        assert!(disk.total_bytes > 0);
    }

    #[test]
    fn the_mount_list_finds_the_disk_of_root() {
        let (total, free) = mounted_disk(Path::new("/")).unwrap();
        assert!(total > 0);
        assert!(free <= total);
    }

    #[test]
    fn samples_in_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut monitor = Monitor::new(dir.path());
        let first = monitor.sample();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let second = monitor.sample();
        assert_eq!(first.cpu.cores, second.cpu.cores);
        assert_eq!(first.memory.total_bytes, second.memory.total_bytes);
        assert_eq!(first.gpu_status, second.gpu_status);
        assert_eq!(first.gpus.len(), second.gpus.len());
    }

    #[test]
    fn moves_into_a_blocking_task() {
        fn send<T: Send>() {}
        send::<Monitor>();
    }

    #[test]
    fn advice_is_a_sentence() {
        for error in [
            NvmlError::DriverNotLoaded,
            NvmlError::NoPermission,
            NvmlError::Unknown,
        ] {
            let message = advice(&error);
            assert!(message.ends_with('.'), "{message}");
        }
    }

    /// Prints one sample, to see what a machine reports:
    /// `cargo test -p gantry-agent --lib print_sample -- --ignored --nocapture`.
    #[test]
    #[ignore = "prints a sample for a person to read"]
    fn print_sample() {
        let mut monitor = Monitor::new(Path::new("."));
        monitor.sample();
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        println!(
            "{}",
            serde_json::to_string_pretty(&monitor.sample()).unwrap()
        );
    }
}
