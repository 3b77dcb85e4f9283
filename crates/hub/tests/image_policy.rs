//! A node's image policy at the hub (issue 19), over real sockets on SQLite
//! and PostgreSQL: the hub stores what register and heartbeat say, lists it,
//! does not offer a node a task whose images (the task's or a service's) its
//! policy refuses but offers it to another node, refuses a policy its
//! document calls invalid (a pattern that passes but cannot be read matches
//! nothing), and says in the queued task's words why it waits.

use gantry_testkit::{Backend, TestHub, on_both};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both!(
    a_refused_task_goes_to_another_node,
    pinned_only_and_services_are_checked,
    the_policy_is_listed_and_a_heartbeat_replaces_it,
    a_policy_its_document_refuses_is_refused,
);

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A node registered with `policy` (JSON, or null for none); returns its token.
async fn node_with(hub: &TestHub, name: &str, policy: Value) -> String {
    let token = hub.node(name, &[]).await;
    let response = hub
        .post(
            &token,
            "/v1/agent/register",
            &json!({"version": "test", "image_policy": policy}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    token
}

async fn node_json(hub: &TestHub, name: &str) -> Value {
    let response = hub.get(&hub.admin, &format!("/v1/nodes/{name}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn a_refused_task_goes_to_another_node(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let strict = node_with(
        &hub,
        "strict",
        json!({"allowed": ["registry.example.com/**"]}),
    )
    .await;
    let hubby = hub
        .submit(json!({"image": "busybox", "command": ["true"]}))
        .await;
    let ours = hub
        .submit(json!({"image": "registry.example.com/team/app:1", "command": ["true"]}))
        .await;
    assert_eq!(
        hub.next(&strict, 0).await.as_deref(),
        Some(ours.as_str()),
        "the older busybox task is passed over, the allowed one taken"
    );
    assert_eq!(
        hub.next(&strict, 0).await,
        None,
        "busybox is never offered to it"
    );
    assert_eq!(hub.state(&hubby).await, "queued");
    let shown = hub.show(&hubby).await;
    let why = shown.to_string();
    assert!(
        why.contains("strict: it takes only images matching registry.example.com/**"),
        "the queued task says why: {why}"
    );
    let open = node_with(&hub, "open", Value::Null).await;
    assert_eq!(hub.next(&open, 0).await.as_deref(), Some(hubby.as_str()));
    hub.stop().await;
}

async fn pinned_only_and_services_are_checked(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let pinned = node_with(
        &hub,
        "pinned",
        json!({"allowed": ["busybox", "postgres"], "pinned_only": true}),
    )
    .await;
    let tagged = hub
        .submit(json!({"image": "busybox:1.36", "command": ["true"]}))
        .await;
    let service = hub
        .submit(
            json!({"image": format!("busybox@{DIGEST}"), "command": ["true"],
            "services": [{"name": "db", "image": "redis@".to_owned() + DIGEST}]}),
        )
        .await;
    let good = hub
        .submit(
            json!({"image": format!("busybox@{DIGEST}"), "command": ["true"],
            "services": [{"name": "db", "image": format!("postgres@{DIGEST}")}]}),
        )
        .await;
    assert_eq!(hub.next(&pinned, 0).await.as_deref(), Some(good.as_str()));
    assert_eq!(hub.next(&pinned, 0).await, None);
    assert_eq!(hub.state(&tagged).await, "queued");
    assert_eq!(
        hub.state(&service).await,
        "queued",
        "a service's image counts too"
    );
    hub.stop().await;
}

async fn the_policy_is_listed_and_a_heartbeat_replaces_it(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let token = node_with(&hub, "n", json!({"allowed": ["nvidia/*"]})).await;
    assert_eq!(
        node_json(&hub, "n").await["image_policy"],
        json!({"allowed": ["nvidia/*"]})
    );
    let list: Value = hub.get(&hub.admin, "/v1/nodes").await.json().await.unwrap();
    assert_eq!(list["nodes"][0]["image_policy"]["allowed"][0], "nvidia/*");

    let beat = json!({"image_policy": {"pinned_only": true}});
    assert_eq!(
        hub.post(&token, "/v1/agent/heartbeat", &beat)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        node_json(&hub, "n").await["image_policy"],
        json!({"pinned_only": true})
    );
    let task = hub
        .submit(json!({"image": "nvidia/cuda:12", "command": ["true"]}))
        .await;
    assert_eq!(
        hub.next(&token, 0).await,
        None,
        "the heartbeat's policy holds now"
    );

    // An agent that takes any image says nothing: the hub stores none and offers all.
    assert_eq!(
        hub.post(&token, "/v1/agent/heartbeat", &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    assert!(node_json(&hub, "n").await.get("image_policy").is_none());
    assert_eq!(hub.next(&token, 0).await.as_deref(), Some(task.as_str()));
    hub.stop().await;
}

async fn a_policy_its_document_refuses_is_refused(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let token = hub.node("n", &[]).await;
    let response = hub
        .post(
            &token,
            "/v1/agent/register",
            &json!({"version": "test", "image_policy": {"allowed": ["has space"]}}),
        )
        .await;
    let body = gantry_testkit::expect_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(body.to_string().contains("image_policy:"), "{body}");
    let many: Vec<String> = (0..65).map(|i| format!("r{i}.io/**")).collect();
    let response = hub
        .post(
            &token,
            "/v1/agent/heartbeat",
            &json!({"image_policy": {"allowed": many}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    // Printable but not a name: stored, and it matches nothing.
    let odd = node_with(&hub, "odd", json!({"allowed": ["Team/X"]})).await;
    hub.submit(json!({"image": "busybox", "command": ["true"]}))
        .await;
    assert_eq!(hub.next(&odd, 0).await, None);
    hub.stop().await;
}
