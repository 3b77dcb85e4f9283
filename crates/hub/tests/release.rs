//! A task its node gives back when it steps aside for its person
//! (`TaskEvent::Released`, issue 17), over real sockets on SQLite and
//! PostgreSQL: back to the queue with its history and log, its checkpoint
//! readable by the node that takes it next and by no other; a waiting cancel
//! ends it instead; only the holding node may release it, and not once it ended;
//! the node that gave it back may still read it (to learn when it ended), no other.

use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

on_both!(
    a_released_task_is_queued_again_with_its_checkpoint,
    a_checkpoint_must_be_on_the_hub,
    a_waiting_cancel_ends_a_released_task,
    only_the_holding_node_releases_a_live_task,
    a_node_reads_a_task_it_gave_back,
);

const WHY: &str = "yielding: you are using this computer";

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Puts `bytes` on the hub with `token` (a node uploads its checkpoint); returns the sha256.
async fn put(hub: &TestHub, token: &str, bytes: &[u8]) -> String {
    let sha = sha(bytes);
    let response = hub
        .request(Method::PUT, token, &format!("/v1/blobs/{sha}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    sha
}

/// A folder manifest of one file.
fn manifest(path: &str, sha256: &str, size: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({"format": "gantry-tree/1",
        "files": [{"path": path, "sha256": sha256, "size": size}]}))
    .unwrap()
}

fn released(checkpoint: Option<&str>) -> Value {
    match checkpoint {
        Some(tree) => json!({"event": "released", "reason": WHY, "checkpoint": tree}),
        None => json!({"event": "released", "reason": WHY}),
    }
}

/// Submits a task and has `token`'s node take it and run it.
async fn running_on(hub: &TestHub, token: &str) -> String {
    let id = hub.submit(json!({"image": "x"})).await;
    assert_eq!(hub.next(token, 0).await.as_deref(), Some(id.as_str()));
    for event in [json!({"event": "accepted"}), json!({"event": "running"})] {
        assert_eq!(hub.event(token, &id, event).await.status(), StatusCode::OK);
    }
    id
}

async fn a_released_task_is_queued_again_with_its_checkpoint(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let first = hub.registered_node("first", &[]).await;
    let next = hub.registered_node("next", &[]).await;
    let third = hub.registered_node("third", &[]).await;
    let id = running_on(&hub, &first).await;
    let log = b"step 1\nstep 2\n";
    assert_eq!(
        hub.append(&first, &id, 0, log).await.status(),
        StatusCode::OK
    );

    let step = put(&hub, &first, b"2").await;
    let tree = put(&hub, &first, &manifest("step", &step, 1)).await;
    let checkpoint = format!("tree:{tree}");
    let ack = hub.event(&first, &id, released(Some(&checkpoint))).await;
    assert_eq!(ack.status(), StatusCode::OK);
    assert_eq!(ack.json::<Value>().await.unwrap()["state"], "queued");

    let task = hub.show(&id).await;
    assert_eq!(task["state"], "queued");
    assert_eq!(task["node"], Value::Null);
    assert_eq!(task["checkpoint"], checkpoint.as_str());
    assert_eq!(task["log_size"], log.len());
    let last = task["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (&last["state"], &last["reason"]),
        (&json!("queued"), &json!(WHY))
    );
    assert_eq!(hub.log(&id).await, log, "the hub keeps the log");

    // The node that takes it next gets the checkpoint and may read it; a third may not.
    let assigned: Value = hub
        .get(&next, "/v1/agent/next?wait=0")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(assigned["task"]["id"], id.as_str());
    assert_eq!(assigned["task"]["checkpoint"], checkpoint.as_str());
    assert_eq!(assigned["task"]["log_size"], log.len());
    for blob in [&tree, &step] {
        let response = hub.get(&next, &format!("/v1/blobs/{blob}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{blob}");
        expect_error(
            hub.get(&third, &format!("/v1/blobs/{blob}")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // The next run continues the log, then ends; a release after the end is refused.
    assert_eq!(
        hub.append(&next, &id, log.len() as u64, b"step 3\n")
            .await
            .status(),
        StatusCode::OK
    );
    let done = json!({"event": "finished", "exit_code": 0});
    assert_eq!(hub.event(&next, &id, done).await.status(), StatusCode::OK);
    expect_error(
        hub.event(&next, &id, released(None)).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(hub.state(&id).await, "succeeded");
    assert_eq!(hub.log(&id).await, b"step 1\nstep 2\nstep 3\n");
    hub.stop().await;
}

async fn a_checkpoint_must_be_on_the_hub(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("node", &[]).await;
    let id = running_on(&hub, &node).await;
    let absent = sha(b"never uploaded");
    let tree = put(&hub, &node, &manifest("weights.bin", &absent, 14)).await;
    let refused = expect_error(
        hub.event(&node, &id, released(Some(&format!("tree:{tree}"))))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "blob_missing",
    )
    .await;
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("weights.bin") && message.contains(&absent),
        "{message}"
    );
    let no_manifest = sha(b"no manifest");
    expect_error(
        hub.event(&node, &id, released(Some(&format!("tree:{no_manifest}"))))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "blob_missing",
    )
    .await;
    assert_eq!(
        hub.state(&id).await,
        "running",
        "a refused release changes nothing"
    );
    // Without a checkpoint it goes back to the queue.
    assert_eq!(
        hub.event(&node, &id, released(None)).await.status(),
        StatusCode::OK
    );
    let task = hub.show(&id).await;
    assert_eq!(
        (&task["state"], &task["checkpoint"]),
        (&json!("queued"), &Value::Null)
    );
    hub.stop().await;
}

async fn a_waiting_cancel_ends_a_released_task(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("node", &[]).await;
    let id = running_on(&hub, &node).await;
    let cancel = hub
        .post(&hub.admin, &format!("/v1/tasks/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(cancel.status(), StatusCode::OK);
    let ack = hub.event(&node, &id, released(None)).await;
    assert_eq!(ack.status(), StatusCode::OK);
    assert_eq!(ack.json::<Value>().await.unwrap()["state"], "canceled");
    let task = hub.show(&id).await;
    assert_eq!(task["state"], "canceled");
    assert_eq!(task["pending_command"], Value::Null);
    assert!(task["reason"].as_str().unwrap().contains(WHY), "{task}");
    assert_eq!(hub.next(&node, 0).await, None, "it is not queued again");
    hub.stop().await;
}

async fn only_the_holding_node_releases_a_live_task(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let holder = hub.registered_node("holder", &[]).await;
    let other = hub.registered_node("other", &[]).await;
    let id = running_on(&hub, &holder).await;
    expect_error(
        hub.event(&other, &id, released(None)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(hub.state(&id).await, "running");
    // A paused task may be released; once released, the node holds it no more.
    assert_eq!(
        hub.event(&holder, &id, json!({"event": "paused"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        hub.event(&holder, &id, released(None)).await.status(),
        StatusCode::OK
    );
    expect_error(
        hub.event(&holder, &id, released(None)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The queue rings a waiting node: the other one takes it.
    assert_eq!(hub.next(&other, 1).await.as_deref(), Some(id.as_str()));
    hub.stop().await;
}

async fn a_node_reads_a_task_it_gave_back(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let gave = hub.registered_node("gave", &[]).await;
    let took = hub.registered_node("took", &[]).await;
    let stranger = hub.registered_node("stranger", &[]).await;
    let id = running_on(&hub, &gave).await;
    let path = format!("/v1/tasks/{id}");
    expect_error(
        hub.get(&stranger, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Given back with what the run used, as agents report it.
    let usage = json!({"wall_seconds": 2.0, "cpu_seconds": 1.0});
    let mut release = released(None);
    release["usage"] = usage;
    assert_eq!(
        hub.event(&gave, &id, release).await.status(),
        StatusCode::OK
    );
    let seen = |token: &str| {
        let (hub, path) = (&hub, &path);
        let token = token.to_owned();
        async move {
            let response = hub.get(&token, path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.json::<Value>().await.unwrap()
        }
    };
    assert_eq!(seen(&gave).await["state"], "queued");
    // Taken and ended on another node: the first still sees that it ended.
    assert_eq!(hub.next(&took, 0).await.as_deref(), Some(id.as_str()));
    for event in [json!({"event": "accepted"}), json!({"event": "running"})] {
        assert_eq!(hub.event(&took, &id, event).await.status(), StatusCode::OK);
    }
    let running = seen(&gave).await;
    assert_eq!(
        (&running["state"], &running["node"]),
        (&json!("running"), &json!("took"))
    );
    let done = json!({"event": "finished", "exit_code": 0});
    assert_eq!(hub.event(&took, &id, done).await.status(), StatusCode::OK);
    assert_eq!(seen(&gave).await["state"], "succeeded");
    assert_eq!(seen(&took).await["state"], "succeeded");
    // Reading is all: its log, its outputs and its events stay the holder's.
    for path in [
        format!("/v1/tasks/{id}/log"),
        format!("/v1/tasks/{id}/outputs"),
    ] {
        expect_error(
            hub.get(&gave, &path).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    expect_error(
        hub.get(&stranger, &path).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    hub.stop().await;
}
