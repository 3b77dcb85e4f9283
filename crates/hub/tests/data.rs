//! Data in and out at the hub, over real sockets on SQLite and PostgreSQL:
//! what a job may reference, what a node token may read, and the relay that
//! brings outputs kept on a node through the hub.

use std::time::Duration;

use gantry_hub::HubConfig;
use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Digest;

on_both!(
    local_paths_and_missing_blobs_are_refused,
    node_reads_only_what_it_was_given,
    node_kept_outputs_are_relayed,
    relay_refusals_are_said,
);

fn sha(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Puts `bytes` on the hub as the admin; returns the sha256.
async fn put(hub: &TestHub, bytes: &[u8]) -> String {
    let sha = sha(bytes);
    let response = hub
        .request(Method::PUT, &hub.admin, &format!("/v1/blobs/{sha}"))
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    sha
}

fn manifest(files: &[(&str, &str, u64)]) -> Vec<u8> {
    let files: Vec<Value> = files
        .iter()
        .map(|(path, sha, size)| json!({"path": path, "sha256": sha, "size": size}))
        .collect();
    serde_json::to_vec(&json!({"format": "gantry-tree/1", "files": files})).unwrap()
}

/// The sentence of a refused submit: 400 for what the document states (a
/// local path is no input key), 422 with `code` for what depends on the
/// hub's blobs.
async fn refused_with(hub: &TestHub, job: Value, status: StatusCode, code: &str) -> String {
    let body = expect_error(hub.post(&hub.admin, "/v1/tasks", &job).await, status, code).await;
    body["message"].as_str().unwrap().to_owned()
}

async fn refused(hub: &TestHub, job: Value) -> String {
    refused_with(hub, job, StatusCode::BAD_REQUEST, "invalid_job").await
}

async fn lacking(hub: &TestHub, job: Value) -> String {
    refused_with(hub, job, StatusCode::UNPROCESSABLE_ENTITY, "blob_missing").await
}

async fn unusable(hub: &TestHub, job: Value) -> String {
    refused_with(hub, job, StatusCode::UNPROCESSABLE_ENTITY, "invalid_job").await
}

async fn local_paths_and_missing_blobs_are_refused(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let message = refused(&hub, json!({"image": "x", "inputs": {"./dataset": "data"}})).await;
    assert!(
        message.contains(
            "inputs: ./dataset is a local path; `gantry task submit` uploads it, the API needs sha256 references"
        ),
        "{message}"
    );
    let message = refused(&hub, json!({"image": "x", "inputs": {"dataset": "data"}})).await;
    assert!(
        message.contains("start a local file or folder with ./"),
        "{message}"
    );

    let absent = "0".repeat(64);
    let message = lacking(
        &hub,
        json!({"image": "x", "inputs": {format!("tree:{absent}"): "d"}}),
    )
    .await;
    assert!(
        message.contains("the folder manifest is not on the hub"),
        "{message}"
    );

    let present = put(&hub, b"present").await;
    let missing = sha(b"missing");
    let tree = put(
        &hub,
        &manifest(&[("a.txt", &present, 7), ("sub/b.txt", &missing, 7)]),
    )
    .await;
    let message = lacking(
        &hub,
        json!({"image": "x", "inputs": {format!("tree:{tree}"): "d"}}),
    )
    .await;
    assert!(
        message.contains(&format!(
            "1 of its files are not on the hub: sub/b.txt ({missing})"
        )),
        "{message}"
    );
    assert!(
        !message.contains("a.txt"),
        "only the missing one is named: {message}"
    );

    let escape = put(&hub, &manifest(&[("../../etc/passwd", &present, 7)])).await;
    let message = unusable(
        &hub,
        json!({"image": "x", "inputs": {format!("tree:{escape}"): "d"}}),
    )
    .await;
    assert!(message.contains("leaves the task folder"), "{message}");

    let not_json = put(&hub, b"just bytes").await;
    let message = unusable(
        &hub,
        json!({"image": "x", "inputs": {format!("tree:{not_json}"): "d"}}),
    )
    .await;
    assert!(message.contains("is not a folder manifest"), "{message}");

    // With every file there, the folder is accepted.
    let whole = put(&hub, &manifest(&[("a.txt", &present, 7)])).await;
    hub.submit(json!({"image": "x", "inputs": {format!("tree:{whole}"): "d"}}))
        .await;
    hub.stop().await;
}

async fn node_reads_only_what_it_was_given(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let mine = hub.registered_node("mine", &["a"]).await;
    let other = hub.registered_node("other", &["b"]).await;
    let file = put(&hub, b"file in a folder").await;
    let single = put(&hub, b"a single input").await;
    let tree = put(&hub, &manifest(&[("x/y.bin", &file, 16)])).await;
    let unrelated = put(&hub, b"nobody's").await;
    let id = hub
        .submit(json!({"image": "x", "labels": ["a"], "outputs": ["out"],
            "inputs": {format!("tree:{tree}"): "data", single.clone(): "one.bin"}}))
        .await;
    assert_eq!(hub.next(&mine, 5).await.as_deref(), Some(id.as_str()));
    for blob in [&tree, &file, &single] {
        let response = hub.get(&mine, &format!("/v1/blobs/{blob}")).await;
        assert_eq!(response.status(), StatusCode::OK, "its own task's {blob}");
        expect_error(
            hub.get(&other, &format!("/v1/blobs/{blob}")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    expect_error(
        hub.get(&mine, &format!("/v1/blobs/{unrelated}")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The admin reads anything.
    assert_eq!(
        hub.get(&hub.admin, &format!("/v1/blobs/{unrelated}"))
            .await
            .status(),
        StatusCode::OK
    );
    // Outputs: one on the hub, one kept on the node.
    let result = b"result bytes";
    let result_sha = put(&hub, result).await;
    let report = json!({"files": [
        {"path": "out/up.txt", "size": result.len(), "sha256": result_sha, "stored": "hub"},
        {"path": "out/kept.txt", "size": 4, "sha256": sha(b"kept"), "stored": "node"},
    ]});
    let response = hub
        .request(Method::PUT, &mine, &format!("/v1/tasks/{id}/outputs"))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Another node sees nothing of the task: not it, its log, outputs or their bytes.
    for path in [
        format!("/v1/tasks/{id}"),
        format!("/v1/tasks/{id}/log"),
        format!("/v1/tasks/{id}/outputs"),
        format!("/v1/tasks/{id}/outputs/out/up.txt"),
        format!("/v1/tasks/{id}/outputs/out/kept.txt"),
    ] {
        expect_error(
            hub.get(&other, &path).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // Nor may it answer (or fail) a fetch meant for another node.
    let fake = hub
        .request(
            Method::PUT,
            &other,
            "/v1/agent/fetches/0192f0c0-0000-7000-8000-000000000000",
        )
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(fake.status(), StatusCode::NOT_FOUND);
    // The node that ran it reads its outputs list and its uploaded output.
    let list: Value = hub
        .get(&mine, &format!("/v1/tasks/{id}/outputs"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["outputs"][1]["path"], "out/up.txt");
    assert_eq!(list["outputs"][1]["where"], "hub");
    assert_eq!(list["outputs"][0]["where"], "node");
    assert_eq!(list["outputs"][0]["node"], "mine");
    assert_eq!(list["outputs"][0]["node_online"], true);
    let got = hub
        .get(&mine, &format!("/v1/tasks/{id}/outputs/out/up.txt"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), result);
    hub.stop().await;
}

/// Submits a task, has `node` take it and report one kept output; returns the task id.
async fn task_with_kept_output(hub: &TestHub, node: &str, bytes: &[u8]) -> String {
    let id = hub.submit(json!({"image": "x", "outputs": ["out"]})).await;
    assert_eq!(hub.next(node, 5).await.as_deref(), Some(id.as_str()));
    let report = json!({"files": [
        {"path": "out/model.bin", "size": bytes.len(), "sha256": sha(bytes), "stored": "node"},
    ]});
    let response = hub
        .request(Method::PUT, node, &format!("/v1/tasks/{id}/outputs"))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    id
}

/// The node's next fetch request.
async fn next_fetch(hub: &TestHub, node: &str) -> Value {
    let list: Value = hub
        .get(node, "/v1/agent/fetches?wait=10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["fetches"].as_array().unwrap().len(), 1, "{list}");
    list["fetches"][0].clone()
}

async fn node_kept_outputs_are_relayed(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let node = hub.registered_node("keeper", &[]).await;
    let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let id = task_with_kept_output(&hub, &node, &bytes).await;
    // Nothing waits for the node before a download asks.
    let idle: Value = hub
        .get(&node, "/v1/agent/fetches?wait=0")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(idle["fetches"], json!([]));
    let download = hub.request(
        Method::GET,
        &hub.admin,
        &format!("/v1/tasks/{id}/outputs/out/model.bin"),
    );
    let download = tokio::spawn(async move { download.send().await.unwrap() });
    let request = next_fetch(&hub, &node).await;
    assert_eq!(request["task"], id.as_str());
    assert_eq!(request["path"], "out/model.bin");
    assert_eq!(request["sha256"], sha(&bytes).as_str());
    let fetch_id = request["id"].as_str().unwrap().to_owned();
    let sent = hub
        .request(Method::PUT, &node, &format!("/v1/agent/fetches/{fetch_id}"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::NO_CONTENT);
    let response = download.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-gantry-sha256"], sha(&bytes).as_str());
    let got = response.bytes().await.unwrap();
    assert_eq!(got.len(), bytes.len());
    assert!(got.as_ref() == bytes.as_slice(), "relayed byte-exact");
    // Nothing was stored on the hub.
    assert_eq!(
        hub.request(
            Method::HEAD,
            &hub.admin,
            &format!("/v1/blobs/{}", sha(&bytes))
        )
        .send()
        .await
        .unwrap()
        .status(),
        StatusCode::NOT_FOUND
    );
    // A request answered once cannot be answered again.
    let again = hub
        .request(Method::PUT, &node, &format!("/v1/agent/fetches/{fetch_id}"))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // The downloader goes away mid-transfer: the node's upload is ended.
    let download = hub.request(
        Method::GET,
        &hub.admin,
        &format!("/v1/tasks/{id}/outputs/out/model.bin"),
    );
    let download = tokio::spawn(async move {
        let mut response = download.send().await.unwrap();
        // Read one chunk, then hang up.
        let _ = response.chunk().await;
    });
    let request = next_fetch(&hub, &node).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let upload = hub
        .request(
            Method::PUT,
            &node,
            &format!("/v1/agent/fetches/{}", request["id"].as_str().unwrap()),
        )
        .body(body)
        .send();
    let upload = tokio::spawn(upload);
    let feeder = tokio::spawn(async move {
        // The node would keep sending; it stops when the hub ends the upload.
        for _ in 0..10_000 {
            if tx.send(Ok(vec![7u8; 64 << 10])).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    });
    download.await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(30), upload)
        .await
        .expect("the node's upload ends when the download goes away")
        .unwrap();
    match ended {
        Ok(response) => assert_eq!(response.status(), StatusCode::GONE),
        Err(error) => eprintln!("the upload was cut: {error}"),
    }
    assert!(
        feeder.await.unwrap(),
        "the node stopped sending before its file ended"
    );
    hub.stop().await;
}

async fn relay_refusals_are_said(backend: Backend) {
    let Some(hub) = TestHub::start_with(
        backend,
        HubConfig {
            offline_after: Duration::from_secs(60),
            check_every: Duration::from_secs(3600),
            fetch_begin_within: Duration::from_secs(2),
            ..HubConfig::default()
        },
    )
    .await
    else {
        return;
    };
    let node = hub.registered_node("gpu-7", &[]).await;
    let id = task_with_kept_output(&hub, &node, b"weights").await;
    let path = format!("/v1/tasks/{id}/outputs/out/model.bin");
    // The node says why it cannot.
    let download = hub.request(Method::GET, &hub.admin, &path);
    let download = tokio::spawn(async move { download.send().await.unwrap() });
    let request = next_fetch(&hub, &node).await;
    let failed = hub
        .post(
            &node,
            &format!("/v1/agent/fetches/{}/fail", request["id"].as_str().unwrap()),
            &json!({"reason": "the file was deleted"}),
        )
        .await;
    assert_eq!(failed.status(), StatusCode::NO_CONTENT);
    let body = expect_error(
        download.await.unwrap(),
        StatusCode::BAD_GATEWAY,
        "fetch_failed",
    )
    .await;
    assert_eq!(
        body["message"],
        "node gpu-7 cannot send output out/model.bin: the file was deleted"
    );
    // The node does not begin in time.
    let body = expect_error(
        hub.get(&hub.admin, &path).await,
        StatusCode::GATEWAY_TIMEOUT,
        "fetch_failed",
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("node gpu-7 did not begin sending output out/model.bin within 2 s"),
        "{body}"
    );
    // An unknown output.
    expect_error(
        hub.get(&hub.admin, &format!("/v1/tasks/{id}/outputs/out/nope"))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // The node goes silent: it is offline, and the sentence says since when.
    hub.clock.advance(Duration::from_secs(600));
    let body = expect_error(
        hub.get(&hub.admin, &path).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "node_offline",
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("output out/model.bin is kept on node gpu-7, which is offline (last seen 2023-11-14 22:13:20 UTC, 10 min ago)"),
        "{message}"
    );
    let list: Value = hub
        .get(&hub.admin, &format!("/v1/tasks/{id}/outputs"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["outputs"][0]["node_online"], false);
    assert_eq!(list["outputs"][0]["node_last_seen"], 1_700_000_000_000i64);
    hub.stop().await;
}
