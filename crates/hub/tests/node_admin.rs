//! Node and token administration over real sockets, each test on SQLite and
//! on PostgreSQL: show, rename, relabel, remove, rotate; admin tokens listed
//! and revoked; the refusals that say what happened; `node:` and
//! `only_labeled` in dispatch.

use std::time::Duration;

use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both!(
    nodes_are_shown_renamed_and_relabeled,
    nodes_are_added_over_the_api_and_tokens_rotated,
    a_removed_node_is_refused_and_its_tasks_end,
    node_key_and_only_labeled_pick_the_node,
    admin_tokens_are_listed_and_revoked,
);

async fn send(hub: &TestHub, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = hub.request(method, &hub.admin, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The `HeartbeatReply` a node gets now.
async fn heartbeat(hub: &TestHub, token: &str) -> reqwest::Response {
    hub.post(token, "/v1/agent/heartbeat", &json!({})).await
}

async fn nodes_are_shown_renamed_and_relabeled(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let token = hub.node("gpu-box", &["gpu"]).await;
    let register = json!({"version": "t", "labels": ["fast-disk"]});
    assert_eq!(
        hub.post(&token, "/v1/agent/register", &register)
            .await
            .status(),
        StatusCode::OK
    );
    hub.node("cpu-box", &[]).await;

    let shown = ok_json(send(&hub, Method::GET, "/v1/nodes/gpu-box", None).await).await;
    assert_eq!(shown["name"], "gpu-box");
    assert_eq!(shown["state"], "online");
    assert_eq!(shown["given_labels"], json!(["gpu"]));
    assert_eq!(shown["agent_labels"], json!(["fast-disk"]));
    let id = shown["id"].as_str().unwrap().to_owned();
    let by_id = ok_json(send(&hub, Method::GET, &format!("/v1/nodes/{id}"), None).await).await;
    assert_eq!(by_id["name"], "gpu-box");
    expect_error(
        send(&hub, Method::GET, "/v1/nodes/nobody", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A clash is refused and says so; the node keeps its name.
    let clash = expect_error(
        send(
            &hub,
            Method::PATCH,
            "/v1/nodes/gpu-box",
            Some(json!({"name": "cpu-box"})),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert!(
        clash["message"].as_str().unwrap().contains("cpu-box"),
        "{clash}"
    );
    expect_error(
        send(
            &hub,
            Method::PATCH,
            "/v1/nodes/gpu-box",
            Some(json!({"name": " "})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;

    let changed = ok_json(
        send(
            &hub,
            Method::PATCH,
            "/v1/nodes/gpu-box",
            Some(json!({"name": "gpu-1", "add_labels": ["zone=eu"], "remove_labels": ["gpu"]})),
        )
        .await,
    )
    .await;
    assert_eq!(changed["name"], "gpu-1");
    assert_eq!(changed["given_labels"], json!(["zone=eu"]));
    assert_eq!(changed["labels"], json!(["zone=eu", "fast-disk"]));
    // The agent learns its new name and labels from its next heartbeat answer.
    let reply = ok_json(heartbeat(&hub, &token).await).await;
    assert_eq!(reply["node"]["name"], "gpu-1");
    assert_eq!(reply["node"]["labels"], json!(["fast-disk", "zone=eu"]));
    // The list says each node's state.
    let list = ok_json(send(&hub, Method::GET, "/v1/nodes", None).await).await;
    let states: Vec<(&str, &str)> = list["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap(), n["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("cpu-box", "offline"), ("gpu-1", "online")]);
    // A node that takes no tasks is listed paused.
    hub.post(&token, "/v1/agent/heartbeat", &json!({"accepting": false}))
        .await;
    let shown = ok_json(send(&hub, Method::GET, "/v1/nodes/gpu-1", None).await).await;
    assert_eq!(shown["state"], "paused");
    // A node token may not administer nodes.
    expect_error(
        hub.request(Method::GET, &token, "/v1/nodes/gpu-1")
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    hub.stop().await;
}

async fn nodes_are_added_over_the_api_and_tokens_rotated(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let added = send(
        &hub,
        Method::POST,
        "/v1/nodes",
        Some(json!({"name": "box", "labels": ["gpu"]})),
    )
    .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let added: Value = added.json().await.unwrap();
    let old = added["token"].as_str().unwrap().to_owned();
    assert!(old.starts_with("gantry_node_"));
    assert_eq!(added["node"]["name"], "box");
    expect_error(
        send(
            &hub,
            Method::POST,
            "/v1/nodes",
            Some(json!({"name": "box"})),
        )
        .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(heartbeat(&hub, &old).await.status(), StatusCode::OK);

    let rotated = ok_json(send(&hub, Method::POST, "/v1/nodes/box/token", None).await).await;
    let new = rotated["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // The old token is refused at once, with what happened and when.
    let refused = expect_error(
        heartbeat(&hub, &old).await,
        StatusCode::UNAUTHORIZED,
        "token_replaced",
    )
    .await;
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("was replaced at 2023-11-14 22:13 UTC"),
        "{message}"
    );
    assert!(message.contains("paste the new one"), "{message}");
    assert!(!message.contains(&old) && !message.contains(&new));
    assert_eq!(heartbeat(&hub, &new).await.status(), StatusCode::OK);
    // A token the hub never knew stays the plain 401.
    expect_error(
        heartbeat(&hub, "gantry_node_0000").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    hub.stop().await;
}

async fn a_removed_node_is_refused_and_its_tasks_end(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let token = hub.registered_node("gpu-box", &[]).await;
    let other = hub.registered_node("other", &[]).await;
    let running = hub.submit(json!({"image": "x"})).await;
    assert_eq!(hub.next(&token, 1).await.as_deref(), Some(running.as_str()));
    hub.event(&token, &running, json!({"event": "running"}))
        .await;
    let done = hub.submit(json!({"image": "x"})).await;
    assert_eq!(hub.next(&token, 1).await.as_deref(), Some(done.as_str()));
    hub.event(&token, &done, json!({"event": "running"})).await;
    let finished = hub
        .event(&token, &done, json!({"event": "finished", "exit_code": 0}))
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
    let meant = hub.submit(json!({"image": "x", "node": "gpu-box"})).await;

    let removed = ok_json(send(&hub, Method::DELETE, "/v1/nodes/gpu-box", None).await).await;
    assert_eq!(removed["name"], "gpu-box");
    assert_eq!(removed["failed"], json!([meant]));
    assert_eq!(removed["canceled"], json!([running]));

    let failed = hub.show(&meant).await;
    assert_eq!(failed["state"], "failed");
    assert_eq!(
        failed["reason"],
        "its node gpu-box was removed from the hub"
    );
    let canceled = hub.show(&running).await;
    assert_eq!(canceled["state"], "canceled");
    assert_eq!(
        canceled["node"], "gpu-box",
        "the history keeps the node's name"
    );
    assert_eq!(hub.show(&done).await["node"], "gpu-box");
    // Nobody else takes the failed task.
    assert_eq!(hub.next(&other, 1).await, None);

    for call in [
        hub.post(&token, "/v1/agent/heartbeat", &json!({})).await,
        hub.get(&token, "/v1/agent/next?wait=0").await,
        hub.post(&token, "/v1/agent/register", &json!({"version": "t"}))
            .await,
        hub.event(&token, &running, json!({"event": "running"}))
            .await,
        hub.append(&token, &running, 0, b"x").await,
    ] {
        let body = expect_error(call, StatusCode::UNAUTHORIZED, "node_removed").await;
        assert_eq!(
            body["message"].as_str().unwrap().split(';').next().unwrap(),
            "node gpu-box was removed from the hub at 2023-11-14 22:13 UTC"
        );
    }
    expect_error(
        send(&hub, Method::GET, "/v1/nodes/gpu-box", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The name is free again.
    hub.node("gpu-box", &[]).await;
    hub.stop().await;
}

async fn node_key_and_only_labeled_pick_the_node(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let a = hub.registered_node("a", &["gpu"]).await;
    let b = hub.registered_node("b", &["gpu"]).await;
    let refused = expect_error(
        hub.post(&hub.admin, "/v1/tasks", &json!({"image": "x", "node": "c"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_node",
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("its nodes are: a, b"),
        "{refused}"
    );

    let for_b = hub.submit(json!({"image": "x", "node": "b"})).await;
    assert_eq!(hub.next(&a, 1).await, None, "a task for b is not a's");
    assert_eq!(hub.next(&b, 1).await.as_deref(), Some(for_b.as_str()));
    // A long poll of the node it is meant for is woken by the submit.
    let poll = {
        let request = hub.request(Method::GET, &b, "/v1/agent/next?wait=20");
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = hub.submit(json!({"image": "x", "node": "b"})).await;
    let answer: Value = poll.await.unwrap().json().await.unwrap();
    assert_eq!(answer["task"]["id"], second.as_str());

    // Under only_labeled, node a takes only tasks that carry a label.
    let register = json!({"version": "t", "only_labeled": true});
    assert_eq!(
        hub.post(&a, "/v1/agent/register", &register).await.status(),
        StatusCode::OK
    );
    let plain = hub.submit(json!({"image": "x"})).await;
    let labeled = hub.submit(json!({"image": "x", "labels": ["gpu"]})).await;
    assert_eq!(hub.next(&a, 1).await.as_deref(), Some(labeled.as_str()));
    assert_eq!(hub.next(&a, 1).await, None);
    assert_eq!(hub.next(&b, 1).await.as_deref(), Some(plain.as_str()));
    let shown = ok_json(send(&hub, Method::GET, "/v1/nodes/a", None).await).await;
    assert_eq!(shown["only_labeled"], true);
    hub.stop().await;
}

async fn admin_tokens_are_listed_and_revoked(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let ci = hub
        .hub
        .db()
        .create_admin_token("ci", hub.hub.now())
        .await
        .unwrap();
    let list = ok_json(send(&hub, Method::GET, "/v1/tokens", None).await).await;
    let text = list.to_string();
    assert!(
        !text.contains(&ci) && !text.contains(&hub.admin),
        "never a token"
    );
    let ci_entry = |list: &Value| {
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "ci")
            .cloned()
            .unwrap()
    };
    assert_eq!(ci_entry(&list)["last_used"], Value::Null);
    assert_eq!(ci_entry(&list)["created_at"], 1_700_000_000_000i64);

    // A call records when the token was used, at most once a minute.
    assert_eq!(hub.get(&ci, "/v1/nodes").await.status(), StatusCode::OK);
    let list = ok_json(send(&hub, Method::GET, "/v1/tokens", None).await).await;
    assert_eq!(ci_entry(&list)["last_used"], 1_700_000_000_000i64);
    hub.clock.advance(Duration::from_secs(30));
    hub.get(&ci, "/v1/nodes").await;
    let list = ok_json(send(&hub, Method::GET, "/v1/tokens", None).await).await;
    assert_eq!(ci_entry(&list)["last_used"], 1_700_000_000_000i64);
    hub.clock.advance(Duration::from_secs(40));
    hub.get(&ci, "/v1/nodes").await;
    let list = ok_json(send(&hub, Method::GET, "/v1/tokens", None).await).await;
    assert_eq!(ci_entry(&list)["last_used"], 1_700_000_070_000i64);

    let revoked = ok_json(send(&hub, Method::DELETE, "/v1/tokens/ci", None).await).await;
    assert_eq!(revoked, json!({"name": "ci", "revoked": 1}));
    let refused = expect_error(
        hub.get(&ci, "/v1/nodes").await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("\"ci\" was revoked at 2023-11-14 22:14 UTC"),
        "{refused}"
    );
    expect_error(
        send(&hub, Method::DELETE, "/v1/tokens/ci", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list = ok_json(send(&hub, Method::GET, "/v1/tokens", None).await).await;
    assert!(
        list["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "ci")
    );
    hub.stop().await;
}
