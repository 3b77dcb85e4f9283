//! The hub's records, in SQLite or PostgreSQL through sqlx's Any driver.
//!
//! One SQL text serves both databases: parameters are written `$1`, `$2`
//! (SQLite binds `$NNN` by number too), integers are BIGINT, and JSON is kept
//! as TEXT. The two migration folders differ only where the databases spell a
//! type differently.
//!
//! Writes that read before they write run under [`Db::write_lock`]: SQLite
//! allows one writer, and a transaction that upgrades from reading to writing
//! fails at once when another wrote in between, so the hub queues its own
//! writers instead. Every conditional update still checks its condition in SQL
//! (`WHERE state = 'queued'`), so two hubs on one PostgreSQL stay correct.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use gantry_protocol::wire::{
    CommandKind, HeldTask, Node, OutputFile, PullProgress, Reconciled, SystemInfo, Task, TaskEvent,
    Transition,
};
use gantry_protocol::{JobSpec, TaskState};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};
use tokio::sync::Mutex;

use crate::HubError;
use crate::tokens::{TokenKind, hash_token};

/// Which database the hub runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The hub's database.
#[derive(Debug)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// Serialises read-then-write transactions; see the module docs.
    write_lock: Mutex<()>,
}

/// Who a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A person or script holding an admin token.
    Admin {
        /// The token's name.
        name: String,
    },
    /// An agent holding its node's token.
    Node {
        /// The node's id.
        id: String,
        /// The node's name.
        name: String,
    },
}

/// What became of a log append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Append {
    /// The bytes (or the new part of them) were stored; the log is this long now.
    Stored(u64),
    /// The append started past the end of the log; it is this long.
    Gap(u64),
}

/// What became of an event from a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// Applied (or already applied): the state now, and a request waiting for the node.
    Applied(TaskState, Option<CommandKind>),
    /// The move is not allowed from the task's state.
    Refused(TaskState),
}

/// What became of a request to cancel, pause or resume a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Done or queued for the node; the task's state now.
    Accepted(TaskState),
    /// Not possible from the task's state.
    Refused(TaskState),
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
}

/// Filters for listing tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Only tasks of the node with this name.
    pub node: Option<String>,
    /// At most this many, newest first.
    pub limit: u32,
}

const TASK_COLUMNS: &str = "t.id, t.name, t.state, t.spec, t.exit_code, t.reason, t.created_at, t.updated_at, \
     t.started_at, t.finished_at, t.log_size, t.pending_command, t.pull_done, t.pull_total, t.outputs, \
     n.name AS node_name";

