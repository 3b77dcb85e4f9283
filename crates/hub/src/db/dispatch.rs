//! Dispatch: which queued task a polling node gets, and a task a node gives
//! back when it steps aside for its person (`TaskEvent::Released`).
//!
//! A node gets the oldest queued task it may run: meant for no node or for
//! it, whose labels it carries, and that fits its room ([`Room`]): none while
//! it yields all its work, none that asks for GPUs while it yields GPU work
//! or has no GPU to give, and a GPU task only when
//! [`gantry_protocol::gpu_assign::assign`] finds it devices on the capacity
//! its heartbeat said. Tasks carry `gpu_task` (set at submit), so the scan
//! skips GPU tasks in SQL for a node that takes none and parses only GPU
//! tasks' specs, never every queued one's, unless the node has an image
//! policy: then each spec is read and a task whose images the policy refuses
//! ([`gantry_protocol::image_policy::ImagePolicy::refusal_for_job`], the
//! agent's own check) is not offered to it, and stays queued for another node.

use gantry_protocol::gpu_assign::GpuRequest;
use gantry_protocol::usage::TaskUsage;
use gantry_protocol::wire::{CommandKind, Task};
use gantry_protocol::{JobSpec, TaskState};
use sqlx::Row;

use super::capacity::{Room, read_room, store_capacity};
use super::tasks::{EventOutcome, add_transition, held_by, requeue, set_state};
use super::usage::RunEnd;
use super::{Db, NodeRecord, parse_json};
use crate::HubError;

/// How many queued tasks one look reads.
const BATCH: usize = 256;

/// What became of one try to claim a task.
enum Try {
    /// The node has it.
    Claimed,
    /// Another node took it first, or it no longer fits: look further.
    Passed,
    /// The node takes nothing now (it began yielding all its work).
    Stop,
}

/// A checkpoint a node left: its `tree:<sha256>` and every blob of it (the
/// manifest and its files), which whichever node takes the task next may read.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// `tree:<sha256>`.
    pub tree: String,
    /// The manifest's sha256 and its files'.
    pub blobs: Vec<String>,
}

impl Db {
    /// Assigns the oldest queued task the node may run now, if any (see the
    /// module docs): one meant for no node or for this one (job key `node:`),
    /// whose labels it carries, under `only_labeled` one that carries at least
    /// one label, and that fits its room, reread from the database for every try.
    pub async fn claim_next(&self, node: &NodeRecord, now: i64) -> Result<Option<Task>, HubError> {
        let mut after = String::new();
        loop {
            let room = self.room(&node.id).await?;
            if room.takes_nothing() {
                return Ok(None);
            }
            let rows = sqlx::query(
                "SELECT id, labels, CASE WHEN gpu_task = 1 OR $5 = 1 THEN spec ELSE NULL END AS spec \
                 FROM tasks WHERE state = 'queued' AND id > $1 \
                 AND (target_node IS NULL OR target_node = $2) AND ($3 = 0 OR labels <> '[]') \
                 AND ($4 = 1 OR gpu_task = 0) ORDER BY id LIMIT 256",
            )
            .bind(&after)
            .bind(&node.id)
            .bind(node.only_labeled as i64)
            .bind(room.takes_gpu_tasks() as i64)
            .bind(node.image_policy.is_some() as i64)
            .fetch_all(&self.pool)
            .await?;
            let Some(last) = rows.last() else {
                return Ok(None);
            };
            after = last.try_get("id")?;
            for row in &rows {
                let labels: Vec<String> = parse_json(&row.try_get::<String, _>("labels")?)?;
                if !labels.iter().all(|label| node.labels.contains(label)) {
                    continue;
                }
                let spec = match row.try_get::<Option<String>, _>("spec")? {
                    Some(spec) => Some(parse_json::<JobSpec>(&spec)?),
                    None => None,
                };
                if let (Some(policy), Some(spec)) = (&node.image_policy, &spec)
                    && policy.refusal_for_job(spec).is_some()
                {
                    continue;
                }
                let request = spec
                    .as_ref()
                    .and_then(|spec| GpuRequest::of(&spec.resources));
                if request.as_ref().is_some_and(|r| room.fit(r).is_none()) {
                    continue;
                }
                let id: String = row.try_get("id")?;
                match self.try_claim(node, &id, request.as_ref(), now).await? {
                    Try::Claimed => return self.task(&id, Some(&node.id)).await,
                    Try::Passed => continue,
                    Try::Stop => return Ok(None),
                }
            }
            if rows.len() < BATCH {
                return Ok(None);
            }
        }
    }

