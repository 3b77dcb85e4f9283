//! A task's GPU use as its node's heartbeats carry it (issue 17), over real
//! sockets on SQLite and PostgreSQL: kept on the task and answered in
//! `GET /v1/tasks/{id}` (and the OpenAPI document), the latest figures
//! replacing the ones before, only for the node's own tasks; figures no
//! node could have measured are refused in words and change nothing.

use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both!(
    heartbeats_carry_a_tasks_gpu_use,
    only_the_holding_node_reports_gpu_use,
    nonsense_gpu_use_is_refused,
);

/// Submits a task and has `token`'s node take it and run it.
async fn running_on(hub: &TestHub, token: &str) -> String {
    let id = hub
        .submit(json!({"image": "x", "resources": {"gpus": 1}}))
        .await;
    assert_eq!(hub.next(token, 0).await.as_deref(), Some(id.as_str()));
    for event in [json!({"event": "accepted"}), json!({"event": "running"})] {
        assert_eq!(hub.event(token, &id, event).await.status(), StatusCode::OK);
    }
    id
}

/// GPU use as an agent sends it (and the hub answers it: `ended` only when true).
fn figures(memory: u64, energy_wh: f64, ended: bool) -> Value {
    let mut used = json!({"gpus": 1, "gpu_seconds": 12.5, "memory_bytes": memory,
        "memory_peak_bytes": 3u64 << 30, "utilization_percent": 40,
        "utilization_mean_percent": 35.5, "energy_wh": energy_wh,
        "since": 1_700_000_000_000i64, "sampled_at": 1_700_000_012_500i64});
    if ended {
        used["ended"] = json!(true);
    }
    used
}

async fn beat(hub: &TestHub, token: &str, id: &str, used: Value) -> reqwest::Response {
    let tasks = json!([{"id": id, "state": "running"}]);
    hub.post(
        token,
        "/v1/agent/heartbeat",
        &json!({"tasks": tasks, "gpu_use": {id: used}}),
    )
    .await
}

async fn heartbeats_carry_a_tasks_gpu_use(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("gpu", &[]).await;
    let id = running_on(&hub, &node).await;
    assert_eq!(
        hub.show(&id).await.get("gpu_use"),
        None,
        "none until reported"
    );
    assert_eq!(
        beat(&hub, &node, &id, figures(2 << 30, 0.5, false))
            .await
            .status(),
        StatusCode::OK
    );
    let shown = hub.show(&id).await;
    assert_eq!(shown["gpu_use"], figures(2 << 30, 0.5, false));
    // The final figures replace them, and the series stays with the node.
    let mut last = figures(1 << 30, 0.75, true);
    last["series"] = json!([{"at": 1_700_000_001_000i64, "memory_bytes": 1u64 << 30}]);
    assert_eq!(beat(&hub, &node, &id, last).await.status(), StatusCode::OK);
    let shown = hub.show(&id).await;
    assert_eq!(shown["gpu_use"], figures(1 << 30, 0.75, true));
    // In lists too.
    let listed: Value = hub.get(&hub.admin, "/v1/tasks").await.json().await.unwrap();
    assert_eq!(listed["tasks"][0]["gpu_use"]["energy_wh"], 0.75);

    // The document says what the field holds.
    let doc: Value = hub.get("", "/v1/openapi.json").await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["Task"]["properties"]["gpu_use"]
            .to_string()
            .contains("TaskGpuUse"),
        "{}",
        schemas["Task"]["properties"]["gpu_use"]
    );
    for field in [
        "gpu_seconds",
        "energy_wh",
        "memory_peak_bytes",
        "utilization_mean_percent",
    ] {
        assert!(
            schemas["TaskGpuUse"]["properties"].get(field).is_some(),
            "{field}"
        );
    }
    hub.stop().await;
}

async fn only_the_holding_node_reports_gpu_use(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let holder = hub.registered_node("holder", &[]).await;
    let other = hub.registered_node("other", &[]).await;
    let id = running_on(&hub, &holder).await;
    let response = hub
        .post(
            &other,
            "/v1/agent/heartbeat",
            &json!({"gpu_use": {&id: figures(1 << 30, 1.0, false)}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(hub.show(&id).await.get("gpu_use"), None);
    hub.stop().await;
}

async fn nonsense_gpu_use_is_refused(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("gpu", &[]).await;
    let id = running_on(&hub, &node).await;
    let mut busy = figures(1 << 30, 1.0, false);
    busy["utilization_percent"] = json!(140);
    let body = expect_error(
        beat(&hub, &node, &id, busy).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("gpu_use") && message.contains("percent from 0 to 100"),
        "{message}"
    );
    let mut negative = figures(1 << 30, 1.0, false);
    negative["gpu_seconds"] = json!(-3.0);
    expect_error(
        beat(&hub, &node, &id, negative).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_eq!(hub.show(&id).await.get("gpu_use"), None);
    hub.stop().await;
}
