//! The console's live data over real sockets, each test on SQLite and on
//! PostgreSQL: the event stream (`GET /v1/events`) telling of tasks, nodes
//! and heartbeats and ending with the hub; a node's last hour of figures;
//! draining nodes and the tasks each holds; task pages by `before` with
//! filters, and the indexes that serve them; the job check.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use gantry_hub::db::TaskFilter;
use gantry_protocol::console_wire::TaskCursor;
use gantry_protocol::wire::CommandKind;
use gantry_protocol::{JobSpec, TaskState};
use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both!(
    the_stream_tells_of_tasks_nodes_and_samples_and_ends_with_the_hub,
    metrics_keep_an_hour_of_heartbeats,
    draining_and_held_tasks_show_in_the_node_list,
    pages_by_before_walk_every_task_once_with_filters,
    jobs_are_checked_without_being_submitted,
    a_yield_or_a_new_capacity_tells_the_stream,
);

/// One Server-Sent Event: its name and its data read as JSON.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    data: Value,
}

/// Reads the events of a `text/event-stream` answer as they come.
struct EventReader {
    response: reqwest::Response,
    buffer: String,
    /// Comment lines seen (keep-alives).
    comments: usize,
}

impl EventReader {
    async fn open(hub: &TestHub) -> EventReader {
        let response = hub
            .http_streaming(Method::GET, &hub.admin, "/v1/events")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        EventReader {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event within `limit`; `Err(true)` when the stream ended,
    /// `Err(false)` when nothing came in time.
    async fn next(&mut self, limit: Duration) -> Result<Sse, bool> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_owned());
                    } else if let Some(text) = line.strip_prefix("data: ") {
                        data.push_str(text);
                    } else if line == ": keep-alive" {
                        self.comments += 1;
                    }
                }
                if let Some(event) = event {
                    let data = serde_json::from_str(&data).expect("event data is JSON");
                    return Ok(Sse { event, data });
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Err(false),
                Ok(Ok(Some(bytes))) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(Ok(None)) | Ok(Err(_)) => return Err(true),
            }
        }
    }

    /// Waits (10 s at most) for an event named `event` whose data passes `test`, skipping others.
    async fn expect(&mut self, event: &str, test: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Ok(sse) if sse.event == event && test(&sse.data) => return sse.data,
                Ok(_) => {}
                Err(ended) => panic!("no `{event}` event came (stream ended: {ended})"),
            }
        }
    }

    /// Reads and drops events until none comes for 400 ms (twice the
    /// stream's gathering time), so the next expectation is met only by
    /// what the next action causes.
    async fn settle(&mut self) {
        while self.next(Duration::from_millis(400)).await.is_ok() {}
    }
}

trait Streaming {
    fn http_streaming(&self, method: Method, token: &str, path: &str) -> reqwest::RequestBuilder;
}

impl Streaming for TestHub {
    /// A request without the test kit's 60 s timeout, which would cut a stream.
    fn http_streaming(&self, method: Method, token: &str, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token)
    }
}

/// A heartbeat body with figures.
fn beat(cpu: f64, used: u64) -> Value {
    json!({
        "system": {
            "hostname": "box", "os": "Linux",
            "cpu": {"model": "x", "cores": 4, "usage_percent": cpu},
            "memory": {"total_bytes": 8_000, "used_bytes": used},
            "disk": {"path": "/", "total_bytes": 100, "free_bytes": 40},
            "gpu_status": {"status": "available"},
            "gpus": [{"index": 0, "name": "G", "uuid": "u", "utilization_percent": 70,
                      "memory_used_bytes": 5, "memory_total_bytes": 10, "temperature_c": 50}]
        },
        "tasks": []
    })
}

