//! A real hub on a real socket (127.0.0.1, port 0), on SQLite in a temp dir or
//! on a fresh PostgreSQL database, and a small client that speaks raw HTTP.

#![allow(dead_code)]

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
            async fn sqlite() { super::$name($crate::common::Backend::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { super::$name($crate::common::Backend::Postgres).await }
        }
    )* };
}

pub struct TestHub {
    pub url: String,
    pub hub: Hub,
    pub clock: Arc<ManualClock>,
    pub admin: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    postgres: Option<(String, String)>,
    pub dir: tempfile::TempDir,
}

/// The PostgreSQL server for tests, if one was set up (`cargo xtask test` does).
fn postgres_admin_url() -> Option<String> {
    match std::env::var("GANTRY_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("GANTRY_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!(
                "GANTRY_TEST_POSTGRES is not set, and GANTRY_REQUIRE_SERVICES=1 forbids skipping PostgreSQL tests"
            )
        }
        _ => None,
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
            Backend::Postgres => {
                let Some(admin_url) = postgres_admin_url() else {
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
                let base = admin_url.rsplit_once('/').map(|(base, _)| base).unwrap();
                Some((admin_url.clone(), format!("{base}/{name}")))
            }
        };
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let hub = Hub::open(
            dir.path(),
            postgres.as_ref().map(|(_, url)| url.as_str()),
            config,
            clock.clone() as Arc<dyn Clock>,
        )
        .await
        .unwrap();
        let admin = hub
            .db()
            .create_admin_token("tester", hub.now())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(gantry_hub::serve(listener, hub.clone(), async move {
            let _ = stopped.await;
        }));
        Some(TestHub {
            url,
            hub,
            clock,
            admin,
            http: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), server)
                .await
                .expect("the hub stops within 30 s")
                .unwrap()
                .unwrap();
        }
        if let Some((admin_url, url)) = self.postgres.take() {
            let name = url.rsplit('/').next().unwrap().to_owned();
            if let Ok(mut conn) = sqlx::AnyConnection::connect(&admin_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
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
