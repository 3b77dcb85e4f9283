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
//!
//! [`Db`] is one type whose methods live by the tables they serve: tokens
//! (enrolling nodes and admins, finding a caller), nodes (register,
//! heartbeats, silence), administration (rename, labels, remove, rotate,
//! revoke, and why a token is refused), the console's sessions, tasks (the queue and each task's life) and logs.
//! This file holds the connection, the migrations, the write lock and the
//! text conversions every part shares.
//!
//! Architecture invariant: every SQL statement of the hub is in this folder.

mod admin;
mod capacity;
mod data;
mod dispatch;
mod gpu_use;
mod log_times;
mod logs;
mod metrics;
mod nodes;
mod sessions;
mod task_pages;
mod tasks;
mod tokens;
mod usage;

use std::str::FromStr;
use std::time::Duration;

use gantry_protocol::TaskState;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};
use tokio::sync::Mutex;

use crate::HubError;

pub use admin::{Revocation, RevokedFor};
pub use capacity::Room;
pub use data::TaskNode;
pub use dispatch::Checkpoint;
pub use logs::Append;
pub use metrics::Gauges;
pub use nodes::{Beat, Checked, Mode, NodeRecord};
pub use sessions::{Session, SessionFound};
pub use task_pages::{TaskFilter, TaskPage};
pub use tasks::{CommandOutcome, EventOutcome};
pub use tokens::Caller;

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
}

/// A task state as stored; an unknown one means the database is corrupt.
fn parse_state(text: &str) -> Result<TaskState, HubError> {
    TaskState::from_str(text).map_err(|e| HubError::Corrupt(e.to_string()))
}

/// The TEXT a JSON column stores.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("wire types always serialize")
}

/// A JSON column read back; text that does not parse means the database is corrupt.
fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, HubError> {
    serde_json::from_str(text)
        .map_err(|e| HubError::Corrupt(format!("a stored JSON value does not read back: {e}")))
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
