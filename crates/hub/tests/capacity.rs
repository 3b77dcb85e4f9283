//! What a node can take (issue 17), over real sockets on SQLite and
//! PostgreSQL: dispatch offers a node only GPU tasks that fit the capacity
//! its heartbeat says (count, memory, indices, reserved GPUs, sharing), takes
//! a claim's GPUs out of the stored copy so a second `next` does not
//! overcommit, and offers a yielding node only what its yield allows; the
//! node list says `yielding` and why.

use std::time::Duration;

use gantry_testkit::{Backend, TestHub, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both!(
    gpu_tasks_go_only_where_they_fit,
    reserved_gpus_and_sharing_decide_the_fit,
    no_capacity_takes_cpu_work_and_absent_capacity_takes_all,
    a_yielding_node_gets_only_what_its_yield_allows,
    the_node_list_says_yielding_and_why,
);

const GIB: u64 = 1 << 30;

/// One GPU of a heartbeat's capacity.
fn gpu(index: u32, free_gib: u64, holders: u32, shared: bool, reserved: bool) -> Value {
    json!({"index": index, "uuid": format!("GPU-{index}"), "free_bytes": free_gib * GIB,
        "holders": holders, "shared": shared, "reserved": reserved})
}

/// A free GPU.
fn free(index: u32, free_gib: u64) -> Value {
    gpu(index, free_gib, 0, false, false)
}

/// Sends a heartbeat (`extra` merged into it) and checks it was taken.
async fn beat(hub: &TestHub, token: &str, extra: Value) {
    let response = hub.post(token, "/v1/agent/heartbeat", &extra).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// A heartbeat saying these GPUs.
async fn capacity(hub: &TestHub, token: &str, gpus: &[Value]) {
    beat(hub, token, json!({"capacity": {"gpus": gpus}})).await;
}

/// A job asking for `gpus` with more `resources` keys.
fn gpu_job(gpus: Value, more: Value) -> Value {
    let mut resources = json!({"gpus": gpus});
    resources
        .as_object_mut()
        .unwrap()
        .extend(more.as_object().unwrap().clone());
    json!({"image": "x", "resources": resources})
}

async fn node_json(hub: &TestHub, name: &str) -> Value {
    let response = hub.get(&hub.admin, &format!("/v1/nodes/{name}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn gpu_tasks_go_only_where_they_fit(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let big = hub.registered_node("big", &[]).await;
    capacity(&hub, &big, &[free(0, 16), free(1, 80)]).await;

    let three = hub.submit(gpu_job(json!(3), json!({}))).await;
    assert_eq!(hub.next(&big, 0).await, None, "three GPUs on a node of two");
    let roomy = hub
        .submit(gpu_job(json!(1), json!({"gpu_memory": "40GiB"})))
        .await;
    assert_eq!(
        hub.next(&big, 0).await.as_deref(),
        Some(roomy.as_str()),
        "the older task that cannot fit is passed over"
    );
    // GPU 1 is held now: another 40 GiB task does not fit until the node says so.
    let second = hub
        .submit(gpu_job(json!(1), json!({"gpu_memory": "40GiB"})))
        .await;
    assert_eq!(
        hub.next(&big, 0).await,
        None,
        "no overcommit before a heartbeat"
    );
    let stored = node_json(&hub, "big").await;
    assert_eq!(stored["capacity"]["gpus"][1]["holders"], 1);
    assert_eq!(stored["capacity"]["gpus"][1]["free_bytes"], 40 * GIB);
    // An exact index that is free fits.
    let exact = hub.submit(gpu_job(json!([0]), json!({}))).await;
    assert_eq!(hub.next(&big, 0).await.as_deref(), Some(exact.as_str()));
    assert_eq!(hub.next(&big, 0).await, None, "both GPUs are held");
    // The next heartbeat replaces the stored copy: GPU 1 has room again.
    capacity(&hub, &big, &[gpu(0, 10, 1, false, false), free(1, 80)]).await;
    assert_eq!(hub.next(&big, 0).await.as_deref(), Some(second.as_str()));
    // An index the node lacks never fits; a count it has does.
    hub.submit(gpu_job(json!([7]), json!({}))).await;
    capacity(&hub, &big, &[free(0, 16), free(1, 80)]).await;
    let two = hub.submit(gpu_job(json!(2), json!({}))).await;
    assert_eq!(hub.next(&big, 0).await.as_deref(), Some(two.as_str()));
    assert_eq!(hub.state(&three).await, "queued");
    // Its page says why it waits; a task some node can take says nothing.
    let waiting = hub.get(&hub.admin, &format!("/v1/tasks/{three}")).await;
    let waiting: Value = waiting.json().await.unwrap();
    assert_eq!(
        waiting["waiting"],
        "no node can take it now (big: the task asks for 3 GPUs and it has 2 it may use)"
    );
    let cpu = hub.submit(json!({"image": "x"})).await;
    let cpu: Value = hub
        .get(&hub.admin, &format!("/v1/tasks/{cpu}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(cpu.get("waiting").is_none(), "{cpu}");
    hub.stop().await;
}

async fn reserved_gpus_and_sharing_decide_the_fit(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let desk = hub.registered_node("desk", &[]).await;
    // GPU 0 is the person's; GPU 1 is held by a task that shares.
    capacity(
        &hub,
        &desk,
        &[gpu(0, 24, 0, false, true), gpu(1, 20, 1, true, false)],
    )
    .await;
    let kept = hub.submit(gpu_job(json!([0]), json!({}))).await;
    let alone = hub.submit(gpu_job(json!(1), json!({}))).await;
    assert_eq!(
        hub.next(&desk, 0).await,
        None,
        "reserved, and held by another"
    );
    let sharer = hub
        .submit(gpu_job(
            json!(1),
            json!({"gpu_memory": "8GiB", "gpu_share": true}),
        ))
        .await;
    assert_eq!(hub.next(&desk, 0).await.as_deref(), Some(sharer.as_str()));
    let stored = node_json(&hub, "desk").await;
    assert_eq!(stored["capacity"]["gpus"][1]["holders"], 2);
    assert_eq!(stored["capacity"]["gpus"][1]["free_bytes"], 12 * GIB);
    // A third sharer asking for more than is left waits.
    let third = hub
        .submit(gpu_job(
            json!(1),
            json!({"gpu_memory": "16GiB", "gpu_share": true}),
        ))
        .await;
    assert_eq!(hub.next(&desk, 0).await, None);
    // `all` means every GPU the person has not kept: here GPU 1, when free.
    let all = hub.submit(gpu_job(json!("all"), json!({}))).await;
    let idle = [gpu(0, 24, 0, false, true), free(1, 20)];
    capacity(&hub, &desk, &idle).await;
    assert_eq!(hub.next(&desk, 0).await.as_deref(), Some(alone.as_str()));
    capacity(&hub, &desk, &idle).await;
    assert_eq!(hub.next(&desk, 0).await.as_deref(), Some(third.as_str()));
    capacity(&hub, &desk, &idle).await;
    assert_eq!(hub.next(&desk, 0).await.as_deref(), Some(all.as_str()));
    assert_eq!(hub.state(&kept).await, "queued", "GPU 0 stays the person's");
    hub.stop().await;
}

async fn no_capacity_takes_cpu_work_and_absent_capacity_takes_all(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let plain = hub.registered_node("plain", &[]).await;
    let old = hub.registered_node("old", &[]).await;
    capacity(&hub, &plain, &[]).await;
    beat(&hub, &old, json!({})).await;
    let gpu_task = hub.submit(gpu_job(json!(1), json!({}))).await;
    let cpu_task = hub.submit(json!({"image": "x"})).await;
    assert_eq!(
        hub.next(&plain, 0).await.as_deref(),
        Some(cpu_task.as_str())
    );
    assert_eq!(hub.next(&plain, 0).await, None, "no GPUs, no GPU task");
    assert_eq!(node_json(&hub, "old").await["capacity"], Value::Null);
    assert_eq!(
        hub.next(&old, 0).await.as_deref(),
        Some(gpu_task.as_str()),
        "an agent that does not say its capacity is offered everything"
    );
    hub.stop().await;
}

/// A heartbeat's `yielding`.
fn yielding(reason: &str, gpu_only: bool) -> Value {
    json!({"reason": reason, "gpu_only": gpu_only, "since": 1_700_000_000_000i64})
}

async fn a_yielding_node_gets_only_what_its_yield_allows(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let desk = hub.registered_node("desk", &[]).await;
    // Yielding all: the agent also stops accepting.
    let all =
        json!({"accepting": false, "yielding": yielding("you are using this computer", false)});
    beat(&hub, &desk, all).await;
    let cpu = hub.submit(json!({"image": "x"})).await;
    let gpu_task = hub.submit(gpu_job(json!(1), json!({}))).await;
    assert_eq!(hub.next(&desk, 0).await, None, "it yields all its work");
    // GPU work only: CPU tasks are still taken, GPU ones are not.
    let gpu_only = json!({"yielding": yielding("blender uses the GPU", true)});
    beat(&hub, &desk, gpu_only.clone()).await;
    assert_eq!(hub.next(&desk, 0).await.as_deref(), Some(cpu.as_str()));
    assert_eq!(
        hub.next(&desk, 0).await,
        None,
        "no GPU task while GPU work yields"
    );
    // A waiting `next` is woken when the yield ends, and gets the GPU task.
    let poll = {
        let request = hub.request(Method::GET, &desk, "/v1/agent/next?wait=20");
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    beat(&hub, &desk, json!({})).await;
    let answer = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the heartbeat woke the poll")
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["task"]["id"], gpu_task.as_str());
    hub.stop().await;
}

async fn the_node_list_says_yielding_and_why(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let desk = hub.registered_node("desk", &[]).await;
    let reason = "you are using this computer";
    let cases = [
        // (heartbeat, state, yield_reason)
        (
            json!({"accepting": false, "yielding": yielding(reason, false)}),
            "yielding",
            Some(reason),
        ),
        (
            json!({"yielding": yielding("too hot", true)}),
            "yielding",
            Some("too hot"),
        ),
        // The person's hand wins: paused (with only GPU work yielding) and draining.
        (
            json!({"accepting": false, "yielding": yielding("too hot", true)}),
            "paused",
            None,
        ),
        (
            json!({"accepting": false, "draining": true, "yielding": yielding(reason, false)}),
            "draining",
            None,
        ),
        (json!({}), "online", None),
    ];
    for (heartbeat, state, why) in cases {
        beat(&hub, &desk, heartbeat.clone()).await;
        let node = node_json(&hub, "desk").await;
        assert_eq!(node["state"], state, "after {heartbeat}");
        assert_eq!(node["yield_reason"].as_str(), why, "after {heartbeat}");
        let list: Value = hub.get(&hub.admin, "/v1/nodes").await.json().await.unwrap();
        assert_eq!(list["nodes"][0]["state"], state);
    }
    hub.stop().await;
}
