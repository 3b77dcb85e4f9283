//! The hub's side of usage accounting over real sockets, on SQLite and
//! PostgreSQL, with its clock in the test's hands: a final report's usage is
//! kept once per task and shown on it, added up by node and by UTC day
//! (`GET /v1/nodes/{node}/usage`, `since` counting), answered to the node
//! itself (`GET /v1/agent/usage`), a run a node gave back to the queue
//! counted for that node and in the task's sum, and figures no node could
//! have measured are refused in words.

use std::time::Duration;

use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both!(
    usage_is_kept_per_task_and_added_up_by_day,
    a_run_given_back_counts_for_its_node,
    nonsense_usage_is_refused
);

/// Submits a task and has `token`'s node take it and run it.
async fn running_on(hub: &TestHub, token: &str) -> String {
    let id = hub.submit(json!({"image": "x"})).await;
    assert_eq!(hub.next(token, 0).await.as_deref(), Some(id.as_str()));
    for event in [json!({"event": "accepted"}), json!({"event": "running"})] {
        assert_eq!(hub.event(token, &id, event).await.status(), StatusCode::OK);
    }
    id
}

/// Usage as an agent sends it: `gpu_s` seconds on one GPU that used `wh`.
fn usage(wall: f64, gpu_s: f64, wh: f64, pulled: u64) -> Value {
    json!({"wall_seconds": wall, "cpu_seconds": wall / 2.0,
        "gpus": [{"uuid": "GPU-1", "index": 0, "seconds": gpu_s, "energy_wh": wh}],
        "bytes_pulled": pulled, "bytes_uploaded": 10, "bytes_downloaded": 20})
}

async fn node_usage(hub: &TestHub, node: &str, since: &str) -> Value {
    let answer = hub
        .get(&hub.admin, &format!("/v1/nodes/{node}/usage?since={since}"))
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.unwrap()
}

async fn usage_is_kept_per_task_and_added_up_by_day(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("acct", &[]).await;
    let other = hub.registered_node("idle", &[]).await;
    // Day one: a task that succeeded.
    let first = running_on(&hub, &node).await;
    let report =
        json!({"event": "finished", "exit_code": 0, "usage": usage(60.0, 60.0, 1.5, 1000)});
    assert_eq!(
        hub.event(&node, &first, report).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        hub.show(&first).await["usage"],
        usage(60.0, 60.0, 1.5, 1000)
    );
    let day_one = gantry_protocol::usage::utc_day(hub.hub.now());

    // The next day: one that failed, reported twice (the second changes nothing).
    hub.clock.advance(Duration::from_secs(86_400));
    let second = running_on(&hub, &node).await;
    let report = json!({"event": "failed", "reason": "broke", "exit_code": 1,
        "usage": usage(30.0, 30.0, 0.5, 0)});
    assert_eq!(
        hub.event(&node, &second, report.clone()).await.status(),
        StatusCode::OK
    );
    let mut again = report;
    again["usage"] = usage(999.0, 999.0, 9.0, 9);
    let _ = hub.event(&node, &second, again).await;
    assert_eq!(hub.show(&second).await["usage"], usage(30.0, 30.0, 0.5, 0));
    let day_two = gantry_protocol::usage::utc_day(hub.hub.now());

    let all = node_usage(&hub, "acct", "1970-01-01").await;
    assert_eq!(all["totals"]["tasks"], 2);
    assert_eq!(all["totals"]["gpu_seconds"], 90.0);
    assert_eq!(all["totals"]["energy_wh"], 2.0);
    assert_eq!(all["totals"]["cpu_seconds"], 45.0);
    assert_eq!(all["totals"]["bytes_pulled"], 1000);
    assert_eq!(all["totals"]["bytes_uploaded"], 20);
    let days: Vec<&str> = all["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["day"].as_str().unwrap())
        .collect();
    assert_eq!(days, [day_one.as_str(), day_two.as_str()]);
    assert_eq!(all["days"][1]["totals"]["gpu_seconds"], 30.0);

    // Since the second day began: only its task.
    let since = format!("{day_two}T00:00:00Z");
    let recent = node_usage(&hub, "acct", &since).await;
    assert_eq!(recent["totals"]["tasks"], 1);
    assert_eq!(recent["days"].as_array().unwrap().len(), 1);
    // An offset moves the start: 23:00 the day before in UTC+01:00 is 22:00 UTC.
    let shifted = node_usage(&hub, "acct", &format!("{day_two}T01:00:00%2B01:00")).await;
    assert_eq!(shifted["totals"]["tasks"], 1);

    // The node reads its own; another node has none.
    let own: Value = hub
        .get(&node, "/v1/agent/usage?since=1970-01-01")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["totals"], all["totals"]);
    let none: Value = hub
        .get(&other, "/v1/agent/usage")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["totals"]["tasks"], 0);
    // The admin call is not a node's.
    assert_eq!(
        hub.get(&node, "/v1/nodes/acct/usage").await.status(),
        StatusCode::FORBIDDEN
    );
    hub.stop().await;
}

