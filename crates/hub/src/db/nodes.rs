//! Nodes: what an enrolled agent tells the hub (register, heartbeats), the
//! requests waiting for it, and what happens when it falls silent.
//!
//! A register or heartbeat also reconciles the tasks the node says it holds
//! with the hub's view, so after a restart or a spell offline the two agree:
//! a `lost` task the node still holds comes back in the state it reports, and
//! on register a task it no longer holds is requeued (if it never accepted
//! it) or failed.

use std::collections::{BTreeSet, HashMap};

use gantry_protocol::TaskState;
use gantry_protocol::admin::NodeState;
use gantry_protocol::console_wire::RunningTask;
use gantry_protocol::image_policy::ImagePolicy;
use gantry_protocol::wire::{
    CommandKind, Heartbeat, HeldTask, Node, Reconciled, RegisterRequest, Yielding,
};
use sqlx::Row;

use super::capacity::Room;
use super::tasks::{requeue, set_state};
use super::{Db, json, parse_json, parse_state};
use crate::HubError;

/// What a heartbeat says of the agent's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    /// It takes new tasks.
    pub accepting: bool,
    /// It lets its tasks finish and takes no new ones.
    pub draining: bool,
}

/// What [`Db::check_nodes`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    /// The tasks whose state changed.
    pub tasks: Vec<String>,
    /// Whether any went back to the queue.
    pub requeued: bool,
    /// How many nodes went offline.
    pub went_offline: usize,
}

/// A node as the matcher needs it.
#[derive(Debug, Clone)]
pub struct NodeRecord {
    /// The node's id.
    pub id: String,
    /// The node's name.
    pub name: String,
    /// Every label: given at `node add` and reported by the agent.
    pub labels: BTreeSet<String>,
    /// It takes only tasks that carry at least one of its labels.
    pub only_labeled: bool,
    /// What its last heartbeat said it can take (dispatch rereads it for each claim).
    pub room: Room,
    /// The images it runs, as its agent said; `None`: any.
    pub image_policy: Option<ImagePolicy>,
}

/// What a heartbeat changed that others wait on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Beat {
    /// The requests waiting for the node: (task id, command), oldest task first.
    pub commands: Vec<(String, CommandKind)>,
    /// Its state as listed changed (it came online, or began or ended a
    /// pause, a drain or a yield).
    pub listed_changed: bool,
    /// What it can take changed (its capacity or its yielding).
    pub room_changed: bool,
}

