//! The node's GPUs, given out one by one: which Gantry task holds which
//! device, which the person keeps for themselves, and what is free now.
//!
//! The agent, not Docker or CUDA, decides which GPUs a task gets, so that
//! two tasks never land on one GPU unless both say they may share, a task
//! that needs free memory waits until it is there, and the hub can be told
//! exactly what is free ([`GpuOwner::capacity`]). The decision itself is
//! `gantry_protocol::gpu_assign::assign`, the one the hub makes too; this
//! module gives it the node's devices as they are now (NVML, through
//! [`crate::monitor::Monitor::devices`]) with the holders and reservations
//! laid over them, and keeps the holders.
//!
//! Holders live in memory; a task re-attached after a restart takes its
//! devices back from its record ([`GpuOwner::hold`]). A waiting task learns
//! of a give-back through [`GpuOwner::changes`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gantry_protocol::gpu_assign::{GpuRequest, GpuSlot, Unfit, assign};
use gantry_protocol::wire::NodeCapacity;
use tokio::sync::watch;

use crate::monitor::{GpuDevice, Monitor};

#[cfg(test)]
mod tests;

/// Reads the node's devices now: `None` where there is no NVML at all.
/// Blocking (NVML calls).
pub type ReadDevices = dyn Fn() -> Option<Vec<GpuDevice>> + Send + Sync;

/// What one task holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holding {
    /// The devices' UUIDs.
    uuids: Vec<String>,
    /// The free memory it was promised on each (`gpu_memory`); `None`:
    /// the whole device.
    memory_bytes: Option<u64>,
    /// Whether it said it may share.
    shared: bool,
    /// When it took them (Unix ms), for its GPU-seconds.
    since: i64,
}

/// What one task holds, as the GPU meter reads it ([`GpuOwner::holdings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldGpus {
    /// The task's id.
    pub task_id: String,
    /// The devices' UUIDs.
    pub uuids: Vec<String>,
    /// When it took them, Unix ms (for a task re-attached after a restart:
    /// when this agent took them back).
    pub since: i64,
    /// Another Gantry task holds one of these devices too.
    pub shared: bool,
}

/// The node's GPUs and who holds them. One per agent, shared by its tasks
/// (an `Arc`); every method is safe to call from async code except the
/// `_blocking` ones, which read NVML on the calling thread.
pub struct GpuOwner {
    read: Arc<ReadDevices>,
    /// The monitor the devices are read from, when they are (not in tests
    /// with made-up inventories).
    monitor: Option<Arc<Mutex<Monitor>>>,
    /// GPU indices the person keeps (`--reserve-gpu`).
    reserved: BTreeSet<u32>,
    /// Task id → what it holds.
    holders: Mutex<BTreeMap<String, Holding>>,
    /// Bumped at every give-back, so a waiting task tries again.
    changed: watch::Sender<u64>,
    /// Whether the last read found NVML.
    nvml: AtomicBool,
}

impl std::fmt::Debug for GpuOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuOwner")
            .field("reserved", &self.reserved)
            .field("holders", &self.holders)
            .finish_non_exhaustive()
    }
}

impl GpuOwner {
    /// The GPUs `monitor` sees, with `reserved` (GPU indices) kept for the person.
    pub fn new(monitor: Arc<Mutex<Monitor>>, reserved: &[u32]) -> GpuOwner {
        let read = monitor.clone();
        GpuOwner {
            monitor: Some(monitor),
            ..GpuOwner::reading(reserved, move || {
                let mut monitor = read.lock().unwrap_or_else(|e| e.into_inner());
                let devices = monitor.devices();
                monitor.has_nvml().then_some(devices)
            })
        }
    }

    /// The monitor the GPUs are read from, for whoever else reads NVML
    /// (heartbeats, the yield rules), so the agent opens NVML once.
    pub fn monitor(&self) -> Option<Arc<Mutex<Monitor>>> {
        self.monitor.clone()
    }

    /// What `task_id`'s processes (`pids`, host pids) use of the GPUs it
    /// holds now; `None` when it holds none or there is no NVML.
    pub async fn task_use(
        &self,
        task_id: &str,
        pids: std::collections::HashSet<u32>,
    ) -> Option<crate::monitor::TaskGpuUse> {
        let uuids = self.held_by(task_id);
        let monitor = self.monitor.clone()?;
        if uuids.is_empty() {
            return None;
        }
        tokio::task::spawn_blocking(move || {
            let monitor = monitor.lock().unwrap_or_else(|e| e.into_inner());
            monitor.task_gpu_use(&pids, &uuids)
        })
        .await
        .ok()
        .flatten()
    }

    /// GPUs read by `read` (tests give made-up inventories).
    pub fn reading(
        reserved: &[u32],
        read: impl Fn() -> Option<Vec<GpuDevice>> + Send + Sync + 'static,
    ) -> GpuOwner {
        GpuOwner {
            read: Arc::new(read),
            monitor: None,
            reserved: reserved.iter().copied().collect(),
            holders: Mutex::new(BTreeMap::new()),
            changed: watch::channel(0).0,
            nvml: AtomicBool::new(true),
        }
    }

    /// What is free now, for the heartbeat: every device with its holders,
    /// whether they share, and the person's marked reserved; free memory is
    /// what NVML says, less what holders were promised and have not taken
    /// yet. No NVML: no GPUs.
    pub async fn capacity(self: &Arc<Self>) -> NodeCapacity {
        let owner = self.clone();
        tokio::task::spawn_blocking(move || owner.capacity_blocking())
            .await
            .unwrap_or(NodeCapacity { gpus: Vec::new() })
    }

