//! Pages of the task list: newest first, filtered by state, node, label and
//! name, and paged by a keyset on (created_at, id) so that page 1,000 costs
//! what page 1 does.
//!
//! The statement is built for the filters given, not written once with
//! `($1 IS NULL OR …)` for each: neither database uses an index for a
//! condition that may be switched off by a parameter. Each filter has an
//! index that yields its tasks in page order (migration `task_indexes`):
//! `tasks (created_at, id)`, `(state, created_at, id)`, `(node_id,
//! created_at, id)`, and for labels the table `task_labels` with `(label,
//! created_at, task_id)`, which drives the query when a label is asked for.
//! The name filter (a substring) has no index on either database; it reads
//! tasks in page order until the page is full (see the statement for why
//! PostgreSQL's is written with `strpos`).

use std::collections::BTreeSet;

use gantry_protocol::TaskState;
use gantry_protocol::console_wire::TaskCursor;
use gantry_protocol::wire::Task;

use super::tasks::{TASK_COLUMNS, task_from_row};
use super::{Backend, Db};
use crate::HubError;

/// Filters for listing tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only tasks in this state.
    pub state: Option<TaskState>,
    /// Only tasks of the node with this name.
    pub node: Option<String>,
    /// Only tasks that ask for this label.
    pub label: Option<String>,
    /// Only tasks whose name holds this text, whatever its case (ASCII
    /// letters on SQLite, whose `lower` knows no others).
    pub name: Option<String>,
    /// Only tasks listed after this cursor (older).
    pub before: Option<TaskCursor>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// One page of tasks.
#[derive(Debug, Clone, Default)]
pub struct TaskPage {
    /// The tasks, newest first, without their history.
    pub tasks: Vec<Task>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<TaskCursor>,
}

/// A value bound to the statement.
enum Bind {
    Text(String),
    Int(i64),
}

impl Db {
    /// A page of the tasks matching `filter`, newest first.
    pub async fn tasks(&self, filter: &TaskFilter) -> Result<TaskPage, HubError> {
        // Text with NUL cannot be bound on PostgreSQL, and no name holds it.
        let has_nul = |text: &Option<String>| text.as_deref().is_some_and(|t| t.contains('\0'));
        if has_nul(&filter.node) || has_nul(&filter.name) || has_nul(&filter.label) {
            return Ok(TaskPage::default());
        }
        let (sql, binds) = self.page_statement(filter);
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut tasks = rows
            .iter()
            .map(task_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let limit = filter.limit as usize;
        let next = if tasks.len() > limit {
            tasks.truncate(limit);
            tasks.last().map(|last| TaskCursor {
                created_at: last.created_at,
                id: last.id.clone(),
            })
        } else {
            None
        };
        Ok(TaskPage { tasks, next })
    }

    /// The statement for `filter` and its values; it asks for one task past
    /// the page, to know whether another page follows.
    fn page_statement(&self, filter: &TaskFilter) -> (String, Vec<Bind>) {
        let mut binds = Vec::new();
        let mut conditions = Vec::new();
        let mut bind = |value: Bind| {
            binds.push(value);
            format!("${}", binds.len())
        };
        // With a label, its index leads: its rows carry the order's columns.
        // CROSS JOIN keeps that order on SQLite, which would otherwise read
        // a state's tasks and sort the matches; PostgreSQL plans it as a join.
        let (from, at, id) = match &filter.label {
            Some(label) => {
                conditions.push("t.id = l.task_id".into());
                conditions.push(format!("l.label = {}", bind(Bind::Text(label.clone()))));
                (
                    "task_labels l CROSS JOIN tasks t",
                    "l.created_at",
                    "l.task_id",
                )
            }
            None => ("tasks t", "t.created_at", "t.id"),
        };
        if let Some(state) = filter.state {
            conditions.push(format!(
                "t.state = {}",
                bind(Bind::Text(state.as_str().into()))
            ));
        }
        if let Some(node) = &filter.node {
            conditions.push(format!(
                "t.node_id = (SELECT id FROM nodes WHERE name = {})",
                bind(Bind::Text(node.clone()))
            ));
        }
        if let Some(name) = &filter.name {
            conditions.push(match self.backend {
                Backend::Sqlite => format!(
                    "lower(t.name) LIKE {} ESCAPE '\\'",
                    bind(Bind::Text(format!(
                        "%{}%",
                        like_escaped(&name.to_ascii_lowercase())
                    )))
                ),
                // Not LIKE: PostgreSQL estimates `LIKE '%…%'` rare and reads
                // every task, then sorts; for `strpos` it assumes a third
                // match, and reads the index in page order until the page
                // is full (0.1 ms instead of 27 ms at 100,000 tasks for a
                // common name; a rare one costs the full read either way).
                Backend::Postgres => format!(
                    "strpos(lower(t.name), {}) > 0",
                    bind(Bind::Text(name.to_lowercase()))
                ),
            });
        }
        if let Some(cursor) = &filter.before {
            let created = bind(Bind::Int(cursor.created_at));
            let last = bind(Bind::Text(cursor.id.clone()));
            conditions.push(format!("({at}, {id}) < ({created}, {last})"));
        }
        let limit = bind(Bind::Int(i64::from(filter.limit) + 1));
        let filters = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM {from} LEFT JOIN nodes n ON n.id = t.node_id \
             {filters} ORDER BY {at} DESC, {id} DESC LIMIT {limit}"
        );
        (sql, binds)
    }

    /// The query plan of the page statement for `filter`, one line per
    /// step, as the database explains it: for tests that the indexes serve.
    pub async fn explain_tasks(&self, filter: &TaskFilter) -> Result<Vec<String>, HubError> {
        use sqlx::Row;
        let (sql, binds) = self.page_statement(filter);
        let explain = match self.backend {
            Backend::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            Backend::Postgres => format!("EXPLAIN {sql}"),
        };
        let mut query = sqlx::query(&explain);
        for bind in binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(int) => query.bind(int),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(match self.backend {
                    // id, parent, notused, detail
                    Backend::Sqlite => row.try_get::<String, _>(3)?,
                    Backend::Postgres => row.try_get::<String, _>(0)?,
                })
            })
            .collect()
    }
}

/// `text` with LIKE's wildcards and the escape character escaped by `\`.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes a task's labels (each once) to `task_labels`, for the label filter.
pub(super) async fn add_task_labels(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    labels: &[String],
    created_at: i64,
) -> Result<(), HubError> {
    let labels: BTreeSet<&String> = labels.iter().collect();
    for label in labels {
        sqlx::query("INSERT INTO task_labels (task_id, label, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(label)
            .bind(created_at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::like_escaped;

    #[test]
    fn wildcards_are_taken_as_text() {
        assert_eq!(like_escaped("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(like_escaped("train"), "train");
    }
}