impl Db {
    /// The node with this id, with all its labels.
    pub async fn node_record(&self, id: &str) -> Result<Option<NodeRecord>, HubError> {
        let row = sqlx::query(
            "SELECT id, name, labels, agent_labels, only_labeled, capacity, yielding, image_policy \
             FROM nodes WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let mut labels: BTreeSet<String> = parse_json(&row.try_get::<String, _>("labels")?)?;
            labels.extend(parse_json::<Vec<String>>(
                &row.try_get::<String, _>("agent_labels")?,
            )?);
            Ok(NodeRecord {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                labels,
                only_labeled: row.try_get::<i64, _>("only_labeled")? == 1,
                room: Room::from_row(&row)?,
                image_policy: image_policy(&row)?,
            })
        })
        .transpose()
    }

    /// Records a node's register: its version, labels and system, and
    /// reconciles the tasks it says it holds with the hub's view.
    ///
    /// A task the node holds that was `lost` comes back in the state the node
    /// reports. A task the hub thinks the node holds but the node does not
    /// report is requeued if the node never accepted it, and failed otherwise.
    pub async fn register(
        &self,
        node_id: &str,
        request: &RegisterRequest,
        now: i64,
    ) -> Result<Vec<Reconciled>, HubError> {
        let inventory = &request.inventory;
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE nodes SET version = $1, agent_labels = $2, system = COALESCE($3, system), \
             last_seen = $4, online = 1, only_labeled = $5, capacity = $6, yielding = NULL, \
             image_policy = $7 WHERE id = $8",
        )
        .bind(&request.version)
        .bind(json(&request.labels))
        .bind(request.system.as_ref().map(json))
        .bind(now)
        .bind(request.only_labeled as i64)
        .bind(request.capacity.as_ref().map(json))
        .bind(request.image_policy.as_ref().map(json))
        .bind(node_id)
        .execute(&mut *tx)
        .await?;

        let reported: BTreeSet<&str> = inventory.iter().map(|t| t.id.as_str()).collect();
        let held = sqlx::query(
            "SELECT id, state, accepted_at FROM tasks WHERE node_id = $1 \
             AND state IN ('assigned', 'pulling', 'running', 'paused', 'lost')",
        )
        .bind(node_id)
        .fetch_all(&mut *tx)
        .await?;
        for row in held {
            let id: String = row.try_get("id")?;
            if reported.contains(id.as_str()) {
                continue;
            }
            let accepted: Option<i64> = row.try_get("accepted_at")?;
            if accepted.is_none() && row.try_get::<String, _>("state")? == "assigned" {
                requeue(&mut tx, &id, now, "its node restarted before starting it").await?;
            } else {
                let reason = "its node restarted and no longer has it";
                set_state(&mut tx, &id, TaskState::Failed, Some(reason), now).await?;
            }
        }
        let mut reconciled = Vec::with_capacity(inventory.len());
        for held in inventory {
            reconciled.push(reconcile(&mut tx, node_id, held, now).await?);
        }
        tx.commit().await?;
        Ok(reconciled)
    }

    /// Records a heartbeat (its figures, held tasks and their GPU use from
    /// `beat`; its mode; its room: capacity and yielding, absent ones stored
    /// as NULL) and says what changed.
    pub async fn heartbeat(
        &self,
        node_id: &str,
        beat: &Heartbeat,
        mode: Mode,
        room: &Room,
        now: i64,
    ) -> Result<Beat, HubError> {
        let (system, tasks) = (beat.system.as_ref(), &beat.tasks);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let before = sqlx::query(
            "SELECT online, accepting, draining, capacity, yielding FROM nodes WHERE id = $1",
        )
        .bind(node_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (mut listed_changed, mut room_changed) = (false, false);
        if let Some(row) = before {
            listed_changed = (
                row.try_get::<i64, _>("online")?,
                row.try_get::<i64, _>("accepting")?,
                row.try_get::<i64, _>("draining")?,
            ) != (1, mode.accepting as i64, mode.draining as i64);
            let stored = Room::from_row(&row)?;
            room_changed = stored != *room;
            listed_changed |= stored.yielding != room.yielding;
        }
        let (capacity, yielding) = room.columns();
        sqlx::query(
            "UPDATE nodes SET system = COALESCE($1, system), last_seen = $2, online = 1, accepting = $3, \
             draining = $4, capacity = $5, yielding = $6, image_policy = $7 WHERE id = $8",
        )
        .bind(system.map(json))
        .bind(now)
        .bind(mode.accepting as i64)
        .bind(mode.draining as i64)
        .bind(capacity)
        .bind(yielding)
        .bind(beat.image_policy.as_ref().map(json))
        .bind(node_id)
        .execute(&mut *tx)
        .await?;
        for held in tasks {
            reconcile(&mut tx, node_id, held, now).await?;
        }
        super::gpu_use::record(&mut tx, node_id, &beat.gpu_use).await?;
        tx.commit().await?;
        Ok(Beat {
            commands: self.pending_commands(node_id).await?,
            listed_changed,
            room_changed,
        })
    }

    /// The requests waiting for a node: (task id, command), oldest task first.
    pub async fn pending_commands(
        &self,
        node_id: &str,
    ) -> Result<Vec<(String, CommandKind)>, HubError> {
        let rows = sqlx::query(
            "SELECT id, pending_command FROM tasks WHERE node_id = $1 AND pending_command IS NOT NULL ORDER BY id",
        )
        .bind(node_id)
        .fetch_all(&self.pool)
        .await?;
        let mut commands = Vec::with_capacity(rows.len());
        for row in rows {
            let command: String = row.try_get("pending_command")?;
            if let Some(kind) = CommandKind::parse(&command) {
                commands.push((row.try_get("id")?, kind));
            }
        }
        Ok(commands)
    }

    /// Marks nodes silent for longer than `offline_after_ms` offline; their
    /// unaccepted tasks go back to the queue and the rest become `lost`.
    /// Also requeues assignments not accepted within `accept_within_ms`.
    pub async fn check_nodes(
        &self,
        now: i64,
        offline_after_ms: i64,
        accept_within_ms: i64,
    ) -> Result<Checked, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let silent = sqlx::query(
            "SELECT id, name FROM nodes WHERE online = 1 AND (last_seen IS NULL OR last_seen < $1)",
        )
        .bind(now - offline_after_ms)
        .fetch_all(&mut *tx)
        .await?;
        let mut changed = Vec::new();
        let mut requeued = false;
        let went_offline = silent.len();
        for node in silent {
            let node_id: String = node.try_get("id")?;
            let node_name: String = node.try_get("name")?;
            sqlx::query("UPDATE nodes SET online = 0 WHERE id = $1")
                .bind(&node_id)
                .execute(&mut *tx)
                .await?;
            let tasks = sqlx::query(
                "SELECT id, state, accepted_at FROM tasks WHERE node_id = $1 \
                 AND state IN ('assigned', 'pulling', 'running', 'paused')",
            )
            .bind(&node_id)
            .fetch_all(&mut *tx)
            .await?;
            for task in tasks {
                let id: String = task.try_get("id")?;
                let state: String = task.try_get("state")?;
                let accepted: Option<i64> = task.try_get("accepted_at")?;
                if state == "assigned" && accepted.is_none() {
                    requeue(
                        &mut tx,
                        &id,
                        now,
                        &format!("node {node_name} went offline before starting it"),
                    )
                    .await?;
                    requeued = true;
                } else {
                    let reason = format!("node {node_name} stopped sending heartbeats");
                    set_state(&mut tx, &id, TaskState::Lost, Some(&reason), now).await?;
                }
                changed.push(id);
            }
        }
        let stale = sqlx::query(
            "SELECT id FROM tasks WHERE state = 'assigned' AND accepted_at IS NULL AND assigned_at < $1",
        )
        .bind(now - accept_within_ms)
        .fetch_all(&mut *tx)
        .await?;
        for row in stale {
            let id: String = row.try_get("id")?;
            requeue(&mut tx, &id, now, "its node did not accept it in time").await?;
            requeued = true;
            changed.push(id);
        }
        tx.commit().await?;
        Ok(Checked {
            tasks: changed,
            requeued,
            went_offline,
        })
    }

    /// Every node, by name, with how many unfinished tasks each holds.
    pub async fn nodes(&self, now: i64, offline_after_ms: i64) -> Result<Vec<Node>, HubError> {
        self.node_rows(None, now, offline_after_ms).await
    }

    /// The node with this id, as [`Db::nodes`] lists it.
    pub async fn node(
        &self,
        id: &str,
        now: i64,
        offline_after_ms: i64,
    ) -> Result<Option<Node>, HubError> {
        Ok(self.node_rows(Some(id), now, offline_after_ms).await?.pop())
    }

    /// The nodes (all, or the one with id `only`), by name.
    async fn node_rows(
        &self,
        only: Option<&str>,
        now: i64,
        offline_after_ms: i64,
    ) -> Result<Vec<Node>, HubError> {
        let rows = sqlx::query(
            "SELECT n.id, n.name, n.labels, n.agent_labels, n.last_seen, n.online, n.accepting, \
             n.draining, n.only_labeled, n.version, n.system, n.capacity, n.yielding, n.image_policy, \
             (SELECT COUNT(*) FROM tasks t WHERE t.node_id = n.id \
              AND t.state IN ('assigned', 'pulling', 'running', 'paused', 'lost')) AS held \
             FROM nodes n WHERE ($1 IS NULL OR n.id = $1) ORDER BY n.name",
        )
        .bind(only)
        .fetch_all(&self.pool)
        .await?;
        let mut nodes = rows
            .iter()
            .map(|row| node_from_row(row, now, offline_after_ms))
            .collect::<Result<Vec<_>, _>>()?;
        let mut held = self.held_tasks(only).await?;
        for node in &mut nodes {
            node.running = held.remove(&node.id).unwrap_or_default();
        }
        Ok(nodes)
    }

    /// The tasks each node holds now (all nodes', or only `only`'s), oldest
    /// first, by node id: one query for the whole list.
    async fn held_tasks(
        &self,
        only: Option<&str>,
    ) -> Result<HashMap<String, Vec<RunningTask>>, HubError> {
        let rows = sqlx::query(
            "SELECT node_id, id, name, state FROM tasks WHERE node_id IS NOT NULL \
             AND state IN ('assigned', 'pulling', 'running', 'paused', 'lost') \
             AND ($1 IS NULL OR node_id = $1) ORDER BY created_at, id",
        )
        .bind(only)
        .fetch_all(&self.pool)
        .await?;
        let mut held: HashMap<String, Vec<RunningTask>> = HashMap::new();
        for row in rows {
            held.entry(row.try_get("node_id")?)
                .or_default()
                .push(RunningTask {
                    id: row.try_get("id")?,
                    name: row.try_get("name")?,
                    state: parse_state(&row.try_get::<String, _>("state")?)?,
                });
        }
        Ok(held)
    }
}

