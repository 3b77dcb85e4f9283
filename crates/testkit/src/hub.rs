//! A real hub in the test's own process: opened on SQLite in a temp dir or
//! on a fresh PostgreSQL database, served on a real socket (127.0.0.1, port
//! 0), and a small client that speaks raw HTTP to it.
//!
//! In process rather than as a child, so a test can reach behind the API
//! (the database, a [`ManualClock`] to expire nodes without sleeping) and
//! still talk to the server the way an agent does.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gantry_hub::{Clock, Hub, HubConfig, ManualClock};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use sqlx::Connection;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { super::$name($crate::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name($crate::Backend::Postgres).await }
        }
    )* };
}

/// Opens a hub in `dir` (on the PostgreSQL database at `database` when
/// given) and makes it an admin token; returns both.
pub async fn open(
    dir: &Path,
    database: Option<&str>,
    config: HubConfig,
    clock: Arc<dyn Clock>,
) -> (Hub, String) {
    let hub = Hub::open(dir, database, config, clock).await.unwrap();
    let admin = hub
        .db()
        .create_admin_token("tester", hub.now())
        .await
        .unwrap();
    (hub, admin)
}

/// A hub served on a free port of 127.0.0.1 until [`Serving::stop`].
#[derive(Debug)]
pub struct Serving {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Serving {
    /// Binds a listener and serves `hub` on it.
    pub async fn start(hub: Hub) -> Serving {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gantry_hub::serve(listener, hub, async move {
            let _ = stopped.await;
        }));
        Serving { url, stop, server }
    }

    /// Shuts the server down and waits for it (30 s at most); returns what
    /// `serve` returned, or the server task's panic.
    pub async fn stop(self) -> Result<std::io::Result<()>, tokio::task::JoinError> {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(30), self.server)
            .await
            .expect("the hub stops within 30 s")
    }
}

/// A hub with short timings and a raw HTTP client.
#[derive(Debug)]
pub struct TestHub {
    pub url: String,
    pub hub: Hub,
    pub clock: Arc<ManualClock>,
    pub admin: String,
    http: reqwest::Client,
    serving: Option<Serving>,
    postgres: Option<Database>,
    pub dir: tempfile::TempDir,
}

/// A fresh PostgreSQL database of one test's own, on the test server.
/// A PostgreSQL database of one test's own on the test server, made fresh
/// and dropped at the end.
#[derive(Debug)]
pub struct Database {
    /// The server's URL for administration (creating and dropping databases).
    admin_url: String,
    name: String,
}

impl Database {
    /// Creates one; `None` when no PostgreSQL server was set up (the test
    /// then says it was skipped).
    pub async fn create() -> Option<Database> {
        let Some(admin_url) = crate::services::postgres_admin_url() else {
            eprintln!(
                "SKIPPED: set GANTRY_TEST_POSTGRES (cargo xtask test does) to run the PostgreSQL variant"
            );
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!("gantry_test_{}", uuid_simple());
        let mut conn = sqlx::AnyConnection::connect(&admin_url)
            .await
            .expect("connect to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        Some(Database { admin_url, name })
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database's own URL.
    pub fn url(&self) -> String {
        self.url_with("")
    }

    /// The database's URL with `query` (e.g. `sslmode=require`) when not empty.
    pub fn url_with(&self, query: &str) -> String {
        let base = self.admin_url.split('?').next().unwrap_or_default();
        let (server, _) = base.rsplit_once('/').unwrap();
        match query {
            "" => format!("{server}/{}", self.name),
            query => format!("{server}/{}?{query}", self.name),
        }
    }

    /// Drops the database.
    pub async fn drop_it(self) {
        if let Ok(mut conn) = sqlx::AnyConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn)
            .await;
        }
    }
}

impl TestHub {
    /// A hub with short timings; `None` when PostgreSQL is asked for and absent
    /// (the test then says it was skipped).
    pub async fn start(backend: Backend) -> Option<TestHub> {
        TestHub::start_with(
            backend,
            HubConfig {
                offline_after: Duration::from_secs(60),
                accept_within: Duration::from_secs(120),
                check_every: Duration::from_secs(3600),
                ..HubConfig::default()
            },
        )
        .await
    }