async fn send(hub: &TestHub, method: Method, path: &str, body: Value) -> Value {
    let response = hub
        .request(method, &hub.admin, path)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

async fn the_stream_tells_of_tasks_nodes_and_samples_and_ends_with_the_hub(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    // Without a token the stream is refused like every admin call.
    expect_error(
        hub.get("", "/v1/events").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let mut events = EventReader::open(&hub).await;

    // A node added over the API.
    let added = send(&hub, Method::POST, "/v1/nodes", json!({"name": "box"})).await;
    let node_id = added["node"]["id"].as_str().unwrap().to_owned();
    let token = added["token"].as_str().unwrap().to_owned();
    assert_eq!(events.expect("nodes", |_| true).await, json!({}));

    // Submits, gathered into one event naming each task once.
    events.settle().await;
    let first = hub.submit(json!({"image": "busybox", "name": "one"})).await;
    let second = hub.submit(json!({"image": "busybox", "name": "two"})).await;
    let mut seen = BTreeSet::new();
    while seen.len() < 2 {
        let data = events.expect("tasks", |_| true).await;
        for id in data["ids"].as_array().unwrap() {
            assert!(
                seen.insert(id.as_str().unwrap().to_owned()),
                "named once: {data}"
            );
        }
    }
    assert_eq!(seen, BTreeSet::from([first.clone(), second.clone()]));

    // The node comes online; its heartbeat's figures come as a sample.
    events.settle().await;
    let register = hub
        .post(&token, "/v1/agent/register", &json!({"version": "t"}))
        .await;
    assert_eq!(register.status(), StatusCode::OK);
    events.expect("nodes", |_| true).await;
    events.settle().await;
    assert_eq!(
        hub.post(&token, "/v1/agent/heartbeat", &beat(42.5, 1_234))
            .await
            .status(),
        StatusCode::OK
    );
    let sample = events.expect("sample", |_| true).await;
    assert_eq!(sample["node"], node_id.as_str());
    assert_eq!(sample["sample"]["cpu_percent"], 42.5);
    assert_eq!(sample["sample"]["memory_used_bytes"], 1_234);
    assert_eq!(sample["sample"]["gpus"][0]["utilization_percent"], 70);
    assert_eq!(sample["sample"]["at"], hub.hub.now());

    // A state change: the node takes a task.
    events.settle().await;
    let taken = hub.next(&token, 5).await.expect("a task is queued");
    let data = events.expect("tasks", |_| true).await;
    assert_eq!(data["ids"], json!([taken]));
    // A cancel is a change too.
    events.settle().await;
    send(
        &hub,
        Method::POST,
        &format!("/v1/tasks/{taken}/cancel"),
        json!(null),
    )
    .await;
    let data = events.expect("tasks", |_| true).await;
    assert_eq!(data["ids"], json!([taken]));

    // Log bytes are not task events (the log has its own stream).
    events.settle().await;
    let running = json!({"event": "running"});
    hub.event(&token, &taken, running).await;
    events.expect("tasks", |d| d["ids"] == json!([taken])).await;
    assert_eq!(
        hub.append(&token, &taken, 0, b"hello\n").await.status(),
        StatusCode::OK
    );
    match events.next(Duration::from_millis(600)).await {
        Ok(sse) => panic!("a log append is not an event: {sse:?}"),
        Err(ended) => assert!(!ended),
    }

    // Rename, relabel, rotate, remove: each a `nodes` event.
    let path = format!("/v1/nodes/{node_id}");
    for (method, path, body) in [
        (Method::PATCH, path.clone(), json!({"name": "renamed"})),
        (Method::PATCH, path.clone(), json!({"add_labels": ["gpu"]})),
        (Method::POST, format!("{path}/token"), json!(null)),
        (Method::DELETE, path.clone(), json!(null)),
    ] {
        events.settle().await;
        send(&hub, method.clone(), &path, body).await;
        events.expect("nodes", |_| true).await;
    }

    // A node that falls silent goes offline: a `nodes` event.
    let quiet = hub.registered_node("quiet", &[]).await;
    drop(quiet);
    events.settle().await;
    hub.clock
        .advance(hub.hub.config().offline_after + Duration::from_secs(1));
    hub.hub.check_nodes().await.unwrap();
    events.expect("nodes", |_| true).await;
    let nodes = send(&hub, Method::GET, "/v1/nodes", json!(null)).await;
    assert_eq!(nodes["nodes"][0]["state"], "offline");

    // An idle stream is kept open by a comment every 15 s.
    let comments = events.comments;
    assert!(
        events
            .next(Duration::from_secs(17))
            .await
            .is_err_and(|ended| !ended)
    );
    assert!(events.comments > comments, "a keep-alive comment came");

    // The stream ends when the hub stops.
    let reader = tokio::spawn(async move {
        loop {
            match events.next(Duration::from_secs(20)).await {
                Ok(_) => continue,
                Err(ended) => return ended,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(20), hub.stop())
        .await
        .expect("an open event stream does not hold the hub up");
    assert!(reader.await.unwrap(), "the stream ended, not timed out");
}

async fn metrics_keep_an_hour_of_heartbeats(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let token = hub.registered_node("box", &[]).await;
    let empty = send(&hub, Method::GET, "/v1/nodes/box/metrics", json!(null)).await;
    assert_eq!(empty["samples"], json!([]));
    let start = hub.hub.now();
    for (minutes, cpu) in [(0, 10.0), (30, 20.0), (31, 30.0)] {
        hub.clock.advance(Duration::from_secs(minutes * 60));
        let answer = hub.post(&token, "/v1/agent/heartbeat", &beat(cpu, 1)).await;
        assert_eq!(answer.status(), StatusCode::OK);
    }
    // Also reachable by id; a heartbeat without figures adds no sample.
    let id = empty["node"].as_str().unwrap().to_owned();
    assert_eq!(
        hub.post(&token, "/v1/agent/heartbeat", &json!({}))
            .await
            .status(),
        StatusCode::OK
    );
    let kept = send(
        &hub,
        Method::GET,
        &format!("/v1/nodes/{id}/metrics"),
        json!(null),
    )
    .await;
    assert_eq!(kept["node"], id.as_str());
    // At start + 61 min the sample from start is more than an hour old.
    let at: Vec<i64> = kept["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["at"].as_i64().unwrap())
        .collect();
    assert_eq!(at, vec![start + 30 * 60_000, start + 61 * 60_000], "{kept}");
    assert_eq!(kept["samples"][1]["cpu_percent"], 30.0);
    // An hour later with no heartbeat, none is left.
    hub.clock.advance(Duration::from_secs(3601));
    let later = send(&hub, Method::GET, "/v1/nodes/box/metrics", json!(null)).await;
    assert_eq!(later["samples"], json!([]));
    let unknown = expect_error(
        hub.get(&hub.admin, "/v1/nodes/nobody/metrics").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert!(
        unknown["message"]
            .as_str()
            .unwrap()
            .contains("gantry node list"),
        "{unknown}"
    );
    hub.stop().await;
}

async fn draining_and_held_tasks_show_in_the_node_list(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let token = hub.registered_node("box", &[]).await;
    hub.registered_node("idle", &[]).await;
    let first = hub
        .submit(json!({"image": "busybox", "name": "first"}))
        .await;
    let second = hub
        .submit(json!({"image": "busybox", "name": "second"}))
        .await;
    let done = hub
        .submit(json!({"image": "busybox", "name": "done"}))
        .await;
    for _ in 0..3 {
        hub.next(&token, 1).await.unwrap();
    }
    hub.event(&token, &second, json!({"event": "running"}))
        .await;
    hub.event(&token, &done, json!({"event": "running"})).await;
    hub.event(&token, &done, json!({"event": "finished", "exit_code": 0}))
        .await;

    let mut events = EventReader::open(&hub).await;
    let drain = json!({"accepting": false, "draining": true});
    assert_eq!(
        hub.post(&token, "/v1/agent/heartbeat", &drain)
            .await
            .status(),
        StatusCode::OK
    );
    events.expect("nodes", |_| true).await;
    let list = send(&hub, Method::GET, "/v1/nodes", json!(null)).await;
    let boxed = &list["nodes"][0];
    assert_eq!(
        (boxed["name"].as_str(), boxed["state"].as_str()),
        (Some("box"), Some("draining"))
    );
    assert_eq!(
        boxed["running"],
        json!([
            {"id": first, "name": "first", "state": "assigned"},
            {"id": second, "name": "second", "state": "running"},
        ]),
        "held tasks, oldest first, without the finished one"
    );
    assert_eq!(list["nodes"][1]["running"], json!([]));
    let shown = send(&hub, Method::GET, "/v1/nodes/box", json!(null)).await;
    assert_eq!(shown["state"], "draining");
    assert_eq!(shown["running"].as_array().unwrap().len(), 2);

    // The same heartbeat again changes nothing: no event. Paused, then online, are changes.
    events.settle().await;
    assert_eq!(
        hub.post(&token, "/v1/agent/heartbeat", &drain)
            .await
            .status(),
        StatusCode::OK
    );
    assert!(events.next(Duration::from_millis(600)).await.is_err());
    for (body, state) in [
        (json!({"accepting": false}), "paused"),
        (json!({"accepting": true}), "online"),
    ] {
        assert_eq!(
            hub.post(&token, "/v1/agent/heartbeat", &body)
                .await
                .status(),
            StatusCode::OK
        );
        events.expect("nodes", |_| true).await;
        let shown = send(&hub, Method::GET, "/v1/nodes/box", json!(null)).await;
        assert_eq!(shown["state"], state);
    }
    hub.stop().await;
}

/// The spec of the `i`th task of the paging test.
fn numbered_job(i: usize) -> JobSpec {
    let name = if i.is_multiple_of(2) {
        format!("Train-{i}")
    } else {
        format!("eval-{i}")
    };
    let labels = if i.is_multiple_of(3) {
        json!(["gpu", "eu"])
    } else {
        json!(["cpu"])
    };
    serde_json::from_value(json!({"image": "busybox", "name": name, "labels": labels})).unwrap()
}

/// Every page of `filter` by `before`, as (id, created_at) lists.
async fn walk_pages(hub: &TestHub, query: &str, limit: u32) -> Vec<Vec<(String, i64)>> {
    let mut pages = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut path = format!("/v1/tasks?limit={limit}{query}");
        if let Some(cursor) = &before {
            path.push_str(&format!("&before={cursor}"));
        }
        let page = send(hub, Method::GET, &path, json!(null)).await;
        let tasks: Vec<(String, i64)> = page["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_owned(),
                    t["created_at"].as_i64().unwrap(),
                )
            })
            .collect();
        pages.push(tasks);
        match page.get("next") {
            None | Some(Value::Null) => return pages,
            Some(next) => before = Some(next.as_str().unwrap().to_owned()),
        }
        assert!(pages.len() < 100, "paging ends");
    }
}

async fn pages_by_before_walk_every_task_once_with_filters(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let db = hub.hub.db();
    let mut all = Vec::new();
    for i in 0..2_500 {
        // Ten tasks share each millisecond, so ties on created_at are paged by id.
        if i % 10 == 0 {
            hub.clock.advance(Duration::from_millis(1));
        }
        let id = db
            .submit(&numbered_job(i), None, "tester", &[], hub.hub.now())
            .await
            .unwrap();
        if i % 5 == 0 {
            db.request(&id, CommandKind::Cancel, "tester", hub.hub.now())
                .await
                .unwrap();
        }
        all.push((i, id));
    }
    let token = hub.registered_node("box", &["cpu"]).await;
    let mut claimed = BTreeSet::new();
    for _ in 0..4 {
        claimed.insert(hub.next(&token, 1).await.unwrap());
    }

    // Unfiltered, in pages of 1000: 1000, 1000, 500, newest first, each task once.
    let pages = walk_pages(&hub, "", 1000).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![1000, 1000, 500]
    );
    let listed: Vec<(String, i64)> = pages.concat();
    let ids: HashSet<&String> = listed.iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 2_500, "no task twice");
    assert!(all.iter().all(|(_, id)| ids.contains(id)), "no task missed");
    for pair in listed.windows(2) {
        let ((a, at_a), (b, at_b)) = (&pair[0], &pair[1]);
        assert!(
            (at_a, a) > (at_b, b),
            "newest first by (created_at, id): {pair:?}"
        );
    }

    // Filters combined: label, state and a name in another case, paged by 50.
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|(i, _)| i % 3 == 0 && i % 5 == 0 && i % 2 == 0)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(expected.len(), 84);
    let pages = walk_pages(&hub, "&label=gpu&state=canceled&name=tRAIN", 50).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![50, 34]);
    let got: Vec<String> = pages.concat().into_iter().map(|(id, _)| id).collect();
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(got.len(), expected.len());
    // The name is a substring, with LIKE's wildcards taken as text.
    let one = walk_pages(&hub, "&name=ain-124", 1000).await.concat();
    assert_eq!(
        one.len(),
        6,
        "Train-124 and the even Train-1240..1248: {one:?}"
    );
    assert!(
        walk_pages(&hub, "&name=%25", 1000)
            .await
            .concat()
            .is_empty()
    );
    assert!(walk_pages(&hub, "&name=_", 1000).await.concat().is_empty());
    // By node: the tasks it took.
    let by_node = walk_pages(&hub, "&node=box", 2).await;
    let got: BTreeSet<String> = by_node.concat().into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, claimed);
    assert!(
        walk_pages(&hub, "&node=nobody", 10)
            .await
            .concat()
            .is_empty()
    );

    // Bad values are refused with a sentence.
    for query in ["before=12", "before=x.y", "label=a%20b"] {
        let refused = expect_error(
            hub.get(&hub.admin, &format!("/v1/tasks?{query}")).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.starts_with("before:") || message.starts_with("label:"),
            "{message}"
        );
    }

    // Each filter reads its index in page order, never sorting the matches.
    let deep = TaskCursor {
        created_at: listed[2_000].1,
        id: listed[2_000].0.clone(),
    };
    let filters = [
        TaskFilter {
            limit: 100,
            ..TaskFilter::default()
        },
        TaskFilter {
            before: Some(deep.clone()),
            limit: 100,
            ..TaskFilter::default()
        },
        TaskFilter {
            state: Some(TaskState::Queued),
            before: Some(deep),
            limit: 100,
            ..TaskFilter::default()
        },
        TaskFilter {
            node: Some("box".into()),
            limit: 100,
            ..TaskFilter::default()
        },
        TaskFilter {
            label: Some("gpu".into()),
            state: Some(TaskState::Canceled),
            limit: 100,
            ..TaskFilter::default()
        },
    ];
    for filter in &filters {
        let plan = db.explain_tasks(filter).await.unwrap().join("\n");
        eprintln!("{backend:?} {filter:?}:\n{plan}\n");
        if backend == Backend::Sqlite {
            assert!(!plan.contains("TEMP B-TREE"), "sorted the matches: {plan}");
            for line in plan.lines().filter(|line| line.starts_with("SCAN ")) {
                assert!(line.contains("INDEX"), "a table read whole: {plan}");
            }
        }
    }
    hub.stop().await;
}

