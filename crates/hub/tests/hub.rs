//! The hub over real sockets, each test on SQLite and on PostgreSQL.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both!(
    long_poll_returns_on_submit,
    labels_pick_the_node,
    concurrent_polls_take_each_task_once,
    events_are_idempotent,
    log_appends_by_offset,
    log_follow_streams_until_the_end,
    auth_and_isolation,
    silent_node_loses_tasks_and_gets_them_back,
    stale_assignment_is_requeued,
    commands_reach_the_node,
    commands_long_poll_answers_at_once,
    blobs_are_verified,
    malformed_and_oversized_requests,
    nodes_report_system_info,
    outputs_are_recorded,
    shutdown_ends_long_polls,
);

fn job() -> Value {
    json!({"name": "hello", "image": "busybox", "command": ["echo", "hi"]})
}

async fn long_poll_returns_on_submit(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let started = Instant::now();
    let poll = {
        let request = hub.request(Method::GET, &node, "/v1/agent/next?wait=30");
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    // Give the poll time to be waiting before the task exists.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let submitted_at = Instant::now();
    let id = hub.submit(job()).await;
    let response = poll.await.unwrap();
    let dispatch = submitted_at.elapsed();
    // A 200 (not the 204 that ends a 30 s wait) shows the poll was answered by the submit.
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["task"]["id"], id.as_str());
    assert_eq!(body["task"]["state"], "assigned");
    assert_eq!(body["task"]["spec"]["command"], json!(["echo", "hi"]));
    eprintln!(
        "dispatch took {dispatch:?} (poll open {:?})",
        started.elapsed()
    );
    assert_eq!(hub.state(&id).await, "assigned");
    // Nothing else is queued: a short poll ends empty.
    assert_eq!(hub.next(&node, 1).await, None);
    hub.stop().await;
}

async fn labels_pick_the_node(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let cpu = hub.registered_node("cpu-box", &["zone=eu"]).await;
    let gpu = hub.registered_node("gpu-box", &["gpu", "zone=eu"]).await;
    let gpu_task = hub.submit(json!({"image": "x", "labels": ["gpu"]})).await;
    let any_task = hub.submit(json!({"image": "x"})).await;
    // The CPU node skips the older GPU task and takes the one it can run.
    assert_eq!(hub.next(&cpu, 1).await.as_deref(), Some(any_task.as_str()));
    hub.event(&cpu, &any_task, json!({"event": "running"}))
        .await;
    assert_eq!(hub.next(&cpu, 1).await, None);
    assert_eq!(hub.next(&gpu, 1).await.as_deref(), Some(gpu_task.as_str()));
    // A label the agent adds at register counts too.
    let needs_fast = hub
        .submit(json!({"image": "x", "labels": ["fast-disk"]}))
        .await;
    assert_eq!(hub.next(&cpu, 1).await, None);
    let register = json!({"version": "t", "labels": ["fast-disk"], "inventory": [{"id": any_task, "state": "running"}]});
    let response = hub.post(&cpu, "/v1/agent/register", &register).await;
    let registered: Value = response.json().await.unwrap();
    assert_eq!(registered["labels"], json!(["fast-disk", "zone=eu"]));
    assert_eq!(
        hub.next(&cpu, 1).await.as_deref(),
        Some(needs_fast.as_str())
    );
    hub.stop().await;
}

