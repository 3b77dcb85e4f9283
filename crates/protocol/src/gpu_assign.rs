//! Which GPUs a task gets: the pure decision, apart from NVML and Docker.
//!
//! The agent owns its node's GPUs and gives each task specific devices, and
//! the hub offers a node only tasks that fit what its heartbeat says is free
//! ([`crate::wire::NodeCapacity`]). Both decide with this one function, so
//! they cannot disagree about what "fits" means. It knows a
//! node's GPUs (their free memory, which are the person's, which other
//! Gantry tasks hold) and a task's request (a count, all, or exact indices;
//! the free memory it needs on each; whether it may share), and answers
//! with devices or the reason there are none. It does no I/O: tests give it
//! inventories of 1 to 8 GPUs, MIG devices, reserved and busy ones.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::job::Gpus;

/// One GPU (or MIG device) of a node, as the agent sees it now. It crosses
/// the wire in a heartbeat's [`crate::wire::NodeCapacity`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GpuSlot {
    /// The device index NVML gives (for a MIG device, its parent's).
    pub index: u32,
    /// Its UUID (`GPU-…`, or `MIG-…` for a MIG device): what Docker is given.
    pub uuid: String,
    /// Free memory now, in bytes.
    pub free_bytes: u64,
    /// How many Gantry tasks hold it now.
    #[serde(default)]
    pub holders: u32,
    /// Whether those holders all said they may share it.
    #[serde(default)]
    pub shared: bool,
    /// Kept by the person for themselves ("keep GPU 0 for me").
    #[serde(default)]
    pub reserved: bool,
}

/// What a task asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRequest {
    /// The job's `gpus`.
    pub gpus: Gpus,
    /// The free memory it needs on each GPU (`gpu_memory`), if it says.
    pub memory_bytes: Option<u64>,
    /// Whether it may run beside another task on the same GPU.
    pub may_share: bool,
}

impl GpuRequest {
    /// What a job's resources ask for; `None` when it asks for no GPUs.
    pub fn of(resources: &crate::job::Resources) -> Option<GpuRequest> {
        Some(GpuRequest {
            gpus: resources.gpus.clone()?,
            memory_bytes: resources.gpu_memory.map(|size| size.0),
            may_share: resources.gpu_share,
        })
    }
}

/// Why a request cannot be met now (it waits), or never on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// The node has fewer usable GPUs than asked, whatever frees up.
    TooFew {
        /// How many it asked for.
        wanted: u32,
        /// How many the node could ever give (reserved ones excluded).
        usable: u32,
    },
    /// An index it names does not exist, or is the person's.
    NoSuchGpu {
        /// The index.
        index: u32,
        /// Whether it exists but is reserved.
        reserved: bool,
    },
    /// Not now: the GPUs are held by other tasks or lack free memory.
    Busy {
        /// How many it asked for.
        wanted: u32,
        /// How many fit now.
        free: u32,
    },
}

impl Unfit {
    /// Whether waiting can help (the task stays queued for this node).
    pub fn may_fit_later(&self) -> bool {
        matches!(self, Unfit::Busy { .. })
    }
}

impl std::fmt::Display for Unfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::TooFew { wanted, usable } => write!(
                f,
                "the task asks for {wanted} GPUs and this node has {usable} it may use"
            ),
            Unfit::NoSuchGpu {
                index,
                reserved: true,
            } => write!(f, "GPU {index} is kept by this computer's person"),
            Unfit::NoSuchGpu { index, .. } => write!(f, "this node has no GPU {index}"),
            Unfit::Busy { wanted, free } => write!(
                f,
                "the task waits for {wanted} free GPUs; {free} fit now (others are held or short of memory)"
            ),
        }
    }
}

/// The devices a request gets on `slots`: for a count, the free GPUs with
/// the most free memory (ties by index); for indices, exactly those; for
/// all, every GPU the person has not kept. A GPU fits when it is not
/// reserved, has the memory asked (if asked), and is held by no task, or
/// only by tasks that share, when this one shares too.
pub fn assign(request: &GpuRequest, slots: &[GpuSlot]) -> Result<Vec<GpuSlot>, Unfit> {
    let fits = |slot: &GpuSlot| {
        !slot.reserved
            && request
                .memory_bytes
                .is_none_or(|need| slot.free_bytes >= need)
            && (slot.holders == 0 || (request.may_share && slot.shared))
    };
    match &request.gpus {
        Gpus::Indices(indices) => exactly(indices, slots, fits),
        Gpus::All => {
            let usable: Vec<&GpuSlot> = slots.iter().filter(|s| !s.reserved).collect();
            let wanted = usable.len() as u32;
            let free: Vec<GpuSlot> = usable.into_iter().filter(|s| fits(s)).cloned().collect();
            if free.len() as u32 == wanted {
                Ok(free)
            } else {
                Err(Unfit::Busy {
                    wanted,
                    free: free.len() as u32,
                })
            }
        }
        Gpus::Count(wanted) => {
            let usable = slots.iter().filter(|s| !s.reserved).count() as u32;
            if *wanted > usable {
                return Err(Unfit::TooFew {
                    wanted: *wanted,
                    usable,
                });
            }
            let mut free: Vec<&GpuSlot> = slots.iter().filter(|s| fits(s)).collect();
            free.sort_by(|a, b| b.free_bytes.cmp(&a.free_bytes).then(a.index.cmp(&b.index)));
            if (free.len() as u32) < *wanted {
                return Err(Unfit::Busy {
                    wanted: *wanted,
                    free: free.len() as u32,
                });
            }
            Ok(free.into_iter().take(*wanted as usize).cloned().collect())
        }
    }
}

/// Exactly the GPUs named, each by its index (a MIG parent's index names
/// its first free MIG device).
fn exactly(
    indices: &[u32],
    slots: &[GpuSlot],
    fits: impl Fn(&GpuSlot) -> bool,
) -> Result<Vec<GpuSlot>, Unfit> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for &index in indices {
        let of_index: Vec<&GpuSlot> = slots.iter().filter(|s| s.index == index).collect();
        if of_index.is_empty() || of_index.iter().all(|s| s.reserved) {
            return Err(Unfit::NoSuchGpu {
                index,
                reserved: !of_index.is_empty(),
            });
        }
        match of_index
            .into_iter()
            .find(|s| fits(s) && !taken.contains(&s.uuid))
        {
            Some(slot) => {
                taken.insert(slot.uuid.clone());
                out.push(slot.clone());
            }
            None => {
                return Err(Unfit::Busy {
                    wanted: indices.len() as u32,
                    free: out.len() as u32,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
