//! The hub against its own OpenAPI document, fuzzed by schemathesis over a
//! real socket, on SQLite and on PostgreSQL.
//!
//! The invariant under test: the hub accepts nothing its document calls
//! invalid, and refuses nothing the document calls valid (except with 422,
//! which says a rule the document cannot state was broken: a blob's hash, a
//! blob the hub lacks), and never answers 5xx. Schemathesis generates
//! requests from the served document in both directions (valid and
//! invalid data) and checks each answer's status and body against it.
//!
//! People's routes run with an admin token and the agents' routes with a
//! node token, so both are reached. The run is bounded (examples per
//! operation and seconds) and seeded: a failure names its seed and
//! reproduces with `GANTRY_FUZZ_SEED=N`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use gantry_hub::HubConfig;
use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both!(
    the_hub_keeps_its_document,
    rules_stated_and_kept_without_the_fuzzer
);

/// The seed when `GANTRY_FUZZ_SEED` does not say one.
const SEED: &str = "15";

/// The checks run on every answer (schemathesis 4 names).
const CHECKS: &str = "not_a_server_error,status_code_conformance,response_schema_conformance,negative_data_rejection,positive_data_acceptance";

/// Schemathesis's configuration: which token each route gets (read from the
/// environment, so no token is written to disk) and that 422 is an answer to
/// valid data, for the rules no schema can state.
const CONFIG: &str = r#"
headers = { Authorization = "Bearer ${GANTRY_FUZZ_ADMIN}" }

[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]

[[operations]]
include-path-regex = "^/v1/agent/"
headers = { Authorization = "Bearer ${GANTRY_FUZZ_NODE}" }

[[operations]]
include-operation-id-regex = "^(POST /v1/tasks/\\{id\\}/(events|log)|PUT /v1/tasks/\\{id\\}/outputs)$"
headers = { Authorization = "Bearer ${GANTRY_FUZZ_NODE}" }

# A followed log stays open until its task ends, which no fuzzed task does;
# hub.rs tests following.
[[operations]]
include-operation-id = "GET /v1/tasks/{id}/log"
parameters = { "query.follow" = "false" }

# The event stream stays open until the hub stops; live.rs tests it.
[[operations]]
include-operation-id = "GET /v1/events"
enabled = false
"#;

async fn the_hub_keeps_its_document(backend: Backend) {
    let Some(schemathesis) = gantry_testkit::services::schemathesis() else {
        return;
    };
    let config = HubConfig {
        // Long polls answer within a second, so the fuzzer spends its time on requests.
        max_wait: Duration::from_secs(1),
        offline_after: Duration::from_secs(60),
        accept_within: Duration::from_secs(120),
        check_every: Duration::from_secs(3600),
        ..HubConfig::default()
    };
    let Some(hub) = TestHub::start_with(backend, config).await else {
        return;
    };
    let node = hub.registered_node("fuzz", &["gpu"]).await;
    let dir = hub.dir.path().to_path_buf();
    std::fs::write(dir.join("schemathesis.toml"), CONFIG).unwrap();
    let seed = std::env::var("GANTRY_FUZZ_SEED").unwrap_or_else(|_| SEED.into());
    let document = format!("{}/v1/openapi.json", hub.url);
    let (admin, run_seed) = (hub.admin.clone(), seed.clone());
    let output = tokio::task::spawn_blocking(move || {
        fuzz(&schemathesis, &dir, &document, &admin, &node, &run_seed)
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let said = format!("{stdout}\n{stderr}");
    // Schemathesis ran requests at all: a run that reached nothing passes nothing.
    assert!(
        said.contains("Test cases:") && said.contains("generated"),
        "schemathesis did not run its tests:\n{said}"
    );
    assert!(
        output.status.success(),
        "schemathesis found mismatches between the hub and its document \
         (seed {seed}; rerun with GANTRY_FUZZ_SEED={seed}):\n{}",
        tail(&said, 200_000)
    );
    hub.stop().await;
}

/// Runs schemathesis against `document`, bounded, and returns what it said.
fn fuzz(
    schemathesis: &Path,
    dir: &Path,
    document: &str,
    admin: &str,
    node: &str,
    seed: &str,
) -> std::process::Output {
    Command::new(schemathesis)
        .arg("--config-file")
        .arg(dir.join("schemathesis.toml"))
        .args(["--no-color", "run", document])
        .args(["--checks", CHECKS])
        .args(["--max-examples", "25", "--max-time", "40"])
        .args(["--request-timeout", "10", "--seed", seed])
        .args(["--suppress-health-check", "all"])
        .env("GANTRY_FUZZ_ADMIN", admin)
        .env("GANTRY_FUZZ_NODE", node)
        .env("NO_PROXY", "127.0.0.1,localhost")
        // Hypothesis keeps its example database in the working folder: the test's own.
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("start schemathesis")
}

/// The last `limit` bytes of `text`, on a character boundary.
fn tail(text: &str, limit: usize) -> &str {
    let mut start = text.len().saturating_sub(limit);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// The rules the fuzzer relies on, checked directly so that they hold where
/// schemathesis is not installed: the document states them, and the hub
/// keeps them with 400 (stated) or 422 (no schema can state it).
async fn rules_stated_and_kept_without_the_fuzzer(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let document: Value = hub
        .get(&hub.admin, "/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let param = |path: &str, method: &str, name: &str| -> Value {
        document["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["schema"]
            .clone()
    };
    assert_eq!(
        param("/v1/blobs/{sha256}", "get", "sha256")["pattern"],
        "^[0-9a-f]{64}$"
    );
    let limit = param("/v1/tasks", "get", "limit");
    assert_eq!(
        (limit["minimum"].clone(), limit["maximum"].clone()),
        (json!(1), json!(1000))
    );
    assert_eq!(
        param("/v1/tasks", "get", "state")["enum"]
            .as_array()
            .unwrap()
            .len(),
        9
    );
    let job = &document["components"]["schemas"]["JobSpec"];
    assert_eq!(job["properties"]["image"]["pattern"], "^[!-~]+$");
    assert!(
        job["properties"]["labels"]["items"]["pattern"].is_string(),
        "{job}"
    );

    // The hub refuses what the document calls invalid, as it says.
    for query in ["limit=0", "limit=1001", "state=done"] {
        expect_error(
            hub.get(&hub.admin, &format!("/v1/tasks?{query}")).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    let yaml = |text: &'static str| {
        hub.request(Method::POST, &hub.admin, "/v1/tasks")
            .header("content-type", "application/yaml")
            .body(text)
            .send()
    };
    let body = expect_error(
        yaml("image: false\ncommand: [echo]\n").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_job",
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("image: invalid type: boolean `false`") && message.contains("in quotes"),
        "{message}"
    );
    // The same value quoted is text, and the job is taken.
    assert_eq!(
        yaml("image: \"false\"\ncommand: [echo]\n")
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    // A rule no schema states (a path given twice) is 422, not 400.
    let twice = json!({"image": "busybox", "files": [
        {"path": "a.txt", "content": "1"}, {"path": "a.txt", "content": "2"}]});
    expect_error(
        hub.post(&hub.admin, "/v1/tasks", &twice).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_job",
    )
    .await;
    hub.stop().await;
}
