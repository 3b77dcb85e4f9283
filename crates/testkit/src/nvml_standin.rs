//! A stand-in for NVIDIA's NVML, where no NVIDIA GPU exists (this machine,
//! CI): a small C library (`nvml/standin.c`) built at test time with the
//! system's `cc` as `libnvidia-ml.so.1`, exporting the NVML functions the
//! agent's monitor calls. Its GPUs, their free memory, temperatures,
//! processes and MIG devices come from a file the test writes and may
//! rewrite while the agent runs ([`NvmlStandin::write`]); the library reads
//! it again on every call. A child agent is pointed at it with
//! `LD_LIBRARY_PATH` and `GANTRY_NVML_STANDIN` ([`NvmlStandin::env`]).
//! Agents in the test's own process find it after [`NvmlStandin::preload`]:
//! the loader answers a later `dlopen("libnvidia-ml.so.1")` with the library
//! of that soname already loaded (and it then reads the `gpus.txt` beside
//! itself), so one test binary has one stand-in.
//!
//! It proves the agent's side of GPUs (who gets which device, what it is
//! told, what it reports) without a GPU; the real driver is exercised on a
//! real GPU machine when one is lent.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Scratch;

/// The C source, compiled into each test's scratch folder.
const SOURCE: &str = include_str!("../nvml/standin.c");

/// One GPU of the stand-in.
#[derive(Debug, Clone)]
pub struct FakeGpu {
    /// `GPU-…`.
    pub uuid: String,
    /// The product name.
    pub name: String,
    /// Installed memory, bytes.
    pub total_bytes: u64,
    /// Free memory, bytes.
    pub free_bytes: u64,
    /// Degrees Celsius.
    pub temperature_c: u32,
    /// Percent busy.
    pub utilization: u32,
    /// (pid, used bytes, graphics) of the processes NVML lists on it.
    pub processes: Vec<(u32, u64, bool)>,
    /// Percent of the GPU's multiprocessors each of those processes uses
    /// (by position; missing: 0).
    pub process_percent: Vec<u32>,
    /// Its energy counter, in millijoules; 0: it does not say.
    pub energy_millijoules: u64,
    /// (uuid `MIG-…`, total bytes, free bytes) of its MIG devices; any puts
    /// it in MIG mode.
    pub migs: Vec<(String, u64, u64)>,
}

impl FakeGpu {
    /// An idle GPU with `total_bytes` all free, named after its index.
    pub fn idle(index: u32, total_bytes: u64) -> FakeGpu {
        FakeGpu {
            uuid: format!("GPU-00000000-0000-0000-0000-00000000000{index}"),
            name: "Stand-in GPU".to_owned(),
            total_bytes,
            free_bytes: total_bytes,
            temperature_c: 40,
            utilization: 0,
            processes: Vec::new(),
            process_percent: Vec::new(),
            energy_millijoules: 0,
            migs: Vec::new(),
        }
    }
}

/// The built library and the file it reads.
#[derive(Debug)]
pub struct NvmlStandin {
    scratch: Scratch,
}

impl NvmlStandin {
    /// Builds the library with `cc` into a scratch folder named after
    /// `name`, with no GPUs until [`NvmlStandin::write`].
    pub fn build(name: &str) -> std::io::Result<NvmlStandin> {
        let scratch = Scratch::named(&format!("nvml-{name}"))?;
        let source = scratch.path().join("standin.c");
        std::fs::write(&source, SOURCE)?;
        let library = scratch.path().join("libnvidia-ml.so.1");
        let output = Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-Wl,-soname,libnvidia-ml.so.1", "-o"])
            .arg(&library)
            .arg(&source)
            .output()
            .map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("cannot run cc to build the stand-in NVML (install build-essential): {error}"),
                )
            })?;
        if !output.status.success() {
            return Err(std::io::Error::other(format!(
                "cc could not build the stand-in NVML: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        std::os::unix::fs::symlink("libnvidia-ml.so.1", scratch.path().join("libnvidia-ml.so"))?;
        let standin = NvmlStandin { scratch };
        standin.write(&[])?;
        Ok(standin)
    }

    /// Loads the library into this process for good, so that NVML as the
    /// agent opens it (by soname) is the stand-in; it reads this stand-in's
    /// file. Once per test binary: a second stand-in would not be loaded.
    #[cfg(feature = "agents")]
    pub fn preload(&self) {
        let monitor =
            gantry_agent::monitor::Monitor::with_nvml_library(self.library_dir(), &self.library());
        assert!(
            monitor.has_nvml(),
            "the stand-in NVML did not load: {:?}",
            monitor.gpu_status()
        );
        // Dropping NVML would unload the library; it stays for the process's life.
        std::mem::forget(monitor);
    }

    /// The folder for `LD_LIBRARY_PATH`.
    pub fn library_dir(&self) -> &Path {
        self.scratch.path()
    }

    /// The library itself, for a process that loads it by path.
    pub fn library(&self) -> PathBuf {
        self.scratch.path().join("libnvidia-ml.so.1")
    }

    /// The file the library reads (`GANTRY_NVML_STANDIN`).
    pub fn file(&self) -> PathBuf {
        self.scratch.path().join("gpus.txt")
    }

    /// The environment a child needs to see the stand-in as its NVML.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "LD_LIBRARY_PATH".to_owned(),
                self.library_dir().display().to_string(),
            ),
            (
                "GANTRY_NVML_STANDIN".to_owned(),
                self.file().display().to_string(),
            ),
        ]
    }

    /// Replaces the GPUs the library reports, atomically (a rename), so a
    /// reader never sees half a file.
    pub fn write(&self, gpus: &[FakeGpu]) -> std::io::Result<()> {
        let mut text = String::new();
        for gpu in gpus {
            text.push_str(&format!(
                "gpu {} {} {} {} {} {}\n",
                gpu.uuid,
                gpu.total_bytes,
                gpu.free_bytes,
                gpu.temperature_c,
                gpu.utilization,
                gpu.name
            ));
            for (at, (pid, used, graphics)) in gpu.processes.iter().enumerate() {
                let kind = if *graphics { "graphics" } else { "compute" };
                let percent = gpu.process_percent.get(at).copied().unwrap_or(0);
                text.push_str(&format!("proc {pid} {used} {kind} {percent}\n"));
            }
            if gpu.energy_millijoules > 0 {
                text.push_str(&format!("energy {}\n", gpu.energy_millijoules));
            }
            for (uuid, total, free) in &gpu.migs {
                text.push_str(&format!("mig {uuid} {total} {free}\n"));
            }
        }
        let partial = self.file().with_extension("tmp");
        std::fs::write(&partial, text)?;
        std::fs::rename(partial, self.file())
    }
}
