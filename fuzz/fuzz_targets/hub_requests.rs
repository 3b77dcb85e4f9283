//! The hub's router on arbitrary log appends, events and submits, against a
//! real hub on SQLite: every answer is an error with a code or a success,
//! never a 5xx, and the hub never panics.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use gantry_hub::{Hub, HubConfig, SystemClock};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct Fixture {
    /// Held for the life of the process: the hub's database is in it.
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    router: Router,
    admin: String,
    node: String,
    task: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (router, admin, node, task) = runtime.block_on(async {
            let (hub, admin) =
                gantry_testkit::hub::open(dir.path(), None, HubConfig::default(), Arc::new(SystemClock))
                    .await;
            let node = hub.db().add_node("fuzz", &[], hub.now()).await.unwrap();
            let spec = gantry_protocol::JobSpec {
                image: Some("busybox".into()),
                ..Default::default()
            };
            let task = hub.db().submit(&spec, None, "fuzz", &[], hub.now()).await.unwrap();
            let record = hub
                .db()
                .node_record(&node_id(&hub, &node).await)
                .await
                .unwrap()
                .unwrap();
            hub.db()
                .claim_next(&record, hub.now())
                .await
                .unwrap()
                .unwrap();
            (gantry_hub::app(hub), admin, node, task)
        });
        Fixture {
            _dir: dir,
            runtime,
            router,
            admin,
            node,
            task,
        }
    })
}

async fn node_id(hub: &Hub, token: &str) -> String {
    match hub.db().caller(token, hub.now()).await.unwrap() {
        Some(gantry_hub::db::Caller::Node { id, .. }) => id,
        _ => unreachable!("the fixture's node token belongs to a node"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    let (offset, body) = if rest.len() >= 8 {
        (
            u64::from_le_bytes(rest[..8].try_into().unwrap()) % 4096,
            &rest[8..],
        )
    } else {
        (0, rest)
    };
    let (method, uri, token, content_type) = match kind % 4 {
        0 => (
            "POST",
            format!("/v1/tasks/{}/log?offset={offset}", fixture.task),
            &fixture.node,
            "application/octet-stream",
        ),
        1 => (
            "POST",
            format!("/v1/tasks/{}/events", fixture.task),
            &fixture.node,
            "application/json",
        ),
        2 => (
            "POST",
            "/v1/tasks".to_owned(),
            &fixture.admin,
            "application/json",
        ),
        _ => (
            "POST",
            "/v1/tasks".to_owned(),
            &fixture.admin,
            "application/yaml",
        ),
    };
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .body(Body::from(body.to_vec()))
        .unwrap();
    let response = fixture
        .runtime
        .block_on(fixture.router.clone().oneshot(request))
        .unwrap();
    assert!(
        response.status().as_u16() < 500,
        "the hub answered {} to a request",
        response.status()
    );
});