/// Posts a job file to the check as YAML.
async fn check_yaml(hub: &TestHub, text: &str) -> Value {
    let response = hub
        .request(Method::POST, &hub.admin, "/v1/jobs/check")
        .header("content-type", "application/yaml")
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn jobs_are_checked_without_being_submitted(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    hub.node("gpu-box", &[]).await;

    // A YAML error: where it is, and what to write.
    let check = check_yaml(&hub, "image: busybox\ncommand: [echo\nenv: {A: 1}\n").await;
    assert_eq!(check["ok"], false);
    let problems = check["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{check}");
    assert!(
        problems[0]["line"].as_u64().is_some_and(|l| l >= 2),
        "{check}"
    );
    assert!(problems[0]["column"].as_u64().is_some(), "{check}");
    assert!(problems[0]["message"].as_str().unwrap().len() > 10);
    // A key of the wrong kind: its path, line and hint.
    let check = check_yaml(&hub, "image: busybox\nresources:\n  gpus: lots\n").await;
    let problem = &check["problems"][0];
    assert_eq!(problem["path"], "resources.gpus", "{check}");
    assert_eq!(problem["line"], 3, "{check}");
    assert!(
        problem["message"].as_str().unwrap().contains("count"),
        "{check}"
    );

    // A job that parses with several problems: every one, by key.
    let bad = "image: busybox\nfiles:\n  - {path: a.txt, content: x}\n  - {path: a.txt, content: y}\n  - {path: /etc/passwd, content: z}\nresources: {memory: 0b}\n";
    let check = check_yaml(&hub, bad).await;
    let paths: Vec<&str> = check["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(paths.len() >= 3, "{check}");
    assert!(paths.iter().any(|p| p.starts_with("files[1]")), "{check}");
    assert!(paths.iter().any(|p| p.starts_with("files[2]")), "{check}");
    assert!(
        paths.iter().any(|p| p.starts_with("resources.memory")),
        "{check}"
    );

    // What only the hub knows: a blob it lacks, a node it does not have.
    let missing = "a".repeat(64);
    let job =
        json!({"image": "busybox", "node": "cpu-box", "inputs": {missing.clone(): "data.csv"}});
    let response = hub.post(&hub.admin, "/v1/jobs/check", &job).await;
    assert_eq!(response.status(), StatusCode::OK);
    let check: Value = response.json().await.unwrap();
    assert_eq!(check["ok"], false);
    let problems = check["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{check}");
    assert_eq!(problems[0]["path"], "inputs");
    assert!(problems[0]["message"].as_str().unwrap().contains(&missing));
    assert_eq!(problems[1]["path"], "node");
    assert!(
        problems[1]["message"]
            .as_str()
            .unwrap()
            .contains("its nodes are: gpu-box"),
        "{check}"
    );

    // A good job: ok, and nothing was submitted by any of these checks.
    let check = check_yaml(&hub, "image: busybox\ncommand: [echo, hi]\nnode: gpu-box\n").await;
    assert_eq!(check, json!({"ok": true, "problems": []}));
    let list = send(&hub, Method::GET, "/v1/tasks", json!(null)).await;
    assert_eq!(list["tasks"], json!([]));
    assert!(
        list.get("next").is_none(),
        "no next on the last page: {list}"
    );
    // Not text at all is a problem too, not an error.
    let response = hub
        .request(Method::POST, &hub.admin, "/v1/jobs/check")
        .body(vec![0xff, 0xfe])
        .send()
        .await
        .unwrap();
    let check: Value = response.json().await.unwrap();
    assert_eq!(check["ok"], false);
    hub.stop().await;
}

/// Issue 17: a heartbeat whose yielding or capacity changed is a `nodes`
/// event; the same heartbeat again is not.
async fn a_yield_or_a_new_capacity_tells_the_stream(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let token = hub.registered_node("desk", &[]).await;
    let mut events = EventReader::open(&hub).await;
    events.settle().await;
    let yielding = json!({"yielding": {"reason": "on battery", "gpu_only": false, "since": 1}});
    let gpus = |free: u64| {
        json!({"yielding": yielding["yielding"], "capacity": {"gpus": [
            {"index": 0, "uuid": "GPU-0", "free_bytes": free, "holders": 0, "shared": false, "reserved": false}]}})
    };
    for (body, tells) in [
        (yielding.clone(), true),
        (yielding.clone(), false),
        (gpus(10), true),
        (gpus(10), false),
        (gpus(4), true),
        (json!({}), true),
    ] {
        let status = hub
            .post(&token, "/v1/agent/heartbeat", &body)
            .await
            .status();
        assert_eq!(status, StatusCode::OK);
        if tells {
            events.expect("nodes", |_| true).await;
            events.settle().await;
        } else {
            let next = events.next(Duration::from_millis(600)).await;
            assert!(
                matches!(next, Err(false)),
                "{body} changed nothing: {next:?}"
            );
        }
    }
    hub.stop().await;
}
