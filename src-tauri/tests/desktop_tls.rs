//! The built app's wizard against a hub that serves TLS with a certificate
//! of its own CA: refused until the wizard is given the CA file, then
//! connected, the file kept in desktop.json; and plain http to another
//! computer asks for the person's consent first. Under Xvfb with a private
//! D-Bus session and keyring, driven through tauri-driver.

mod support;

use std::sync::Arc;

use gantry_hub::tls::{ServerCert, TlsFiles, serve_tls};
use gantry_hub::{Hub, HubConfig, SystemClock};
use gantry_testkit::desktop::{Desktop, desktop_ready};
use gantry_testkit::tls::TestCa;
use support::Driver;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wizard_trusts_a_hub_through_its_ca_file_and_asks_before_plain_http() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::open(
        dir.path(),
        None,
        HubConfig::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap();
    let node = hub.db().add_node("desk", &[], hub.now()).await.unwrap();
    let ca = TestCa::new("team CA");
    let ca_file = dir.path().join("team-ca.pem");
    ca.write(&ca_file);
    let files = TlsFiles {
        cert: dir.path().join("hub.pem"),
        key: dir.path().join("hub.key"),
    };
    ca.server(&["127.0.0.1"], 1).write(&files.cert, &files.key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    let serving = tokio::spawn(serve_tls(
        listener,
        hub,
        Arc::new(ServerCert::load(files).unwrap()),
        stop.clone().cancelled_owned(),
    ));
    let driver = Driver::start(&desktop, &[]).await;

    let server = driver.wait("[data-testid=wizard-server]", 60).await;
    let token = driver.wait("[data-testid=wizard-token]", 5).await;
    let connect = driver.wait("[data-testid=wizard-connect]", 5).await;
    driver.type_text(&token, &node).await;

    // Plain http to another computer: the wizard asks, and refuses unticked.
    assert!(
        driver
            .find("[data-testid=wizard-insecure-note]")
            .await
            .is_none()
    );
    driver.type_text(&server, "http://192.0.2.10:8750").await;
    driver
        .wait("[data-testid=wizard-allow-insecure-http]", 10)
        .await;
    driver.click(&connect).await;
    let error = driver
        .wait_text("[data-testid=wizard-error]", 30, |t| !t.is_empty())
        .await;
    assert!(error.contains("in clear"), "{error}");

    // The TLS hub without its CA: a TLS error, nothing kept.
    driver.clear(&server).await;
    driver.type_text(&server, &url).await;
    driver.click(&connect).await;
    let error = driver
        .wait_text("[data-testid=wizard-error]", 30, |t| {
            t.contains("secure connection")
        })
        .await;
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(desktop.keychain_lookup(&url), None);

    // With the CA file it connects, and the file is kept for the next start.
    let ca_field = driver.wait("[data-testid=wizard-ca-file]", 5).await;
    driver.type_text(&ca_field, ca_file.to_str().unwrap()).await;
    driver.click(&connect).await;
    driver
        .wait_text("[data-testid=status-connection]", 60, |t| {
            t.trim() == "connected"
        })
        .await;
    let settings =
        std::fs::read_to_string(desktop.config_dir().join("gantry/desktop.json")).unwrap();
    let settings: serde_json::Value = serde_json::from_str(&settings).unwrap();
    assert_eq!(settings["ca_file"], ca_file.to_str().unwrap());
    assert_eq!(settings["server"], url.as_str());

    driver.quit().await;
    stop.cancel();
    serving.await.unwrap().unwrap();
}