    /// The id of the node a task is meant for (its job's `node:`), if any.
    pub async fn task_target(&self, id: &str) -> Result<Option<String>, HubError> {
        let row = sqlx::query("SELECT target_node FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("target_node")?,
            None => None,
        })
    }

    /// A node's room as stored now.
    async fn room(&self, node_id: &str) -> Result<Room, HubError> {
        let row = sqlx::query("SELECT capacity, yielding FROM nodes WHERE id = $1")
            .bind(node_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(Room::from_row)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    /// Claims one task for the node if it is still queued and still fits the
    /// node's room, read again under the write lock; a GPU task's devices
    /// leave the stored capacity in the same transaction.
    async fn try_claim(
        &self,
        node: &NodeRecord,
        id: &str,
        request: Option<&GpuRequest>,
        now: i64,
    ) -> Result<Try, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let mut room = read_room(&mut tx, &node.id).await?;
        let assigned = match request {
            _ if room.takes_nothing() => {
                tx.rollback().await?;
                return Ok(Try::Stop);
            }
            None => None,
            Some(request) => match room.fit(request) {
                Some(slots) => Some((request, slots)),
                None => {
                    tx.rollback().await?;
                    return Ok(Try::Passed);
                }
            },
        };
        let claimed = sqlx::query(
            "UPDATE tasks SET state = 'assigned', node_id = $1, assigned_at = $2, updated_at = $2 \
             WHERE id = $3 AND state = 'queued'",
        )
        .bind(&node.id)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            // Another node took it first. Roll back now, while the write
            // lock is held, rather than when the dropped transaction's
            // connection is next used.
            tx.rollback().await?;
            return Ok(Try::Passed);
        }
        if let Some((request, slots)) = assigned {
            room.take(request, &slots);
            store_capacity(&mut tx, &node.id, &room).await?;
        }
        let reason = format!("to node {}", node.name);
        add_transition(&mut tx, id, TaskState::Assigned, Some(&reason), now).await?;
        tx.commit().await?;
        Ok(Try::Claimed)
    }

    /// Takes back a task its node released (`TaskEvent::Released`): it goes
    /// back to the queue, held by no node, with `reason` in its history and
    /// its checkpoint kept for the next run (an earlier one stays when this
    /// release left none), its blobs readable by whichever node takes it
    /// next. Its log stays. A cancel waiting for the node makes it canceled
    /// instead. What the run used on the node is kept as one of the task's
    /// runs (a released one, unless it ended canceled there). `None` when the
    /// node does not hold the task; refused from a state a node cannot
    /// release (queued, lost or finished).
    pub async fn release(
        &self,
        id: &str,
        node_id: &str,
        reason: &str,
        checkpoint: Option<&Checkpoint>,
        usage: Option<&TaskUsage>,
        now: i64,
    ) -> Result<Option<EventOutcome>, HubError> {
        use TaskState::*;
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let Some((state, pending)) = held_by(&mut tx, id, node_id).await? else {
            return Ok(None);
        };
        if !matches!(state, Assigned | Pulling | Running | Paused) {
            tx.rollback().await?;
            return Ok(Some(EventOutcome::Refused(state)));
        }
        if pending == Some(CommandKind::Cancel) {
            let why = format!("canceled while its node gave it back ({reason})");
            set_state(&mut tx, id, Canceled, Some(&why), now).await?;
            if let Some(usage) = usage {
                super::usage::record(&mut tx, id, node_id, usage, RunEnd::Ended, now).await?;
            }
            tx.commit().await?;
            return Ok(Some(EventOutcome::Applied(Canceled, None)));
        }
        requeue(&mut tx, id, now, reason).await?;
        if let Some(usage) = usage {
            super::usage::record(&mut tx, id, node_id, usage, RunEnd::Released, now).await?;
        }
        sqlx::query(
            "UPDATE tasks SET pull_done = NULL, pull_total = NULL, \
             checkpoint = COALESCE($1, checkpoint) WHERE id = $2",
        )
        .bind(checkpoint.map(|c| c.tree.as_str()))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(checkpoint) = checkpoint {
            super::data::add_task_blobs(&mut tx, id, &checkpoint.blobs).await?;
        }
        tx.commit().await?;
        Ok(Some(EventOutcome::Applied(Queued, None)))
    }
}