async fn concurrent_polls_take_each_task_once(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let mut tokens = Vec::new();
    for i in 0..4 {
        tokens.push(hub.registered_node(&format!("n{i}"), &[]).await);
    }
    let mut polls = Vec::new();
    for token in &tokens {
        for _ in 0..3 {
            // Long enough that the eight submits below land while the polls
            // wait, even on a loaded CI machine (5 s once missed the last one).
            let request = hub.request(Method::GET, token, "/v1/agent/next?wait=15");
            polls.push(tokio::spawn(async move {
                let response = request.send().await.unwrap();
                if response.status() == StatusCode::OK {
                    Some(
                        response.json::<Value>().await.unwrap()["task"]["id"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    )
                } else {
                    None
                }
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut submitted = BTreeSet::new();
    for _ in 0..8 {
        submitted.insert(hub.submit(job()).await);
    }
    let mut taken = Vec::new();
    for poll in polls {
        if let Some(id) = poll.await.unwrap() {
            taken.push(id);
        }
    }
    let unique: BTreeSet<_> = taken.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        taken.len(),
        "a task was handed out twice: {taken:?}"
    );
    assert_eq!(unique, submitted, "every task was handed out");
    hub.stop().await;
}

async fn events_are_idempotent(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let id = hub.submit(job()).await;
    assert_eq!(hub.next(&node, 1).await.as_deref(), Some(id.as_str()));
    for event in [json!({"event": "accepted"}), json!({"event": "accepted"})] {
        let ack: Value = hub.event(&node, &id, event).await.json().await.unwrap();
        assert_eq!(ack["state"], "assigned");
    }
    let pulling = json!({"event": "pulling", "progress": {"done": 10, "total": 100}});
    assert_eq!(
        hub.event(&node, &id, pulling).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        hub.show(&id).await["pull_progress"],
        json!({"done": 10, "total": 100})
    );
    for _ in 0..2 {
        let ack: Value = hub
            .event(&node, &id, json!({"event": "running"}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ack["state"], "running");
    }
    let fail = json!({"event": "finished", "exit_code": 3});
    for _ in 0..2 {
        let ack: Value = hub
            .event(&node, &id, fail.clone())
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(ack["state"], "failed");
    }
    // A finished task does not move again.
    let body = expect_error(
        hub.event(&node, &id, json!({"event": "running"})).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("failed"),
        "{body}"
    );
    let task = hub.show(&id).await;
    assert_eq!(task["exit_code"], 3);
    assert_eq!(task["reason"], "exited with code 3");
    assert!(task["finished_at"].is_i64() && task["started_at"].is_i64());
    let states: Vec<&str> = task["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["queued", "assigned", "pulling", "running", "failed"],
        "repeats add no history"
    );
    // An unknown event kind is a clear 400.
    expect_error(
        hub.event(&node, &id, json!({"event": "exploded"})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // Success, and a failure with a reason and no exit code.
    let ok = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    hub.event(&node, &ok, json!({"event": "running"})).await;
    let ack: Value = hub
        .event(&node, &ok, json!({"event": "finished", "exit_code": 0}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ack["state"], "succeeded");
    let bad = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    hub.event(
        &node,
        &bad,
        json!({"event": "failed", "reason": "image busybox not found"}),
    )
    .await;
    let task = hub.show(&bad).await;
    assert_eq!(
        (task["state"].as_str(), task["reason"].as_str()),
        (Some("failed"), Some("image busybox not found"))
    );
    assert!(task["exit_code"].is_null());
    hub.stop().await;
}

async fn log_appends_by_offset(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let id = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    let committed = |body: Value| body["committed"].as_u64().unwrap();
    assert_eq!(
        committed(
            hub.append(&node, &id, 0, b"hello ")
                .await
                .json()
                .await
                .unwrap()
        ),
        6
    );
    // A repeat is a no-op, an overlap stores only the new part.
    assert_eq!(
        committed(
            hub.append(&node, &id, 0, b"hello ")
                .await
                .json()
                .await
                .unwrap()
        ),
        6
    );
    assert_eq!(
        committed(
            hub.append(&node, &id, 3, b"lo world")
                .await
                .json()
                .await
                .unwrap()
        ),
        11
    );
    // A gap is refused with the committed offset.
    let body = expect_error(
        hub.append(&node, &id, 20, b"late").await,
        StatusCode::CONFLICT,
        "log_gap",
    )
    .await;
    assert_eq!(body["committed"], 11);
    assert_eq!(hub.log(&id).await, b"hello world");
    // Bytes are kept exactly: NUL, invalid UTF-8, CR, a long line without newline.
    let mut binary = vec![0u8, 0xff, 0xfe, b'\r', b'\n', 0xc3];
    binary.extend(std::iter::repeat_n(b'x', 300_000));
    assert_eq!(
        committed(
            hub.append(&node, &id, 11, &binary)
                .await
                .json()
                .await
                .unwrap()
        ),
        11 + binary.len() as u64
    );
    let mut expected = b"hello world".to_vec();
    expected.extend_from_slice(&binary);
    assert_eq!(hub.log(&id).await, expected);
    // Ranges.
    let part = hub
        .get(&hub.admin, &format!("/v1/tasks/{id}/log?offset=6&length=7"))
        .await;
    assert_eq!(
        part.headers()["x-gantry-log-size"],
        expected.len().to_string().as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), b"world\0\xff");
    let past = hub
        .get(&hub.admin, &format!("/v1/tasks/{id}/log?offset=999999999"))
        .await;
    assert!(past.bytes().await.unwrap().is_empty());
    // The node can read its own log back; a log append on a finished task still lands.
    hub.event(&node, &id, json!({"event": "finished", "exit_code": 0}))
        .await;
    assert_eq!(
        hub.append(&node, &id, expected.len() as u64, b"!")
            .await
            .status(),
        StatusCode::OK
    );
    let own = hub
        .get(
            &node,
            &format!("/v1/tasks/{id}/log?offset={}", expected.len()),
        )
        .await;
    assert_eq!(own.bytes().await.unwrap().as_ref(), b"!");
    hub.stop().await;
}

async fn log_follow_streams_until_the_end(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let id = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    hub.event(&node, &id, json!({"event": "running"})).await;
    hub.append(&node, &id, 0, b"line 1\n").await;
    let follow = hub
        .get(&hub.admin, &format!("/v1/tasks/{id}/log?follow=true"))
        .await;
    assert_eq!(follow.status(), StatusCode::OK);
    let reader = tokio::spawn(async move {
        use futures::StreamExt;
        let mut stream = follow.bytes_stream();
        let mut seen = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.next().await {
            seen.extend_from_slice(&chunk.unwrap());
            chunks += 1;
        }
        (seen, chunks)
    });
    let mut offset = 7;
    for i in 2..=50 {
        let line = format!("line {i}\n");
        hub.append(&node, &id, offset, line.as_bytes()).await;
        offset += line.len() as u64;
        if i % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    hub.event(&node, &id, json!({"event": "finished", "exit_code": 0}))
        .await;
    let (seen, chunks) = tokio::time::timeout(Duration::from_secs(20), reader)
        .await
        .expect("the stream ends with the task")
        .unwrap();
    let expected: String = (1..=50).map(|i| format!("line {i}\n")).collect();
    assert_eq!(String::from_utf8(seen).unwrap(), expected);
    assert!(
        chunks > 1,
        "bytes arrived while the task ran, not all at the end"
    );
    hub.stop().await;
}

async fn auth_and_isolation(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let a = hub.registered_node("a", &[]).await;
    let b = hub.registered_node("b", &[]).await;
    let id = hub.submit(job()).await;
    assert_eq!(hub.next(&a, 1).await.as_deref(), Some(id.as_str()));

    // No token, a malformed header, an unknown token: 401.
    expect_error(
        hub.get("", "/v1/tasks").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let basic = hub
        .request(Method::GET, "", "/v1/tasks")
        .header("authorization", "Basic eDp5")
        .send()
        .await
        .unwrap();
    expect_error(basic, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(
        hub.get("gantry_admin_0000", "/v1/tasks").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        hub.get("gantry_node_0000", "/v1/agent/next?wait=0").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // The wrong kind of token: 403.
    expect_error(
        hub.post(&a, "/v1/tasks", &job()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        hub.get(&a, "/v1/nodes").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        hub.post(&a, &format!("/v1/tasks/{id}/cancel"), &json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let admin = hub.admin.clone();
    expect_error(
        hub.post(&admin, "/v1/agent/register", &json!({"version": "x"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect_error(
        hub.event(&admin, &id, json!({"event": "running"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;

    // Another node's task is a 404, whatever the call.
    expect_error(
        hub.get(&b, &format!("/v1/tasks/{id}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        hub.get(&b, &format!("/v1/tasks/{id}/log")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        hub.event(&b, &id, json!({"event": "running"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        hub.append(&b, &id, 0, b"x").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let outputs = hub
        .request(Method::PUT, &b, &format!("/v1/tasks/{id}/outputs"))
        .json(&json!({"files": []}))
        .send()
        .await
        .unwrap();
    expect_error(outputs, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        hub.state(&id).await,
        "assigned",
        "nothing b sent had an effect"
    );

    // The owner may.
    assert_eq!(
        hub.get(&a, &format!("/v1/tasks/{id}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        hub.event(&a, &id, json!({"event": "running"}))
            .await
            .status(),
        StatusCode::OK
    );
    // Unknown ids: 404 for everyone.
    expect_error(
        hub.get(&admin, "/v1/tasks/no-such-task").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Tokens are stored only as hashes: the hub's files hold each token's hash
    // (so the scan looks in the right place) and never the token itself.
    if backend == Backend::Sqlite {
        let mut stored = Vec::new();
        for entry in walk(hub.dir.path()) {
            stored.extend(std::fs::read(entry).unwrap());
        }
        for token in [&a, &b, &hub.admin] {
            let hash = gantry_hub::tokens::hash_token(token);
            assert!(
                contains(&stored, hash.as_bytes()),
                "the hash of a token is stored"
            );
            assert!(
                !contains(&stored, token.as_bytes()),
                "a token is stored in clear"
            );
        }
    }
    hub.stop().await;
}

async fn silent_node_loses_tasks_and_gets_them_back(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("laptop", &[]).await;
    let running = hub.submit(job()).await;
    let paused = hub.submit(job()).await;
    let forgotten = hub.submit(job()).await;
    let unaccepted = hub.submit(job()).await;
    for id in [&running, &paused, &forgotten] {
        assert_eq!(hub.next(&node, 1).await.as_deref(), Some(id.as_str()));
        hub.event(&node, id, json!({"event": "running"})).await;
    }
    hub.event(&node, &paused, json!({"event": "paused"})).await;
    assert_eq!(
        hub.next(&node, 1).await.as_deref(),
        Some(unaccepted.as_str())
    );

    // Heartbeats within the limit keep the node online.
    hub.clock.advance(Duration::from_secs(50));
    assert_eq!(
        hub.post(&node, "/v1/agent/heartbeat", &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    hub.clock.advance(Duration::from_secs(50));
    hub.hub.check_nodes().await.unwrap();
    assert_eq!(hub.state(&running).await, "running");

    // Then silence past the limit.
    hub.clock.advance(Duration::from_secs(61));
    hub.hub.check_nodes().await.unwrap();
    assert_eq!(hub.state(&running).await, "lost");
    assert_eq!(hub.state(&paused).await, "lost");
    assert_eq!(
        hub.state(&unaccepted).await,
        "queued",
        "never started, so it goes back to the queue"
    );
    let task = hub.show(&running).await;
    assert_eq!(task["reason"], "node laptop stopped sending heartbeats");
    let nodes: Value = hub.get(&hub.admin, "/v1/nodes").await.json().await.unwrap();
    assert_eq!(nodes["nodes"][0]["online"], false);

    // The node comes back holding two of them.
    let register = json!({"version": "t", "inventory": [
        {"id": running, "state": "running", "log_size": 0},
        {"id": paused, "state": "paused", "log_size": 0},
    ]});
    let reply: Value = hub
        .post(&node, "/v1/agent/register", &register)
        .await
        .json()
        .await
        .unwrap();
    let reconciled: HashMap<&str, &Value> = reply["reconciled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap(), r))
        .collect();
    assert_eq!(reconciled[running.as_str()]["state"], "running");
    assert_eq!(reconciled[paused.as_str()]["state"], "paused");
    assert_eq!(hub.state(&running).await, "running");
    assert_eq!(hub.state(&paused).await, "paused");
    let failed = hub.show(&forgotten).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["reason"], "its node restarted and no longer has it");
    let shown = hub.show(&running).await;
    let history: Vec<&str> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        ["queued", "assigned", "running", "lost", "running"]
    );
    let nodes: Value = hub.get(&hub.admin, "/v1/nodes").await.json().await.unwrap();
    assert_eq!(nodes["nodes"][0]["online"], true);
    hub.stop().await;
}

async fn stale_assignment_is_requeued(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let id = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    // The agent never says `accepted` (its response was lost, say).
    hub.clock.advance(Duration::from_secs(30));
    hub.post(&node, "/v1/agent/heartbeat", &json!({})).await;
    hub.clock.advance(Duration::from_secs(91));
    hub.post(&node, "/v1/agent/heartbeat", &json!({})).await;
    hub.hub.check_nodes().await.unwrap();
    assert_eq!(hub.state(&id).await, "queued");
    assert_eq!(hub.show(&id).await["node"], Value::Null);
    // It can be taken again, and the first holder's late report is refused.
    assert_eq!(hub.next(&node, 1).await.as_deref(), Some(id.as_str()));
    let other = hub.registered_node("n2", &[]).await;
    expect_error(
        hub.event(&other, &id, json!({"event": "running"})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    hub.stop().await;
}

async fn commands_reach_the_node(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let admin = hub.admin.clone();
    let id = hub.submit(job()).await;
    let beat = || async {
        hub.post(&node, "/v1/agent/heartbeat", &json!({"tasks": []}))
            .await
            .json::<Value>()
            .await
            .unwrap()
    };

    // Pausing a queued task makes no sense.
    expect_error(
        hub.post(&admin, &format!("/v1/tasks/{id}/pause"), &json!({}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    hub.next(&node, 1).await.unwrap();
    hub.event(&node, &id, json!({"event": "running"})).await;
    assert_eq!(beat().await["commands"], json!([]));

    let paused: Value = hub
        .post(&admin, &format!("/v1/tasks/{id}/pause"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(paused["pending_command"], "pause");
    // Repeated until the node reports the result.
    for _ in 0..2 {
        assert_eq!(
            beat().await["commands"],
            json!([{"task_id": id, "command": "pause"}])
        );
    }
    hub.event(&node, &id, json!({"event": "paused"})).await;
    assert_eq!(beat().await["commands"], json!([]));
    // Pausing a paused task is accepted and changes nothing.
    assert_eq!(
        hub.post(&admin, &format!("/v1/tasks/{id}/pause"), &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(beat().await["commands"], json!([]));

    hub.post(&admin, &format!("/v1/tasks/{id}/resume"), &json!({}))
        .await;
    assert_eq!(
        beat().await["commands"],
        json!([{"task_id": id, "command": "resume"}])
    );
    let ack: Value = hub
        .event(&node, &id, json!({"event": "running"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ack["command"], Value::Null);

    let canceled: Value = hub
        .post(&admin, &format!("/v1/tasks/{id}/cancel"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(canceled["state"], "running");
    assert_eq!(canceled["pending_command"], "cancel");
    // A cancel waiting for the node also rides on event answers.
    let ack: Value = hub
        .event(&node, &id, json!({"event": "running"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ack["command"], "cancel");
    expect_error(
        hub.post(&admin, &format!("/v1/tasks/{id}/pause"), &json!({}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(
        beat().await["commands"],
        json!([{"task_id": id, "command": "cancel"}])
    );
    hub.event(
        &node,
        &id,
        json!({"event": "canceled", "reason": "canceled by tester"}),
    )
    .await;
    assert_eq!(beat().await["commands"], json!([]));
    assert_eq!(hub.state(&id).await, "canceled");
    // Canceling again is a no-op; resuming a canceled task is refused.
    assert_eq!(
        hub.post(&admin, &format!("/v1/tasks/{id}/cancel"), &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    expect_error(
        hub.post(&admin, &format!("/v1/tasks/{id}/resume"), &json!({}))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;

    // A queued task is canceled at once and never handed out.
    let queued = hub.submit(job()).await;
    let canceled: Value = hub
        .post(&admin, &format!("/v1/tasks/{queued}/cancel"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(canceled["state"], "canceled");
    assert_eq!(canceled["reason"], "canceled by tester");
    assert_eq!(hub.next(&node, 1).await, None);
    expect_error(
        hub.post(&admin, "/v1/tasks/nope/cancel", &json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    hub.stop().await;
}

async fn commands_long_poll_answers_at_once(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let other = hub.registered_node("n2", &[]).await;
    let id = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    hub.event(&node, &id, json!({"event": "running"})).await;
    // Nothing pending: a short wait ends with an empty list.
    let empty: Value = hub
        .get(&node, "/v1/agent/commands?wait=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["commands"], json!([]));
    let waiting = {
        let request = hub.request(Method::GET, &node, "/v1/agent/commands?wait=30");
        tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    let bystander = {
        let request = hub.request(Method::GET, &other, "/v1/agent/commands?wait=2");
        tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    hub.post(&hub.admin, &format!("/v1/tasks/{id}/pause"), &json!({}))
        .await;
    // Answered by the request, not by the 30 s wait running out.
    let answer = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer["commands"],
        json!([{"task_id": id, "command": "pause"}])
    );
    assert_eq!(
        bystander.await.unwrap()["commands"],
        json!([]),
        "another node's request is not yours"
    );
    hub.stop().await;
}

async fn blobs_are_verified(backend: Backend) {
    use sha2::Digest;
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let sha = hex::encode(sha2::Sha256::digest(&bytes));
    let head = |token: String, sha: String| {
        let request = hub.request(Method::HEAD, &token, &format!("/v1/blobs/{sha}"));
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        head(hub.admin.clone(), sha.clone()).await.status(),
        StatusCode::NOT_FOUND
    );
    // A job naming a blob the hub lacks is refused up front.
    let with_input = json!({"image": "x", "inputs": {sha.clone(): "data/in.bin"}});
    let body = expect_error(
        hub.post(&hub.admin, "/v1/tasks", &with_input).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "blob_missing",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("is not on the hub"),
        "{body}"
    );

    let put = |sha: &str, body: Vec<u8>| {
        hub.request(Method::PUT, &node, &format!("/v1/blobs/{sha}"))
            .body(body)
            .send()
    };
    // Wrong bytes for the address: refused, nothing kept.
    let wrong = put(&sha, b"other bytes".to_vec()).await.unwrap();
    expect_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, "hash_mismatch").await;
    assert_eq!(
        head(hub.admin.clone(), sha.clone()).await.status(),
        StatusCode::NOT_FOUND
    );
    let stored = put(&sha, bytes.clone()).await.unwrap();
    assert_eq!(stored.status(), StatusCode::CREATED);
    assert_eq!(stored.json::<Value>().await.unwrap()["size"], bytes.len());
    assert_eq!(
        put(&sha, bytes.clone()).await.unwrap().status(),
        StatusCode::OK,
        "a second upload is a no-op"
    );
    let found = head(node.clone(), sha.clone()).await;
    assert_eq!(found.status(), StatusCode::OK);
    assert_eq!(
        found.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    // A node reads a blob only once a task assigned to it names it.
    expect_error(
        hub.get(&node, &format!("/v1/blobs/{sha}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Now the job is accepted.
    let id = hub.submit(with_input).await;
    assert_eq!(hub.next(&node, 5).await.as_deref(), Some(id.as_str()));
    let got = hub
        .get(&node, &format!("/v1/blobs/{sha}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), bytes.as_slice());
    // Addresses that are not sha256s, and paths that try to escape.
    expect_error(
        put("..%2F..%2Fetc%2Fpasswd", vec![1]).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        hub.get(&node, "/v1/blobs/ABC").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        hub.get(&node, &format!("/v1/blobs/{}", "0".repeat(64)))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        hub.get("", &format!("/v1/blobs/{sha}")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    hub.stop().await;
}

async fn malformed_and_oversized_requests(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let admin = hub.admin.clone();
    let raw = |method: Method, token: &str, path: &str, content_type: &str, body: Vec<u8>| {
        hub.request(method, token, path)
            .header("content-type", content_type)
            .body(body)
    };
    // Not JSON, JSON of the wrong shape, unknown keys.
    let body = expect_error(
        raw(
            Method::POST,
            &admin,
            "/v1/tasks",
            "application/json",
            b"{not json".to_vec(),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_job",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("line 1"),
        "{body}"
    );
    let body = expect_error(
        hub.post(&admin, "/v1/tasks", &json!({"image": "x", "comand": ["x"]}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_job",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `comand`"),
        "{body}"
    );
    let body = expect_error(
        hub.post(
            &admin,
            "/v1/tasks",
            &json!({"image": "x", "files": [{"path": "../x", "content": ""}]}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_job",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("files[0].path"),
        "{body}"
    );
    expect_error(
        raw(
            Method::POST,
            &admin,
            "/v1/tasks",
            "application/json",
            vec![0xff, 0xfe],
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // YAML is accepted with its content type, with line numbers in errors.
    let yaml = b"image: busybox\ncommand: [echo, hi]\n".to_vec();
    assert_eq!(
        raw(Method::POST, &admin, "/v1/tasks", "application/yaml", yaml)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let body = expect_error(
        raw(
            Method::POST,
            &admin,
            "/v1/tasks",
            "application/yaml",
            b"image: x\nbogus: 1\n".to_vec(),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_job",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("line 2"),
        "{body}"
    );
    // Agent calls: wrong content type, bad JSON, bad query.
    let response = raw(
        Method::POST,
        &node,
        "/v1/agent/heartbeat",
        "text/plain",
        b"{}".to_vec(),
    )
    .send()
    .await
    .unwrap();
    expect_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_request").await;
    expect_error(
        raw(
            Method::POST,
            &node,
            "/v1/agent/heartbeat",
            "application/json",
            b"[1,2]".to_vec(),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        hub.get(&node, "/v1/agent/next?wait=soon").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        hub.get(&admin, "/v1/tasks?state=done").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let id = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    expect_error(
        raw(
            Method::POST,
            &node,
            &format!("/v1/tasks/{id}/log"),
            "application/octet-stream",
            b"x".to_vec(),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        raw(
            Method::POST,
            &node,
            &format!("/v1/tasks/{id}/log?offset=-1"),
            "application/octet-stream",
            b"x".to_vec(),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // Oversized bodies: a 5 MiB job and a 5 MiB log append.
    // The hub answers before reading such a body and says Connection: close, so
    // the next request on this client must still succeed on a new connection.
    let big = json!({"image": "x", "env": {"BIG": "y".repeat(5 << 20)}});
    let response = hub
        .request(Method::POST, &admin, "/v1/tasks")
        .json(&big)
        .send()
        .await
        .unwrap();
    expect_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let big_log = vec![b'z'; 5 << 20];
    let response = raw(
        Method::POST,
        &node,
        &format!("/v1/tasks/{id}/log?offset=0"),
        "application/octet-stream",
        big_log,
    );
    expect_error(
        response.send().await.unwrap(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert_eq!(hub.show(&id).await["log_size"], 0, "nothing of it was kept");
    // Unknown routes and methods.
    expect_error(
        hub.get(&admin, "/v1/nope").await,
        StatusCode::NOT_FOUND,
        "no_such_route",
    )
    .await;
    // `/` is the web console's page (console_files.rs); outside /v1 and
    // /assets, nothing is routed.
    expect_error(
        hub.get(&admin, "/nope").await,
        StatusCode::NOT_FOUND,
        "no_such_route",
    )
    .await;
    expect_error(
        hub.request(Method::DELETE, &admin, "/v1/tasks")
            .send()
            .await
            .unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    // Ids with odd bytes are just unknown ids.
    expect_error(
        hub.get(&admin, "/v1/tasks/%00x").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        hub.get(&admin, "/v1/tasks/%ff").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_error(
        hub.get(&admin, &format!("/v1/tasks/{}", "a".repeat(5000)))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // After all of that the hub still serves.
    assert_eq!(hub.get("", "/v1/health").await.status(), StatusCode::OK);
    hub.stop().await;
}

async fn nodes_report_system_info(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("gpu-box", &["gpu"]).await;
    let system = json!({
        "hostname": "gpu-box", "os": "Debian GNU/Linux 12",
        "cpu": {"model": "EPYC", "cores": 32, "usage_percent": 12.5},
        "memory": {"total_bytes": 68719476736u64, "used_bytes": 1073741824},
        "disk": {"path": "/data", "total_bytes": 1000, "free_bytes": 500},
        "gpu_status": {"status": "available"},
        "gpus": [{"index": 0, "name": "NVIDIA H100", "uuid": "GPU-1", "utilization_percent": 87,
                  "memory_used_bytes": 1, "memory_total_bytes": 2, "temperature_c": 61}]
    });
    let beat = hub
        .post(
            &node,
            "/v1/agent/heartbeat",
            &json!({"system": system, "accepting": false}),
        )
        .await;
    assert_eq!(beat.status(), StatusCode::OK);
    let id = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    let nodes: Value = hub.get(&hub.admin, "/v1/nodes").await.json().await.unwrap();
    let listed = &nodes["nodes"][0];
    assert_eq!(listed["name"], "gpu-box");
    assert_eq!(listed["labels"], json!(["gpu"]));
    assert_eq!(listed["online"], true);
    assert_eq!(listed["version"], "test");
    assert_eq!(listed["tasks_held"], 1);
    assert_eq!(listed["system"]["gpus"][0]["utilization_percent"], 87);
    assert_eq!(listed["system"], system);
    let tasks: Value = hub
        .get(&hub.admin, "/v1/tasks?node=gpu-box&state=assigned")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tasks["tasks"][0]["id"], id.as_str());
    let none: Value = hub
        .get(&hub.admin, "/v1/tasks?node=other")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["tasks"], json!([]));
    hub.stop().await;
}

async fn outputs_are_recorded(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let id = hub.submit(job()).await;
    hub.next(&node, 1).await.unwrap();
    let files = json!({"files": [{"path": "results/model.pt", "size": 42, "sha256": "a".repeat(64), "stored": "node"}]});
    let put = hub
        .request(Method::PUT, &node, &format!("/v1/tasks/{id}/outputs"))
        .json(&files)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    assert_eq!(hub.show(&id).await["outputs"], files["files"]);
    let escaping = json!({"files": [{"path": "../../x", "size": 1, "sha256": "a".repeat(64), "stored": "node"}]});
    let put = hub
        .request(Method::PUT, &node, &format!("/v1/tasks/{id}/outputs"))
        .json(&escaping)
        .send()
        .await
        .unwrap();
    expect_error(put, StatusCode::BAD_REQUEST, "bad_request").await;
    hub.stop().await;
}

async fn shutdown_ends_long_polls(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("n1", &[]).await;
    let poll = {
        let request = hub.request(Method::GET, &node, "/v1/agent/next?wait=60");
        tokio::spawn(async move { request.send().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    // stop() waits for the server; it would take 60 s if the poll held it open.
    tokio::time::timeout(Duration::from_secs(20), hub.stop())
        .await
        .expect("shutdown does not wait for long-polls");
    let response = poll.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

/// The OpenAPI document lists exactly the routes the router serves, every
/// listed operation is routed, and every schema reference resolves.
#[tokio::test]
async fn openapi_matches_the_routes() {
    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let doc: Value = hub.get("", "/v1/openapi.json").await.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = gantry_hub::api::endpoints(&hub.hub)
        .iter()
        .map(|e| (e.method.to_string(), e.path.to_owned()))
        .collect();
    assert_eq!(documented, routed);
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "some-id")
            .replace("{sha256}", &"0".repeat(64));
        let response = hub
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                "",
                &concrete,
            )
            .send()
            .await
            .unwrap();
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        if response.status() == StatusCode::NOT_FOUND && method != "HEAD" {
            let body: Value = response.json().await.unwrap();
            assert_ne!(
                body["code"], "no_such_route",
                "{method} {path} is documented but not routed"
            );
        }
    }
    // Every $ref points into components.schemas.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    if key == "$ref" {
                        out.push(value.as_str().unwrap().to_owned());
                    }
                    refs(value, out);
                }
            }
            Value::Array(list) => list.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for reference in all {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("odd $ref {reference}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{reference} does not resolve"
        );
    }
    for schema in [
        "JobSpec",
        "Task",
        "TaskEvent",
        "ErrorBody",
        "Heartbeat",
        "RegisterRequest",
    ] {
        assert!(
            doc["components"]["schemas"].get(schema).is_some(),
            "{schema} missing"
        );
    }
    hub.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path))
        } else {
            files.push(path)
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