    /// [`GpuOwner::capacity`] on the calling thread (NVML calls block).
    pub fn capacity_blocking(&self) -> NodeCapacity {
        let devices = self.read_devices();
        let holders = self.holders();
        NodeCapacity {
            gpus: slots(&devices, &holders, &self.reserved),
        }
    }

    /// Gives `task_id` the devices `request` gets now, and holds them for it
    /// until [`GpuOwner::give_back`]. A task that already holds devices
    /// keeps those. `Unfit::Busy`: wait for [`GpuOwner::changes`] and try
    /// again; any other: this node cannot run it.
    pub async fn take(
        self: &Arc<Self>,
        task_id: &str,
        request: &GpuRequest,
    ) -> Result<Vec<GpuSlot>, Unfit> {
        let owner = self.clone();
        let (task_id, request) = (task_id.to_owned(), request.clone());
        tokio::task::spawn_blocking(move || owner.take_blocking(&task_id, &request))
            .await
            .unwrap_or(Err(Unfit::Busy { wanted: 0, free: 0 }))
    }

    /// [`GpuOwner::take`] on the calling thread.
    pub fn take_blocking(
        &self,
        task_id: &str,
        request: &GpuRequest,
    ) -> Result<Vec<GpuSlot>, Unfit> {
        let devices = self.read_devices();
        let mut holders = self.holders.lock().unwrap_or_else(|e| e.into_inner());
        let now = slots(&devices, &holders, &self.reserved);
        if let Some(held) = holders.get(task_id) {
            return Ok(now
                .into_iter()
                .filter(|slot| held.uuids.contains(&slot.uuid))
                .collect());
        }
        let given = assign(request, &now)?;
        holders.insert(
            task_id.to_owned(),
            Holding {
                uuids: given.iter().map(|slot| slot.uuid.clone()).collect(),
                memory_bytes: request.memory_bytes,
                shared: request.may_share,
                since: crate::clock::now_ms(),
            },
        );
        Ok(given)
    }

    /// Holds `uuids` for a task re-attached after a restart, as its record
    /// says, whether or not they fit now: the task already runs on them.
    pub fn hold(&self, task_id: &str, uuids: Vec<String>, request: Option<&GpuRequest>) {
        if uuids.is_empty() {
            return;
        }
        let holding = Holding {
            uuids,
            memory_bytes: request.and_then(|r| r.memory_bytes),
            shared: request.is_some_and(|r| r.may_share),
            since: crate::clock::now_ms(),
        };
        self.holders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(task_id.to_owned(), holding);
    }

    /// The UUIDs `task_id` holds, in the order it was given them.
    pub fn held_by(&self, task_id: &str) -> Vec<String> {
        self.holders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(task_id)
            .map(|held| held.uuids.clone())
            .unwrap_or_default()
    }

    /// Every task holding devices now, by task id; in memory, no NVML.
    pub fn holdings(&self) -> Vec<HeldGpus> {
        let holders = self.holders();
        holders
            .iter()
            .map(|(task_id, holding)| HeldGpus {
                task_id: task_id.clone(),
                uuids: holding.uuids.clone(),
                since: holding.since,
                shared: holders.iter().any(|(other, theirs)| {
                    other != task_id && theirs.uuids.iter().any(|u| holding.uuids.contains(u))
                }),
            })
            .collect()
    }

    /// Frees what `task_id` holds (nothing if it holds nothing) and tells
    /// the waiting tasks.
    pub fn give_back(&self, task_id: &str) {
        let removed = self
            .holders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(task_id);
        if removed.is_some() {
            self.changed.send_modify(|count| *count += 1);
        }
    }

    /// Changes at every give-back: a task waiting for GPUs subscribes
    /// before it tries, then waits on this.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Whether the last read of the devices found NVML (an NVIDIA driver).
    pub fn has_nvml(&self) -> bool {
        self.nvml.load(Ordering::Relaxed)
    }

    fn read_devices(&self) -> Vec<GpuDevice> {
        let devices = (self.read)();
        self.nvml.store(devices.is_some(), Ordering::Relaxed);
        devices.unwrap_or_default()
    }

    fn holders(&self) -> BTreeMap<String, Holding> {
        self.holders
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The devices as `assign` sees them: holders counted, sharing only when
/// every holder shares, reserved indices marked, and free memory at most
/// the total less what the holders were promised (a holder that named no
/// `gpu_memory` was promised all of it), so a task that has not allocated
/// yet still counts.
fn slots(
    devices: &[GpuDevice],
    holders: &BTreeMap<String, Holding>,
    reserved: &BTreeSet<u32>,
) -> Vec<GpuSlot> {
    devices
        .iter()
        .map(|device| {
            let held: Vec<&Holding> = holders
                .values()
                .filter(|holding| holding.uuids.contains(&device.uuid))
                .collect();
            let promised: u64 = held
                .iter()
                .map(|holding| holding.memory_bytes.unwrap_or(device.total_bytes))
                .sum();
            GpuSlot {
                index: device.index,
                uuid: device.uuid.clone(),
                free_bytes: device
                    .free_bytes
                    .min(device.total_bytes.saturating_sub(promised)),
                holders: held.len() as u32,
                shared: !held.is_empty() && held.iter().all(|holding| holding.shared),
                reserved: reserved.contains(&device.index),
            }
        })
        .collect()
}
