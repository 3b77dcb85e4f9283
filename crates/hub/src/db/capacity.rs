//! What a node can take now: the GPUs its last heartbeat said were free
//! (`nodes.capacity`) and whether it steps aside for its person
//! (`nodes.yielding`), as dispatch reads them.
//!
//! Whether a task's GPUs fit is decided by [`gantry_protocol::gpu_assign`],
//! the same function the agent calls when it starts the task, so hub and
//! agent cannot disagree. A claim takes its GPUs out of the hub's copy of the
//! capacity at once (see [`Room::take`]): a second `next` before the node's
//! next heartbeat then does not overcommit them; that heartbeat replaces the
//! copy with what the node sees.

use gantry_protocol::gpu_assign::{self, GpuRequest, GpuSlot};
use gantry_protocol::wire::{NodeCapacity, Yielding};
use sqlx::Row;

use super::{json, parse_json};
use crate::HubError;

/// A node's room for new work, as its last heartbeat said (and claims since took).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Room {
    /// What it can give; `None` from an agent that does not say: every task is offered.
    pub capacity: Option<NodeCapacity>,
    /// Why it steps aside for its person, if it does.
    pub yielding: Option<Yielding>,
}

impl Room {
    /// Whether it takes no task at all: it yields all its work.
    pub fn takes_nothing(&self) -> bool {
        self.yielding.as_ref().is_some_and(|y| !y.gpu_only)
    }

    /// Whether a task that asks for GPUs may be offered at all: it does not
    /// yield, and it has a GPU its person has not kept (or does not say).
    pub fn takes_gpu_tasks(&self) -> bool {
        self.yielding.is_none()
            && self
                .capacity
                .as_ref()
                .is_none_or(|c| c.gpus.iter().any(|gpu| !gpu.reserved))
    }

    /// The GPUs `request` would get here now, or `None` when it does not fit.
    /// A node that does not say its capacity fits every request (no GPUs named).
    pub fn fit(&self, request: &GpuRequest) -> Option<Vec<GpuSlot>> {
        if !self.takes_gpu_tasks() {
            return None;
        }
        match &self.capacity {
            None => Some(Vec::new()),
            Some(capacity) => gpu_assign::assign(request, &capacity.gpus).ok(),
        }
    }

    /// Takes `assigned` (what [`Room::fit`] gave `request`) out of the
    /// capacity: each GPU gains a holder, shares only if the request does,
    /// and loses the memory asked (all of it when the request names none).
    pub fn take(&mut self, request: &GpuRequest, assigned: &[GpuSlot]) {
        let Some(capacity) = &mut self.capacity else {
            return;
        };
        for slot in &mut capacity.gpus {
            if !assigned.iter().any(|a| a.uuid == slot.uuid) {
                continue;
            }
            slot.holders += 1;
            slot.shared = request.may_share;
            slot.free_bytes = match request.memory_bytes {
                Some(need) => slot.free_bytes.saturating_sub(need),
                None => 0,
            };
        }
    }

    /// The room from a row with the `capacity` and `yielding` columns.
    pub(super) fn from_row(row: &sqlx::any::AnyRow) -> Result<Room, HubError> {
        let capacity: Option<String> = row.try_get("capacity")?;
        let yielding: Option<String> = row.try_get("yielding")?;
        Ok(Room {
            capacity: capacity.as_deref().map(parse_json).transpose()?,
            yielding: yielding.as_deref().map(parse_json).transpose()?,
        })
    }

    /// The two columns as stored: JSON, or NULL for `None`.
    pub(super) fn columns(&self) -> (Option<String>, Option<String>) {
        (
            self.capacity.as_ref().map(json),
            self.yielding.as_ref().map(json),
        )
    }
}

/// A node's room as stored now, read in `tx` (under the write lock, so no
/// heartbeat or other claim changes it before the claim commits).
pub(super) async fn read_room(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    node_id: &str,
) -> Result<Room, HubError> {
    let row = sqlx::query("SELECT capacity, yielding FROM nodes WHERE id = $1")
        .bind(node_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref()
        .map(Room::from_row)
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Stores the capacity a claim left.
pub(super) async fn store_capacity(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    node_id: &str,
    room: &Room,
) -> Result<(), HubError> {
    sqlx::query("UPDATE nodes SET capacity = $1 WHERE id = $2")
        .bind(room.columns().0)
        .bind(node_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use gantry_protocol::job::Gpus;

    fn gpu(index: u32, free_gib: u64) -> GpuSlot {
        GpuSlot {
            index,
            uuid: format!("GPU-{index}"),
            free_bytes: free_gib << 30,
            holders: 0,
            shared: false,
            reserved: false,
        }
    }

    fn request(count: u32, memory_gib: Option<u64>, may_share: bool) -> GpuRequest {
        GpuRequest {
            gpus: Gpus::Count(count),
            memory_bytes: memory_gib.map(|g| g << 30),
            may_share,
        }
    }

    #[test]
    fn a_claim_takes_its_gpus_out_of_the_room() {
        let mut room = Room {
            capacity: Some(NodeCapacity {
                gpus: vec![gpu(0, 40), gpu(1, 80)],
            }),
            yielding: None,
        };
        let sharing = request(1, Some(30), true);
        let got = room.fit(&sharing).expect("fits");
        assert_eq!(got[0].index, 1, "most free memory first");
        room.take(&sharing, &got);
        let gpus = &room.capacity.as_ref().unwrap().gpus;
        assert_eq!((gpus[1].holders, gpus[1].shared), (1, true));
        assert_eq!(gpus[1].free_bytes, 50 << 30);
        // Another sharer with 30 GiB fits on GPU 1 again; one that does not share goes to GPU 0.
        assert_eq!(room.fit(&sharing).unwrap()[0].index, 1);
        let alone = request(1, None, false);
        let got = room.fit(&alone).unwrap();
        assert_eq!(got[0].index, 0);
        room.take(&alone, &got);
        assert_eq!(room.capacity.as_ref().unwrap().gpus[0].free_bytes, 0);
        assert!(room.fit(&alone).is_none(), "both GPUs are held");
    }

    #[test]
    fn yielding_and_empty_capacity_refuse_gpu_tasks() {
        let any = request(1, None, false);
        assert!(
            Room::default().fit(&any).is_some(),
            "a node that does not say"
        );
        let none = Room {
            capacity: Some(NodeCapacity { gpus: vec![] }),
            yielding: None,
        };
        assert!(none.fit(&any).is_none() && !none.takes_nothing());
        let yielding = |gpu_only| Room {
            capacity: None,
            yielding: Some(Yielding {
                reason: "blender uses the GPU".into(),
                gpu_only,
                since: 0,
            }),
        };
        assert!(yielding(true).fit(&any).is_none() && !yielding(true).takes_nothing());
        assert!(yielding(false).takes_nothing());
    }
}
