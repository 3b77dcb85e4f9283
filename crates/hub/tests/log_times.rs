//! `GET /v1/tasks/{id}/log/times` over real sockets, on SQLite and
//! PostgreSQL: each stored append gives a mark at its first byte with the
//! hub's time of arrival; repeats give none; the marks page by offset; a
//! node reads only its own tasks' marks.

use std::sync::Arc;
use std::time::Duration;

use gantry_hub::{Clock, HubConfig, ManualClock};
use gantry_testkit::hub::{Database, Serving, open};
use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both!(
    appends_give_marks_at_their_offsets_and_times,
    marks_page_by_offset,
    unknown_and_foreign_tasks_are_not_found,
    a_long_log_continues_at_next,
);

fn job() -> Value {
    json!({"name": "times", "image": "busybox", "command": ["echo", "hi"]})
}

/// The marks as (offset, at) pairs, and `next`.
async fn times(
    hub: &TestHub,
    token: &str,
    id: &str,
    query: &str,
) -> (Vec<(u64, i64)>, Option<u64>) {
    let response = hub
        .get(token, &format!("/v1/tasks/{id}/log/times{query}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    marks(response.json().await.unwrap())
}

fn marks(body: Value) -> (Vec<(u64, i64)>, Option<u64>) {
    let marks = body["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["offset"].as_u64().unwrap(), m["at"].as_i64().unwrap()))
        .collect();
    (marks, body["next"].as_u64())
}

/// A task claimed by a fresh node; returns the node's token and the task's id.
async fn running(hub: &TestHub, node: &str) -> (String, String) {
    let token = hub.registered_node(node, &[]).await;
    let id = hub.submit(job()).await;
    assert_eq!(hub.next(&token, 1).await.as_deref(), Some(id.as_str()));
    (token, id)
}

async fn append_ok(hub: &TestHub, token: &str, id: &str, offset: u64, bytes: &[u8]) {
    let response = hub.append(token, id, offset, bytes).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn appends_give_marks_at_their_offsets_and_times(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let (node, id) = running(&hub, "n1").await;
    assert_eq!(times(&hub, &hub.admin, &id, "").await, (vec![], None));

    let t0 = hub.hub.now();
    append_ok(&hub, &node, &id, 0, b"one\n").await;
    hub.clock.advance(Duration::from_millis(1_250));
    append_ok(&hub, &node, &id, 4, b"two\nthr").await;
    // Two appends in the same second keep their own exact times.
    hub.clock.advance(Duration::from_millis(7));
    append_ok(&hub, &node, &id, 11, b"ee\n").await;
    let want = vec![(0, t0), (4, t0 + 1_250), (11, t0 + 1_257)];
    assert_eq!(times(&hub, &hub.admin, &id, "").await, (want.clone(), None));

    // A resent append (all of it held already) adds no mark, later or not.
    hub.clock.advance(Duration::from_secs(60));
    append_ok(&hub, &node, &id, 0, b"one\ntwo\n").await;
    append_ok(&hub, &node, &id, 11, b"ee\n").await;
    assert_eq!(times(&hub, &hub.admin, &id, "").await, (want.clone(), None));

    // An overlap stores its new part, marked where that part begins.
    let t3 = hub.hub.now();
    append_ok(&hub, &node, &id, 12, b"e\nfour\n").await;
    let mut with_overlap = want.clone();
    with_overlap.push((14, t3));
    assert_eq!(
        times(&hub, &hub.admin, &id, "").await,
        (with_overlap.clone(), None)
    );
    // A refused gap adds none either.
    let gap = hub.append(&node, &id, 99, b"late").await;
    assert_eq!(gap.status(), StatusCode::CONFLICT);
    assert_eq!(
        times(&hub, &hub.admin, &id, "").await,
        (with_overlap.clone(), None)
    );
    // The node that runs the task reads them too; the log itself is unchanged.
    assert_eq!(times(&hub, &node, &id, "").await, (with_overlap, None));
    assert_eq!(hub.log(&id).await, b"one\ntwo\nthree\nfour\n");
    hub.stop().await;
}

async fn marks_page_by_offset(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let (node, id) = running(&hub, "n1").await;
    let start = hub.hub.now();
    // Chunks at 0, 10, 20, 30, 40, each a second after the last.
    for i in 0..5u64 {
        append_ok(
            &hub,
            &node,
            &id,
            i * 10,
            format!("line {i:04}\n").as_bytes(),
        )
        .await;
        hub.clock.advance(Duration::from_secs(1));
    }
    let at = |i: u64| start + 1_000 * i as i64;
    let all: Vec<(u64, i64)> = (0..5).map(|i| (i * 10, at(i))).collect();
    let get = |query: &'static str| times(&hub, &hub.admin, &id, query);
    assert_eq!(get("").await.0, all);
    assert_eq!(get("?offset=0").await.0, all);
    // From a chunk's first byte, or from inside it: that chunk comes first.
    assert_eq!(get("?offset=20").await.0, all[2..]);
    assert_eq!(get("?offset=25").await.0, all[2..]);
    assert_eq!(get("?offset=49").await.0, all[4..]);
    // A length keeps the chunks that hold any of those bytes.
    assert_eq!(get("?offset=20&length=10").await.0, all[2..3]);
    assert_eq!(get("?offset=15&length=6").await.0, all[1..3]);
    assert_eq!(get("?offset=0&length=1").await.0, all[..1]);
    assert_eq!(get("?offset=20&length=0").await.0, vec![]);
    // Past the end, and at the largest offset the document allows: none.
    assert_eq!(get("?offset=50").await, (vec![], None));
    assert_eq!(
        get("?offset=18446744073709551615&length=18446744073709551615").await,
        (vec![], None)
    );
    // Bad parameters get a sentence.
    for query in ["?offset=-1", "?length=x", "?follow=true"] {
        expect_error(
            hub.get(&hub.admin, &format!("/v1/tasks/{id}/log/times{query}"))
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    hub.stop().await;
}

async fn unknown_and_foreign_tasks_are_not_found(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let (a, id) = running(&hub, "a").await;
    append_ok(&hub, &a, &id, 0, b"mine\n").await;
    let b = hub.registered_node("b", &[]).await;
    expect_error(
        hub.get(&hub.admin, "/v1/tasks/no-such-task/log/times")
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Another node's task is a 404, as its log is.
    expect_error(
        hub.get(&b, &format!("/v1/tasks/{id}/log/times")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(times(&hub, &a, &id, "").await.0.len(), 1);
    // Without a token: 401.
    expect_error(
        hub.get("", &format!("/v1/tasks/{id}/log/times")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    hub.stop().await;
}

/// 100,003 chunks written straight to the database (appending them one by
/// one over HTTP would take minutes): the first two as a hub before log
/// times left them, without a time.
async fn a_long_log_continues_at_next(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match Database::create().await {
            Some(database) => Some(database),
            None => return,
        },
    };
    let url = database
        .as_ref()
        .map_or_else(|| gantry_hub::sqlite_url(dir.path()), Database::url);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000)) as Arc<dyn Clock>;
    let (hub, admin) = open(
        dir.path(),
        database.as_ref().map(|_| url.as_str()),
        HubConfig::default(),
        clock,
    )
    .await;
    let serving = Serving::start(hub.clone()).await;
    let http = reqwest::Client::new();
    let submitted: Value = http
        .post(format!("{}/v1/tasks", serving.url))
        .bearer_auth(&admin)
        .json(&job())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = submitted["id"].as_str().unwrap().to_owned();

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 100002) \
         INSERT INTO log_chunks (task_id, start, size, data, received_at) \
         SELECT $1, i, 1, $2, CASE WHEN i < 2 THEN NULL ELSE 5000 + i END FROM n",
    )
    .bind(&id)
    .bind(b"x".to_vec())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE tasks SET log_size = 100003 WHERE id = $1")
        .bind(&id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let get = |query: String| {
        let request = http
            .get(format!("{}/v1/tasks/{id}/log/times{query}", serving.url))
            .bearer_auth(&admin)
            .send();
        async move {
            let response = request.await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            marks(response.json().await.unwrap())
        }
    };
    let (first, next) = get(String::new()).await;
    assert_eq!(first.len(), 100_000);
    assert_eq!(first[0], (2, 5002), "chunks without a time give no mark");
    assert_eq!(first[99_999], (100_001, 105_001));
    assert!(first.windows(2).all(|w| w[1] == (w[0].0 + 1, w[0].1 + 1)));
    assert_eq!(next, Some(100_002));
    let (rest, next) = get(format!("?offset={}", 100_002)).await;
    assert_eq!(rest, vec![(100_002, 105_002)]);
    assert_eq!(next, None);
    assert_eq!(get("?length=2".to_owned()).await, (vec![], None));

    serving.stop().await.unwrap().unwrap();
    hub.db().close().await;
    if let Some(database) = database {
        database.drop_it().await;
    }
}
