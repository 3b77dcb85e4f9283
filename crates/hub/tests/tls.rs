//! The hub over HTTPS in process: open long-polls on HTTP/1.1 and HTTP/2
//! connections end at once when it stops (204, not a dropped connection),
//! as over plain HTTP.

use std::sync::Arc;
use std::time::Duration;

use gantry_hub::tls::{ServerCert, TlsFiles, serve_tls};
use gantry_testkit::tls::TestCa;
use gantry_testkit::{Backend, TestHub};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn stopping_ends_long_polls_over_http1_and_http2() {
    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let node = hub.registered_node("n1", &[]).await;
    let ca = TestCa::new("ca");
    let files = TlsFiles {
        cert: hub.dir.path().join("hub.pem"),
        key: hub.dir.path().join("hub.key"),
    };
    ca.server(&["127.0.0.1"], 1).write(&files.cert, &files.key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let serving = tokio::spawn(serve_tls(
        listener,
        hub.hub.clone(),
        Arc::new(ServerCert::load(files).unwrap()),
        stop.clone().cancelled_owned(),
    ));
    let polls: Vec<_> = [false, true]
        .into_iter()
        .map(|http1| {
            let mut client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
                .no_proxy();
            if http1 {
                client = client.http1_only();
            }
            let request = client
                .build()
                .unwrap()
                .get(format!("{url}/v1/agent/next?wait=60"))
                .bearer_auth(&node);
            tokio::spawn(async move { request.send().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    // It would take 60 s if a poll held it open.
    tokio::time::timeout(Duration::from_secs(20), serving)
        .await
        .expect("stopping does not wait for long-polls")
        .unwrap()
        .unwrap();
    let mut versions = Vec::new();
    for poll in polls {
        let response = poll.await.unwrap().expect("the poll was answered");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        versions.push(response.version());
    }
    assert_eq!(
        versions,
        [reqwest::Version::HTTP_2, reqwest::Version::HTTP_11]
    );
}