async fn a_run_given_back_counts_for_its_node(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let first = hub.registered_node("first", &[]).await;
    let second = hub.registered_node("second", &[]).await;
    let id = running_on(&hub, &first).await;
    let release = json!({"event": "released", "reason": "yielding: blender is running",
        "usage": usage(40.0, 40.0, 1.0, 500)});
    assert_eq!(
        hub.event(&first, &id, release.clone()).await.status(),
        StatusCode::OK
    );
    assert_eq!(hub.state(&id).await, "queued");
    // Said again, it is refused (the node no longer holds the task) and adds nothing.
    assert_ne!(
        hub.event(&first, &id, release).await.status(),
        StatusCode::OK
    );
    assert_eq!(hub.show(&id).await["usage"], usage(40.0, 40.0, 1.0, 500));

    // The second node runs it to the end on another GPU.
    assert_eq!(hub.next(&second, 0).await.as_deref(), Some(id.as_str()));
    for event in [json!({"event": "accepted"}), json!({"event": "running"})] {
        assert_eq!(
            hub.event(&second, &id, event).await.status(),
            StatusCode::OK
        );
    }
    let mut last = usage(20.0, 20.0, 0.5, 0);
    last["gpus"][0]["uuid"] = json!("GPU-2");
    let finished = json!({"event": "finished", "exit_code": 0, "usage": last});
    assert_eq!(
        hub.event(&second, &id, finished).await.status(),
        StatusCode::OK
    );

    // The task shows both runs: times and bytes add, each GPU is listed.
    let shown = hub.show(&id).await["usage"].clone();
    assert_eq!(shown["wall_seconds"], 60.0);
    assert_eq!(shown["cpu_seconds"], 30.0);
    assert_eq!(shown["bytes_pulled"], 500);
    assert_eq!(shown["bytes_uploaded"], 20);
    let gpus: Vec<&str> = shown["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(gpus, ["GPU-1", "GPU-2"]);

    // Each node counts its own run; only the second ended the task.
    let by_first = node_usage(&hub, "first", "1970-01-01").await;
    assert_eq!(by_first["totals"]["tasks"], 0);
    assert_eq!(by_first["totals"]["released_runs"], 1);
    assert_eq!(by_first["totals"]["gpu_seconds"], 40.0);
    assert_eq!(by_first["days"][0]["totals"]["released_runs"], 1);
    let by_second = node_usage(&hub, "second", "1970-01-01").await;
    assert_eq!(by_second["totals"]["tasks"], 1);
    assert_eq!(by_second["totals"]["released_runs"], 0);
    assert_eq!(by_second["totals"]["energy_wh"], 0.5);
    hub.stop().await;
}

async fn nonsense_usage_is_refused(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("acct", &[]).await;
    let id = running_on(&hub, &node).await;
    let mut bad = usage(-1.0, 1.0, 1.0, 0);
    bad["cpu_seconds"] = json!(0.0);
    let answer = hub
        .event(
            &node,
            &id,
            json!({"event": "finished", "exit_code": 0, "usage": bad}),
        )
        .await;
    let body = expect_error(answer, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(
        body["message"].as_str().unwrap().contains("wall_seconds"),
        "{body}"
    );
    assert_eq!(
        hub.state(&id).await,
        "running",
        "a refused report changes nothing"
    );
    let answer = hub
        .get(&hub.admin, "/v1/nodes/acct/usage?since=next%20week")
        .await;
    let body = expect_error(answer, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(
        body["message"].as_str().unwrap().contains("RFC 3339"),
        "{body}"
    );
    let answer = hub.get(&hub.admin, "/v1/nodes/nobody/usage").await;
    let body = expect_error(answer, StatusCode::NOT_FOUND, "not_found").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("gantry node list"),
        "{body}"
    );
    hub.stop().await;
}
