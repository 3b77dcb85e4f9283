//! The web console as a person starts it: a real `gantry hub serve` that
//! says where its console is, signs a browser in for `--session-hours`, and
//! serves the console's page; and the admin token names `hub token create`
//! refuses, as the hub's `POST /v1/tokens` does.

use std::path::Path;

use gantry_testkit::children::hub_admin_command;
use gantry_testkit::{HubChild, hub_admin, hub_serve, until_blocking};
use serde_json::{Value, json};

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_says_where_its_console_is_and_sessions_last_the_hours_given() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let gantry = Path::new(GANTRY);
    let admin = hub_admin(gantry, &data, &["hub", "token", "create", "--admin", "me"]).unwrap();
    let stderr = dir.path().join("stderr");
    let hub = HubChild::start(
        hub_serve(gantry, &data, "127.0.0.1:0")
            .env("GANTRY_HUB_SESSION_HOURS", "3")
            // The default level: sign-ins are logged, never their token or secret.
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&stderr).unwrap()),
    )
    .unwrap();
    let said = || std::fs::read_to_string(&stderr).unwrap_or_default();
    let line = until_blocking(10, "the hub's console line", || {
        said()
            .lines()
            .find(|line| line.starts_with("console:"))
            .map(str::to_owned)
    });
    if gantry_hub::has_console() {
        assert!(
            line.starts_with(&format!("console: {}/ ", hub.url(""))),
            "{line}"
        );
        assert!(
            line.contains("gantry hub token create --admin NAME"),
            "{line}"
        );
    } else {
        assert!(line.contains("npm run build"), "{line}");
    }

    let http = reqwest::Client::new();
    let signed = http
        .post(hub.url("/v1/session"))
        .json(&json!({ "token": admin }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), reqwest::StatusCode::CREATED);
    let cookie = signed.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Max-Age=10800"), "{cookie}");
    assert!(!cookie.contains(&admin), "{cookie}");
    let body: Value = signed.json().await.unwrap();
    assert_eq!(body["name"], "me");
    // Nothing the hub wrote to its log or its data folder holds the token or the cookie's secret.
    let secret = cookie["gantry_session=".len()..].split(';').next().unwrap();
    until_blocking(10, "the sign-in in the hub's log", || {
        said().contains("console session started").then_some(())
    });
    assert!(!said().contains(secret) && !said().contains(&admin));

    let page = http.get(hub.url("/")).send().await.unwrap();
    let expected = if gantry_hub::has_console() { 200 } else { 503 };
    assert_eq!(page.status().as_u16(), expected);
    drop(hub);
}

#[test]
fn session_hours_and_token_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("hub");
    let gantry = Path::new(GANTRY);
    let zero = hub_serve(gantry, &data, "127.0.0.1:0")
        .args(["--session-hours", "0"])
        .output()
        .unwrap();
    assert!(!zero.status.success());
    let text = String::from_utf8_lossy(&zero.stderr);
    assert!(text.contains("--session-hours"), "{text}");
    for name in [" alice", "a\tb"] {
        let made = hub_admin_command(gantry, &data, &["hub", "token", "create", "--admin", name])
            .output()
            .unwrap();
        assert!(!made.status.success(), "{name:?}");
        assert!(made.stdout.is_empty(), "no token is printed for {name:?}");
        let text = String::from_utf8_lossy(&made.stderr);
        assert!(
            text.contains("token name") || text.contains("spaces"),
            "{text}"
        );
    }
}