    pub async fn start_with(backend: Backend, config: HubConfig) -> Option<TestHub> {
        let dir = tempfile::tempdir().unwrap();
        let postgres = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Database::create().await?),
        };
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let database = postgres.as_ref().map(Database::url);
        let (hub, admin) = open(
            dir.path(),
            database.as_deref(),
            config,
            clock.clone() as Arc<dyn Clock>,
        )
        .await;
        let serving = Serving::start(hub.clone()).await;
        Some(TestHub {
            url: serving.url.clone(),
            hub,
            clock,
            admin,
            http: reqwest::Client::new(),
            serving: Some(serving),
            postgres,
            dir,
        })
    }

    /// Adds a node and returns its token.
    pub async fn node(&self, name: &str, labels: &[&str]) -> String {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        self.hub
            .db()
            .add_node(name, &labels, self.hub.now())
            .await
            .unwrap()
    }

    /// Adds a node and registers it with an empty inventory.
    pub async fn registered_node(&self, name: &str, labels: &[&str]) -> String {
        let token = self.node(name, labels).await;
        let response = self
            .post(
                &token,
                "/v1/agent/register",
                &serde_json::json!({"version": "test"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        token
    }

    pub fn request(&self, method: Method, token: &str, path: &str) -> RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .timeout(Duration::from_secs(60));
        if token.is_empty() {
            request
        } else {
            request.bearer_auth(token)
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Response {
        self.request(Method::GET, token, path).send().await.unwrap()
    }

    pub async fn post(&self, token: &str, path: &str, body: &Value) -> Response {
        self.request(Method::POST, token, path)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Submits a job as the admin and returns its id.
    pub async fn submit(&self, job: Value) -> String {
        let response = self.post(&self.admin, "/v1/tasks", &job).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{}",
            response.text().await.unwrap()
        );
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// One long-poll for work; the task's id, or `None` on 204.
    pub async fn next(&self, token: &str, wait_secs: u64) -> Option<String> {
        let response = self
            .get(token, &format!("/v1/agent/next?wait={wait_secs}"))
            .await;
        match response.status() {
            StatusCode::NO_CONTENT => None,
            StatusCode::OK => Some(
                response.json::<Value>().await.unwrap()["task"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            ),
            other => panic!("next answered {other}: {}", response.text().await.unwrap()),
        }
    }

    pub async fn event(&self, token: &str, id: &str, event: Value) -> Response {
        self.post(token, &format!("/v1/tasks/{id}/events"), &event)
            .await
    }

    pub async fn append(&self, token: &str, id: &str, offset: u64, bytes: &[u8]) -> Response {
        self.request(
            Method::POST,
            token,
            &format!("/v1/tasks/{id}/log?offset={offset}"),
        )
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
    }

    pub async fn show(&self, id: &str) -> Value {
        let response = self.get(&self.admin, &format!("/v1/tasks/{id}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    pub async fn state(&self, id: &str) -> String {
        self.show(id).await["state"].as_str().unwrap().to_owned()
    }

    pub async fn log(&self, id: &str) -> Vec<u8> {
        let response = self.get(&self.admin, &format!("/v1/tasks/{id}/log")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap().to_vec()
    }

    /// Stops the server, waits for it, and drops the PostgreSQL database.
    pub async fn stop(mut self) {
        if let Some(serving) = self.serving.take() {
            serving.stop().await.unwrap().unwrap();
        }
        if let Some(database) = self.postgres.take() {
            database.drop_it().await;
        }
    }
}

fn uuid_simple() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// Reads an error body and checks its code.
pub async fn expect_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "wanted {status} {code}");
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| m.len() > 10),
        "a sentence: {body}"
    );
    body
}