impl Db {
    /// Opens (creating if needed) the database at `url` and brings its schema up to date.
    ///
    /// `url` is `sqlite://PATH` or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, HubError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(HubError::Config(format!(
                "unsupported database URL \"{}\": use sqlite://PATH or postgres://USER@HOST/DB",
                redact_url(url)
            )));
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; the busy timeout
                        // covers the short moments two connections both write.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            });
        let url = if backend == Backend::Sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| HubError::Connect {
                url: redact_url(&url),
                source,
            })?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Db {
            pool,
            backend,
            write_lock: Mutex::new(()),
        })
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`): a transaction that reads first and then
    /// writes fails at once, rather than waits, when another connection or
    /// process (`gantry hub node add` beside a running hub) wrote in between.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, HubError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- nodes and tokens ----

    /// Adds a node and its token; the token is returned once and stored only as a hash.
    pub async fn add_node(
        &self,
        name: &str,
        labels: &[String],
        now: i64,
    ) -> Result<String, HubError> {
        let id = uuid::Uuid::now_v7().to_string();
        let token = crate::tokens::new_token(TokenKind::Node);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM nodes WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(HubError::Exists(format!(
                "a node named \"{name}\" exists already; pick another name"
            )));
        }
        insert_node(&mut tx, &id, name, labels, now).await?;
        insert_node_token(&mut tx, &token, name, &id, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// A fresh token for the node `name`, made with `labels` if it is new;
    /// the node's earlier tokens stop working. The desktop app's local mode
    /// calls this at each start, so its node token lives only in memory.
    pub async fn renew_node_token(
        &self,
        name: &str,
        labels: &[String],
        now: i64,
    ) -> Result<String, HubError> {
        let token = crate::tokens::new_token(TokenKind::Node);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let existing = sqlx::query("SELECT id FROM nodes WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        let id = match existing {
            Some(row) => row.try_get::<String, _>("id")?,
            None => {
                let id = uuid::Uuid::now_v7().to_string();
                insert_node(&mut tx, &id, name, labels, now).await?;
                id
            }
        };
        sqlx::query("DELETE FROM tokens WHERE kind = 'node' AND node_id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        insert_node_token(&mut tx, &token, name, &id, now).await?;
        tx.commit().await?;
        Ok(token)
    }

    /// A fresh admin token named `name`; earlier admin tokens of that name
    /// stop working.
    pub async fn renew_admin_token(&self, name: &str, now: i64) -> Result<String, HubError> {
        let token = crate::tokens::new_token(TokenKind::Admin);
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM tokens WHERE kind = 'admin' AND name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tokens (hash, kind, name, created_at) VALUES ($1, 'admin', $2, $3)",
        )
        .bind(hash_token(&token))
        .bind(name)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Creates an admin token; it is returned once and stored only as a hash.
    pub async fn create_admin_token(&self, name: &str, now: i64) -> Result<String, HubError> {
        let token = crate::tokens::new_token(TokenKind::Admin);
        sqlx::query(
            "INSERT INTO tokens (hash, kind, name, created_at) VALUES ($1, 'admin', $2, $3)",
        )
        .bind(hash_token(&token))
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    /// Finds who holds `token`, if anyone.
    pub async fn caller(&self, token: &str) -> Result<Option<Caller>, HubError> {
        let row = sqlx::query(
            "SELECT k.kind, k.name, k.node_id, n.name AS node_name FROM tokens k \
             LEFT JOIN nodes n ON n.id = k.node_id WHERE k.hash = $1",
        )
        .bind(hash_token(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        Ok(match kind.as_str() {
            "admin" => Some(Caller::Admin {
                name: row.try_get("name")?,
            }),
            "node" => {
                let id: Option<String> = row.try_get("node_id")?;
                let name: Option<String> = row.try_get("node_name")?;
                id.zip(name).map(|(id, name)| Caller::Node { id, name })
            }
            _ => None,
        })
    }

    /// The node with this id, with all its labels.
    pub async fn node_record(&self, id: &str) -> Result<Option<NodeRecord>, HubError> {
        let row = sqlx::query("SELECT id, name, labels, agent_labels FROM nodes WHERE id = $1")
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
        version: &str,
        agent_labels: &[String],
        system: Option<&SystemInfo>,
        inventory: &[HeldTask],
        now: i64,
    ) -> Result<Vec<Reconciled>, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE nodes SET version = $1, agent_labels = $2, system = COALESCE($3, system), \
             last_seen = $4, online = 1 WHERE id = $5",
        )
        .bind(version)
        .bind(json(&agent_labels))
        .bind(system.map(json))
        .bind(now)
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

    /// Records a heartbeat and returns the requests waiting for the node.
    pub async fn heartbeat(
        &self,
        node_id: &str,
        system: Option<&SystemInfo>,
        tasks: &[HeldTask],
        accepting: bool,
        now: i64,
    ) -> Result<Vec<(String, CommandKind)>, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE nodes SET system = COALESCE($1, system), last_seen = $2, online = 1, accepting = $3 WHERE id = $4",
        )
        .bind(system.map(json))
        .bind(now)
        .bind(accepting as i64)
        .bind(node_id)
        .execute(&mut *tx)
        .await?;
        for held in tasks {
            reconcile(&mut tx, node_id, held, now).await?;
        }
        tx.commit().await?;
        self.pending_commands(node_id).await
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
    /// Returns the ids of the tasks that changed and whether any was requeued.
    pub async fn check_nodes(
        &self,
        now: i64,
        offline_after_ms: i64,
        accept_within_ms: i64,
    ) -> Result<(Vec<String>, bool), HubError> {
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
        Ok((changed, requeued))
    }

    /// Every node, by name, with how many unfinished tasks each holds.
    pub async fn nodes(&self, now: i64, offline_after_ms: i64) -> Result<Vec<Node>, HubError> {
        let rows = sqlx::query(
            "SELECT n.id, n.name, n.labels, n.agent_labels, n.last_seen, n.online, n.version, n.system, \
             (SELECT COUNT(*) FROM tasks t WHERE t.node_id = n.id \
              AND t.state IN ('assigned', 'pulling', 'running', 'paused', 'lost')) AS held \
             FROM nodes n ORDER BY n.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let mut labels: Vec<String> = parse_json(&row.try_get::<String, _>("labels")?)?;
                for label in parse_json::<Vec<String>>(&row.try_get::<String, _>("agent_labels")?)?
                {
                    if !labels.contains(&label) {
                        labels.push(label);
                    }
                }
                let last_seen: Option<i64> = row.try_get("last_seen")?;
                let online = row.try_get::<i64, _>("online")? == 1
                    && last_seen.is_some_and(|seen| now - seen <= offline_after_ms);
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
                })
            })
            .collect()
    }

    // ---- tasks ----

    /// Queues a task.
    pub async fn submit(
        &self,
        spec: &JobSpec,
        submitted_by: &str,
        now: i64,
    ) -> Result<String, HubError> {
        let id = uuid::Uuid::now_v7().to_string();
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO tasks (id, name, state, spec, labels, submitted_by, created_at, updated_at) \
             VALUES ($1, $2, 'queued', $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(spec.display_name())
        .bind(json(spec))
        .bind(json(&spec.labels))
        .bind(submitted_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        add_transition(&mut tx, &id, TaskState::Queued, None, now).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// One task, with its history. `node` limits the lookup to that node's tasks.
    pub async fn task(&self, id: &str, node: Option<&str>) -> Result<Option<Task>, HubError> {
        let row = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t LEFT JOIN nodes n ON n.id = t.node_id \
             WHERE t.id = $1 AND ($2 IS NULL OR t.node_id = $2)"
        ))
        .bind(id)
        .bind(node)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let mut task = task_from_row(&row)?;
        let history = sqlx::query(
            "SELECT state, at, reason FROM task_transitions WHERE task_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        task.history = history
            .iter()
            .map(|row| {
                Ok(Transition {
                    state: parse_state(&row.try_get::<String, _>("state")?)?,
                    at: row.try_get("at")?,
                    reason: row.try_get("reason")?,
                })
            })
            .collect::<Result<_, HubError>>()?;
        Ok(Some(task))
    }

    /// Tasks matching `filter`, newest first, without their history.
    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, HubError> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks t LEFT JOIN nodes n ON n.id = t.node_id \
             WHERE ($1 IS NULL OR t.state = $1) AND ($2 IS NULL OR n.name = $2) ORDER BY t.id DESC LIMIT $3"
        ))
        .bind(filter.state.map(TaskState::as_str))
        .bind(filter.node.as_deref())
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(task_from_row).collect()
    }

    /// Whether a task exists and is held by `node` (any task when `node` is `None`).
    pub async fn task_visible(
        &self,
        id: &str,
        node: Option<&str>,
    ) -> Result<Option<TaskState>, HubError> {
        let row =
            sqlx::query("SELECT state FROM tasks WHERE id = $1 AND ($2 IS NULL OR node_id = $2)")
                .bind(id)
                .bind(node)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| parse_state(&row.try_get::<String, _>("state")?))
            .transpose()
    }

    /// Assigns the oldest queued task whose labels the node carries, if any.
    pub async fn claim_next(&self, node: &NodeRecord, now: i64) -> Result<Option<Task>, HubError> {
        let mut after = String::new();
        loop {
            let rows = sqlx::query(
                "SELECT id, labels FROM tasks WHERE state = 'queued' AND id > $1 ORDER BY id LIMIT 256",
            )
            .bind(&after)
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
                let id: String = row.try_get("id")?;
                let _guard = self.write_lock.lock().await;
                let mut tx = self.begin_write().await?;
                let claimed = sqlx::query(
                    "UPDATE tasks SET state = 'assigned', node_id = $1, assigned_at = $2, updated_at = $2 \
                     WHERE id = $3 AND state = 'queued'",
                )
                .bind(&node.id)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                if claimed.rows_affected() != 1 {
                    // Another node took it first. Roll back now, while the write
                    // lock is held, rather than when the dropped transaction's
                    // connection is next used.
                    tx.rollback().await?;
                    continue;
                }
                add_transition(
                    &mut tx,
                    &id,
                    TaskState::Assigned,
                    Some(&format!("to node {}", node.name)),
                    now,
                )
                .await?;
                tx.commit().await?;
                drop(_guard);
                return self.task(&id, Some(&node.id)).await;
            }
            if rows.len() < 256 {
                return Ok(None);
            }
        }
    }

    /// Applies a node's report about one of its tasks.
    pub async fn apply_event(
        &self,
        id: &str,
        node_id: &str,
        event: &TaskEvent,
        now: i64,
    ) -> Result<Option<EventOutcome>, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let row =
            sqlx::query("SELECT state, pending_command FROM tasks WHERE id = $1 AND node_id = $2")
                .bind(id)
                .bind(node_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let state = parse_state(&row.try_get::<String, _>("state")?)?;
        let pending: Option<String> = row.try_get("pending_command")?;
        let mut pending = pending.as_deref().and_then(CommandKind::parse);

        let Some(next) = event.target_state() else {
            // `accepted` keeps the state and records the agent's promise to run it.
            if state == TaskState::Assigned {
                sqlx::query("UPDATE tasks SET accepted_at = COALESCE(accepted_at, $1), updated_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            return Ok(Some(EventOutcome::Applied(state, pending)));
        };
        if !state.node_may_move_to(next) {
            return Ok(Some(EventOutcome::Refused(state)));
        }
        if let TaskEvent::Pulling {
            progress: Some(PullProgress { done, total }),
        } = event
        {
            sqlx::query("UPDATE tasks SET pull_done = $1, pull_total = $2 WHERE id = $3")
                .bind(*done as i64)
                .bind(*total as i64)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        if state != next {
            let (exit_code, reason) = match event {
                TaskEvent::Finished { exit_code, reason } => (
                    Some(*exit_code),
                    reason.clone().or_else(|| {
                        (*exit_code != 0).then(|| format!("exited with code {exit_code}"))
                    }),
                ),
                TaskEvent::Failed { reason, exit_code } => (*exit_code, Some(reason.clone())),
                TaskEvent::Canceled { reason } => (
                    None,
                    Some(reason.clone().unwrap_or_else(|| "canceled".into())),
                ),
                _ => (None, None),
            };
            sqlx::query(
                "UPDATE tasks SET exit_code = COALESCE($1, exit_code), \
                 accepted_at = COALESCE(accepted_at, $2) WHERE id = $3",
            )
            .bind(exit_code)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            set_state(&mut tx, id, next, reason.as_deref(), now).await?;
        }
        // A report that fulfils the waiting request clears it.
        let fulfilled = match (pending, next) {
            (Some(_), s) if s.is_terminal() => true,
            (Some(CommandKind::Pause), TaskState::Paused) => true,
            (Some(CommandKind::Resume), TaskState::Running) => true,
            _ => false,
        };
        if fulfilled {
            sqlx::query("UPDATE tasks SET pending_command = NULL WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            pending = None;
        }
        tx.commit().await?;
        Ok(Some(EventOutcome::Applied(next, pending)))
    }

    /// Records a person's cancel, pause or resume.
    ///
    /// A queued or lost task is canceled at once. For a task a node holds, the
    /// request waits in `pending_command` until the node reports the result.
    /// Asking again for what is already done or waiting is accepted and changes nothing.
    pub async fn request(
        &self,
        id: &str,
        command: CommandKind,
        by: &str,
        now: i64,
    ) -> Result<Option<CommandOutcome>, HubError> {
        use TaskState::*;
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT state, pending_command FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let state = parse_state(&row.try_get::<String, _>("state")?)?;
        let pending: Option<String> = row.try_get("pending_command")?;
        let pending = pending.as_deref().and_then(CommandKind::parse);
        let outcome = match (command, state) {
            (CommandKind::Cancel, Canceled) => CommandOutcome::Accepted(state),
            (CommandKind::Cancel, Queued | Lost) => {
                set_state(
                    &mut tx,
                    id,
                    Canceled,
                    Some(&format!("canceled by {by}")),
                    now,
                )
                .await?;
                CommandOutcome::Accepted(Canceled)
            }
            (CommandKind::Cancel, Assigned | Pulling | Running | Paused) => {
                set_pending(&mut tx, id, Some(CommandKind::Cancel), now).await?;
                CommandOutcome::Accepted(state)
            }
            (_, _) if pending == Some(CommandKind::Cancel) => CommandOutcome::Refused(state),
            (CommandKind::Pause, Paused) | (CommandKind::Resume, Running) if pending.is_none() => {
                CommandOutcome::Accepted(state)
            }
            (CommandKind::Pause, Running | Paused) | (CommandKind::Resume, Paused | Running) => {
                set_pending(&mut tx, id, Some(command), now).await?;
                CommandOutcome::Accepted(state)
            }
            _ => CommandOutcome::Refused(state),
        };
        tx.commit().await?;
        Ok(Some(outcome))
    }

    /// Records the results a node reports for its task.
    pub async fn set_outputs(
        &self,
        id: &str,
        node_id: &str,
        files: &[OutputFile],
        now: i64,
    ) -> Result<bool, HubError> {
        let done = sqlx::query(
            "UPDATE tasks SET outputs = $1, updated_at = $2 WHERE id = $3 AND node_id = $4",
        )
        .bind(json(&files))
        .bind(now)
        .bind(id)
        .bind(node_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- logs ----

    /// Appends `data` at byte `offset` of the task's log.
    ///
    /// Bytes the hub already holds are skipped, so a repeated append is a
    /// no-op; an append that starts past the end is refused with the length
    /// the hub holds, so the sender can resend from there.
    pub async fn append_log(
        &self,
        id: &str,
        offset: u64,
        data: &[u8],
        now: i64,
    ) -> Result<Append, HubError> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT log_size FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let committed = row.try_get::<i64, _>("log_size")? as u64;
        if offset > committed {
            return Ok(Append::Gap(committed));
        }
        let end = offset + data.len() as u64;
        if end <= committed {
            return Ok(Append::Stored(committed));
        }
        let fresh = &data[(committed - offset) as usize..];
        sqlx::query("INSERT INTO log_chunks (task_id, start, size, data) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(committed as i64)
            .bind(fresh.len() as i64)
            .bind(fresh.to_vec())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE tasks SET log_size = $1, updated_at = $2 WHERE id = $3")
            .bind(end as i64)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Append::Stored(end))
    }

    /// Up to `max` bytes of the task's log from byte `offset`, and the log's length.
    pub async fn read_log(
        &self,
        id: &str,
        offset: u64,
        max: u64,
    ) -> Result<(Vec<u8>, u64), HubError> {
        let size_row = sqlx::query("SELECT log_size FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
        let size = size_row.try_get::<i64, _>("log_size")? as u64;
        let end = size.min(offset.saturating_add(max));
        if offset >= end {
            return Ok((Vec::new(), size));
        }
        let rows = sqlx::query(
            "SELECT start, data FROM log_chunks WHERE task_id = $1 AND start < $2 AND start + size > $3 ORDER BY start",
        )
        .bind(id)
        .bind(end as i64)
        .bind(offset as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity((end - offset) as usize);
        for row in rows {
            let start = row.try_get::<i64, _>("start")? as u64;
            let data: Vec<u8> = row.try_get("data")?;
            let from = offset.saturating_sub(start) as usize;
            let to = ((end - start) as usize).min(data.len());
            if from < to {
                out.extend_from_slice(&data[from..to]);
            }
        }
        Ok((out, size))
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

async fn set_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    state: TaskState,
    reason: Option<&str>,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query(
        "UPDATE tasks SET state = $1, reason = COALESCE($2, reason), updated_at = $3, \
         started_at = CASE WHEN $1 = 'running' THEN COALESCE(started_at, $3) ELSE started_at END, \
         finished_at = CASE WHEN $1 IN ('succeeded', 'failed', 'canceled') THEN $3 ELSE finished_at END, \
         pending_command = CASE WHEN $1 IN ('succeeded', 'failed', 'canceled') THEN NULL ELSE pending_command END \
         WHERE id = $4",
    )
    .bind(state.as_str())
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    add_transition(tx, id, state, reason, now).await
}

async fn requeue(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    now: i64,
    reason: &str,
) -> Result<(), HubError> {
    sqlx::query(
        "UPDATE tasks SET state = 'queued', node_id = NULL, assigned_at = NULL, accepted_at = NULL, \
         pending_command = NULL, updated_at = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    add_transition(tx, id, TaskState::Queued, Some(reason), now).await
}

async fn set_pending(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    command: Option<CommandKind>,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query("UPDATE tasks SET pending_command = $1, updated_at = $2 WHERE id = $3")
        .bind(command.map(CommandKind::as_str))
        .bind(now)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn add_transition(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    state: TaskState,
    reason: Option<&str>,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query(
        "INSERT INTO task_transitions (task_id, at, state, reason) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(now)
    .bind(state.as_str())
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn task_from_row(row: &AnyRow) -> Result<Task, HubError> {
    let pull_done: Option<i64> = row.try_get("pull_done")?;
    let pull_total: Option<i64> = row.try_get("pull_total")?;
    let state = parse_state(&row.try_get::<String, _>("state")?)?;
    let pending: Option<String> = row.try_get("pending_command")?;
    Ok(Task {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        state,
        spec: parse_json(&row.try_get::<String, _>("spec")?)?,
        node: row.try_get("node_name")?,
        exit_code: row.try_get("exit_code")?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        started_at: row.try_get("started_at")?,
        finished_at: row.try_get("finished_at")?,
        log_size: row.try_get::<i64, _>("log_size")?.max(0) as u64,
        pending_command: pending.as_deref().and_then(CommandKind::parse),
        pull_progress: match (pull_done, pull_total) {
            (Some(done), Some(total)) if state == TaskState::Pulling => Some(PullProgress {
                done: done.max(0) as u64,
                total: total.max(0) as u64,
            }),
            _ => None,
        },
        outputs: parse_json(&row.try_get::<String, _>("outputs")?)?,
        history: Vec::new(),
    })
}

fn parse_state(text: &str) -> Result<TaskState, HubError> {
    TaskState::from_str(text).map_err(|e| HubError::Corrupt(e.to_string()))
}

fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("wire types always serialize")
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, HubError> {
    serde_json::from_str(text)
        .map_err(|e| HubError::Corrupt(format!("a stored JSON value does not read back: {e}")))
}

/// Adds the node row of `add_node` and `renew_node_token`.
async fn insert_node(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    name: &str,
    labels: &[String],
    now: i64,
) -> Result<(), HubError> {
    sqlx::query("INSERT INTO nodes (id, name, labels, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(name)
        .bind(json(&labels))
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Stores a node token's hash.
async fn insert_node_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    token: &str,
    name: &str,
    node_id: &str,
    now: i64,
) -> Result<(), HubError> {
    sqlx::query(
        "INSERT INTO tokens (hash, kind, name, node_id, created_at) VALUES ($1, 'node', $2, $3, $4)",
    )
    .bind(hash_token(token))
    .bind(name)
    .bind(node_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://gantry:s3cret@db:5432/hub"),
            "postgres://gantry:***@db:5432/hub"
        );
        assert_eq!(
            redact_url("postgres://gantry@db/hub"),
            "postgres://gantry@db/hub"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
