//! The GPU rules: another program on an NVIDIA GPU, and a GPU too hot.
//!
//! Both are pure functions over what NVML reported ([`GpuDevice`]) and the
//! processes that are Gantry's own, so they are tested on made-up devices.
//! Both make a GPU-only yield: tasks without GPUs keep running.
//!
//! Which foreign processes count: every compute process (someone's CUDA
//! work), and a graphics process holding at least [`GRAPHICS_FLOOR`] of
//! GPU memory (a game, a 3D editor's viewport). The desktop itself and a
//! browser also draw on the GPU, with far less memory; counting them
//! would keep a desktop's GPU work stopped for good.

use std::collections::HashSet;

use crate::monitor::GpuDevice;

/// The GPU memory a graphics process must hold to count as the person's
/// GPU work: 1 GiB.
pub const GRAPHICS_FLOOR: u64 = 1 << 30;

/// The first foreign GPU process, as "NAME uses the GPU"; `name_of` reads
/// a pid's name (`/proc/<pid>/comm` in real use).
pub fn foreign_process(
    devices: &[GpuDevice],
    own_pids: &HashSet<u32>,
    name_of: impl Fn(u32) -> Option<String>,
) -> Option<String> {
    devices
        .iter()
        .flat_map(|device| &device.processes)
        .filter(|p| !own_pids.contains(&p.pid) && p.pid != std::process::id())
        .find(|p| !p.graphics || p.used_bytes.is_some_and(|used| used >= GRAPHICS_FLOOR))
        .map(|p| {
            let name = name_of(p.pid).unwrap_or_else(|| format!("process {}", p.pid));
            format!("{name} uses the GPU")
        })
}

/// The first GPU above `limit_c`, as "GPU 0 is at 87 °C".
pub fn too_hot(devices: &[GpuDevice], limit_c: u32) -> Option<String> {
    devices.iter().find_map(|device| {
        device
            .temperature_c
            .filter(|t| *t > limit_c)
            .map(|t| format!("GPU {} is at {t} °C", device.index))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::GpuProcess;

    fn gpu(index: u32, temperature_c: Option<u32>, processes: Vec<GpuProcess>) -> GpuDevice {
        GpuDevice {
            index,
            uuid: format!("GPU-{index}"),
            name: "Stand-in".into(),
            free_bytes: 10 << 30,
            total_bytes: 24 << 30,
            temperature_c,
            processes,
        }
    }

    fn process(pid: u32, graphics: bool, used_gib: u64) -> GpuProcess {
        GpuProcess {
            pid,
            used_bytes: Some(used_gib << 30),
            graphics,
        }
    }

    fn name(pid: u32) -> Option<String> {
        (pid == 42).then(|| "blender".to_owned())
    }

    #[test]
    fn a_foreign_compute_process_counts_and_own_ones_do_not() {
        let devices = [
            gpu(0, Some(50), vec![process(7, false, 2)]),
            gpu(1, Some(50), vec![process(42, false, 0)]),
        ];
        let own = HashSet::from([7]);
        assert_eq!(
            foreign_process(&devices, &own, name).as_deref(),
            Some("blender uses the GPU")
        );
        let own = HashSet::from([7, 42]);
        assert_eq!(foreign_process(&devices, &own, name), None);
        let devices = [gpu(0, None, vec![process(9, false, 1)])];
        assert_eq!(
            foreign_process(&devices, &HashSet::new(), name).as_deref(),
            Some("process 9 uses the GPU")
        );
        assert_eq!(foreign_process(&[], &HashSet::new(), name), None);
    }

    #[test]
    fn a_graphics_process_counts_from_a_gibibyte() {
        let desktop = [gpu(0, None, vec![process(42, true, 0)])];
        assert_eq!(foreign_process(&desktop, &HashSet::new(), name), None);
        let unknown = [gpu(
            0,
            None,
            vec![GpuProcess {
                pid: 42,
                used_bytes: None,
                graphics: true,
            }],
        )];
        assert_eq!(foreign_process(&unknown, &HashSet::new(), name), None);
        let game = [gpu(0, None, vec![process(42, true, 3)])];
        assert_eq!(
            foreign_process(&game, &HashSet::new(), name).as_deref(),
            Some("blender uses the GPU")
        );
    }

    #[test]
    fn a_gpu_above_the_limit_is_named() {
        let devices = [
            gpu(0, Some(80), vec![]),
            gpu(1, Some(87), vec![]),
            gpu(2, None, vec![]),
        ];
        assert_eq!(too_hot(&devices, 85).as_deref(), Some("GPU 1 is at 87 °C"));
        assert_eq!(too_hot(&devices, 87), None, "at the limit is not above it");
        assert_eq!(too_hot(&devices, 70).as_deref(), Some("GPU 0 is at 80 °C"));
    }
}