/// A node from a row of [`Db::node_rows`]'s query.
fn node_from_row(
    row: &sqlx::any::AnyRow,
    now: i64,
    offline_after_ms: i64,
) -> Result<Node, HubError> {
    let given_labels: Vec<String> = parse_json(&row.try_get::<String, _>("labels")?)?;
    let agent_labels: Vec<String> = parse_json(&row.try_get::<String, _>("agent_labels")?)?;
    let mut labels = given_labels.clone();
    for label in &agent_labels {
        if !labels.contains(label) {
            labels.push(label.clone());
        }
    }
    let last_seen: Option<i64> = row.try_get("last_seen")?;
    let online = row.try_get::<i64, _>("online")? == 1
        && last_seen.is_some_and(|seen| now - seen <= offline_after_ms);
    let accepting = row.try_get::<i64, _>("accepting")? == 1;
    let draining = row.try_get::<i64, _>("draining")? == 1;
    let room = Room::from_row(row)?;
    let state = listed_state(online, draining, accepting, room.yielding.as_ref());
    let yield_reason = (state == NodeState::Yielding)
        .then(|| room.yielding.as_ref().map(|y| y.reason.clone()))
        .flatten();
    let system: Option<String> = row.try_get("system")?;
    Ok(Node {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        labels,
        online,
        last_seen,
        version: row.try_get("version")?,
        system: system.as_deref().map(parse_json).transpose()?,
        tasks_held: row.try_get::<i64, _>("held")?.max(0) as u64,
        state,
        running: Vec::new(),
        given_labels,
        agent_labels,
        only_labeled: row.try_get::<i64, _>("only_labeled")? == 1,
        yield_reason,
        yields_gpu_only: state == NodeState::Yielding
            && room.yielding.as_ref().is_some_and(|y| y.gpu_only),
        capacity: room.capacity,
        image_policy: image_policy(row)?,
    })
}

/// The `image_policy` column: the node's policy, `None` when it takes any image.
fn image_policy(row: &sqlx::any::AnyRow) -> Result<Option<ImagePolicy>, HubError> {
    let stored: Option<String> = row.try_get("image_policy")?;
    stored.as_deref().map(parse_json).transpose()
}

/// A node's state as listed. Offline and draining win. An agent that yields
/// all its work also stops accepting, so a node not accepting while it
/// yields all is yielding (its person may have paused it too; the hub cannot
/// tell); one that yields only GPU work and does not accept was paused by
/// its person.
fn listed_state(
    online: bool,
    draining: bool,
    accepting: bool,
    yielding: Option<&Yielding>,
) -> NodeState {
    match (online, draining, accepting, yielding) {
        (false, ..) => NodeState::Offline,
        (true, true, ..) => NodeState::Draining,
        (true, false, false, Some(y)) if !y.gpu_only => NodeState::Yielding,
        (true, false, false, _) => NodeState::Paused,
        (true, false, true, Some(_)) => NodeState::Yielding,
        (true, false, true, None) => NodeState::Online,
    }
}

/// Moves a task a node reports holding back from `lost`, and answers with the
/// hub's view of it.
async fn reconcile(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    node_id: &str,
    held: &HeldTask,
    now: i64,
) -> Result<Reconciled, HubError> {
    let row = sqlx::query(
        "SELECT state, log_size, pending_command FROM tasks WHERE id = $1 AND node_id = $2",
    )
    .bind(&held.id)
    .bind(node_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Reconciled {
            id: held.id.clone(),
            state: None,
            log_size: 0,
            command: None,
        });
    };
    let mut state = parse_state(&row.try_get::<String, _>("state")?)?;
    if state == TaskState::Lost
        && held.state != TaskState::Lost
        && TaskState::Lost.node_may_move_to(held.state)
    {
        set_state(tx, &held.id, held.state, Some("its node came back"), now).await?;
        state = held.state;
    }
    let pending: Option<String> = row.try_get("pending_command")?;
    Ok(Reconciled {
        id: held.id.clone(),
        state: Some(state),
        log_size: row.try_get::<i64, _>("log_size")? as u64,
        command: pending.as_deref().and_then(CommandKind::parse),
    })
}
