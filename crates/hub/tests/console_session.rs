//! The web console's sign-in over real sockets, each test on SQLite and on
//! PostgreSQL: a session cookie for an admin token (never the token), the
//! refusals with their sentences, the CSRF rule on calls made with the
//! cookie, and the ways a session ends (sign-out, revocation, expiry).

use std::time::Duration;

use gantry_hub::HubConfig;
use gantry_hub::api::Access;
use gantry_testkit::{Backend, TestHub, expect_error, on_both};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

on_both!(
    signing_in_sets_a_cookie_that_is_not_the_token,
    wrong_and_node_tokens_cannot_sign_in,
    without_a_session_every_admin_call_is_refused,
    cookie_calls_need_the_csrf_value_and_the_hubs_own_origin,
    sessions_end_at_sign_out_revocation_and_expiry,
);

/// A browser signed in: its cookie's secret and the session's CSRF value.
struct Signed {
    secret: String,
    csrf: String,
    set_cookie: String,
}

/// Signs in with `token`; panics unless the hub answers 201 with a cookie.
async fn sign_in(hub: &TestHub, token: &str) -> Signed {
    let response = hub
        .post("", "/v1/session", &json!({ "token": token }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    signed(response).await
}

async fn signed(response: Response) -> Signed {
    let set_cookie = set_cookie(&response);
    let body: Value = response.json().await.unwrap();
    let secret = set_cookie
        .strip_prefix("gantry_session=")
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("not the session cookie: {set_cookie}"))
        .to_owned();
    Signed {
        secret,
        csrf: body["csrf"].as_str().unwrap().to_owned(),
        set_cookie,
    }
}

fn set_cookie(response: &Response) -> String {
    response
        .headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_owned()
}

/// A request carrying only the session cookie (no Authorization header).
fn with_cookie(hub: &TestHub, method: Method, path: &str, secret: &str) -> reqwest::RequestBuilder {
    hub.request(method, "", path)
        .header("cookie", format!("theme=dark; gantry_session={secret}"))
}

fn attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

async fn signing_in_sets_a_cookie_that_is_not_the_token(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let now = hub.hub.now();
    let response = hub
        .post("", "/v1/session", &json!({ "token": hub.admin }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookie = set_cookie(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "tester");
    // The default: 12 hours, by the hub's clock.
    assert_eq!(body["expires_at"], json!(now + 12 * 3600 * 1000));
    let csrf = body["csrf"].as_str().unwrap();
    assert!(csrf.len() == 64 && csrf.bytes().all(|b| b.is_ascii_hexdigit()));
    let mut attrs = attributes(&cookie);
    attrs.sort();
    assert_eq!(
        attrs,
        ["HttpOnly", "Max-Age=43200", "Path=/", "SameSite=Strict"],
        "{cookie}"
    );
    let secret = cookie["gantry_session=".len()..].split(';').next().unwrap();
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!hub.admin.contains(secret) && !secret.contains(&hub.admin[13..]));
    assert_ne!(secret, csrf);

    // The cookie stands for the admin token: the session, and admin calls.
    let shown = with_cookie(&hub, Method::GET, "/v1/session", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(shown.status(), StatusCode::OK);
    assert_eq!(shown.json::<Value>().await.unwrap(), body);
    let tasks = with_cookie(&hub, Method::GET, "/v1/tasks", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.status(), StatusCode::OK);
    // Each sign-in is a session of its own, with its own secret and CSRF value.
    let again = sign_in(&hub, &hub.admin).await;
    assert_ne!(again.secret, secret);
    assert_ne!(again.csrf, csrf);
    assert_eq!(hub.hub.db().session_count().await.unwrap(), 2);
    // A browser that signs in again with its old cookie ends the old session.
    let renewed = hub
        .request(Method::POST, "", "/v1/session")
        .header("cookie", format!("gantry_session={}", again.secret))
        .json(&json!({ "token": hub.admin }))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), StatusCode::CREATED);
    assert_eq!(hub.hub.db().session_count().await.unwrap(), 2);
    let old = with_cookie(&hub, Method::GET, "/v1/session", &again.secret)
        .send()
        .await
        .unwrap();
    expect_error(old, StatusCode::UNAUTHORIZED, "session_ended").await;

    // Behind a proxy that says the browser used HTTPS, the cookie is Secure.
    let proxied = hub
        .request(Method::POST, "", "/v1/session")
        .header("x-forwarded-proto", "https")
        .json(&json!({ "token": hub.admin }))
        .send()
        .await
        .unwrap();
    assert!(
        attributes(&set_cookie(&proxied)).contains(&"Secure".to_owned()),
        "{proxied:?}"
    );

    // The database keeps the secret's hash only: no file of the hub holds it.
    if backend == Backend::Sqlite {
        for entry in std::fs::read_dir(hub.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(64).any(|w| w == secret.as_bytes()),
                    "{} holds a session's secret",
                    path.display()
                );
            }
        }
    }
    hub.stop().await;
}

async fn wrong_and_node_tokens_cannot_sign_in(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let wrong = expect_error(
        hub.post("", "/v1/session", &json!({"token": "gantry_admin_nope"}))
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(
        wrong["message"]
            .as_str()
            .unwrap()
            .contains("the hub does not know this token"),
        "{wrong}"
    );
    let node = hub.node("gpu-box", &[]).await;
    let refused = expect_error(
        hub.post("", "/v1/session", &json!({ "token": node })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    assert_eq!(
        refused["message"],
        "a node token cannot sign in to the console; sign in with an admin token \
         (gantry hub token create --admin NAME)"
    );
    // A revoked admin token says so, with its name.
    let ops = hub
        .hub
        .db()
        .create_admin_token("ops", hub.hub.now())
        .await
        .unwrap();
    let revoked = hub
        .request(Method::DELETE, &hub.admin, "/v1/tokens/ops")
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let said = expect_error(
        hub.post("", "/v1/session", &json!({ "token": ops })).await,
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    assert!(
        said["message"].as_str().unwrap().contains("\"ops\""),
        "{said}"
    );
    // A body that is not a sign-in is a 400 that names the key.
    expect_error(
        hub.post("", "/v1/session", &json!({"token": 5})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    // A sign-in posted by another site's page is refused, even with a good token.
    let forged = hub
        .request(Method::POST, "", "/v1/session")
        .header("origin", "https://evil.example")
        .json(&json!({ "token": hub.admin }))
        .send()
        .await
        .unwrap();
    expect_error(forged, StatusCode::FORBIDDEN, "csrf_refused").await;
    // None of these started a session.
    assert_eq!(hub.hub.db().session_count().await.unwrap(), 0);
    hub.stop().await;
}

/// A concrete path for a route of the table.
fn concrete(path: &str) -> String {
    path.replace("{sha256}", &"0".repeat(64))
        .replace(['{', '}'], "")
}

/// An empty JSON object as the body of a call that takes one.
fn body_for(method: &Method, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    if *method == Method::GET || *method == Method::HEAD {
        request
    } else {
        request.json(&json!({}))
    }
}

async fn without_a_session_every_admin_call_is_refused(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let routes: Vec<(Method, &str)> = gantry_hub::api::endpoints(&hub.hub)
        .iter()
        .filter(|e| {
            matches!(
                e.access,
                Access::Admin | Access::AdminOrNode | Access::Session
            )
        })
        .map(|e| (e.method.clone(), e.path))
        .collect();
    assert!(routes.len() > 15, "{routes:?}");
    let ended = sign_in(&hub, &hub.admin).await;
    let signed_out = with_cookie(&hub, Method::DELETE, "/v1/session", &ended.secret)
        .header("x-gantry-csrf", &ended.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::NO_CONTENT);
    for (method, path) in routes {
        let path = concrete(path);
        // No cookie and no token.
        let bare = body_for(&method, hub.request(method.clone(), "", &path))
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        if method != Method::HEAD {
            let body: Value = bare.json().await.unwrap();
            assert_eq!(body["code"], "unauthorized", "{method} {path}: {body}");
        }
        // The cookie of a session that ended, or one the hub never made.
        for secret in [ended.secret.as_str(), "forged", &"a".repeat(64)] {
            if method == Method::DELETE && path == "/v1/session" {
                continue; // signing out of no session only clears the cookie
            }
            let request = with_cookie(&hub, method.clone(), &path, secret)
                .header("x-gantry-csrf", &ended.csrf);
            let response = body_for(&method, request).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            if method != Method::HEAD {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], "session_ended", "{method} {path}: {body}");
                assert!(
                    body["message"].as_str().unwrap().contains("sign in again"),
                    "{body}"
                );
            }
        }
    }
    hub.stop().await;
}

/// The admin token names the hub lists.
async fn token_names(hub: &TestHub) -> Vec<String> {
    let list: Value = hub
        .get(&hub.admin, "/v1/tokens")
        .await
        .json()
        .await
        .unwrap();
    list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn cookie_calls_need_the_csrf_value_and_the_hubs_own_origin(backend: Backend) {
    let Some(hub) = TestHub::start(backend).await else {
        return;
    };
    let browser = sign_in(&hub, &hub.admin).await;
    let own_origin = hub.url.clone();
    let create = |csrf: Option<&str>, origin: Option<&str>, site: Option<&str>| {
        let mut request = with_cookie(&hub, Method::POST, "/v1/tokens", &browser.secret)
            .json(&json!({"name": "ci"}));
        if let Some(csrf) = csrf {
            request = request.header("x-gantry-csrf", csrf);
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    let forged = [
        (None, None, None),
        (Some("0".repeat(64)), None, None),
        (
            Some(browser.csrf.clone()),
            Some("http://evil.example"),
            None,
        ),
        (Some(browser.csrf.clone()), Some("null"), None),
        (
            Some(browser.csrf.clone()),
            Some("http://127.0.0.1:1"),
            Some("same-site"),
        ),
        (Some(browser.csrf.clone()), None, Some("cross-site")),
    ];
    for (csrf, origin, site) in &forged {
        let body = expect_error(
            create(csrf.as_deref(), *origin, *site).await.unwrap(),
            StatusCode::FORBIDDEN,
            "csrf_refused",
        )
        .await;
        assert!(body["message"].as_str().unwrap().len() > 40, "{body}");
    }
    // Nothing was made.
    assert_eq!(token_names(&hub).await, ["tester"]);
    // A read from another site is refused too; the same read from the console works.
    let foreign_read = with_cookie(&hub, Method::GET, "/v1/tokens", &browser.secret)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    expect_error(foreign_read, StatusCode::FORBIDDEN, "csrf_refused").await;

    // From the console itself, with the CSRF value: it works.
    let made = create(Some(&browser.csrf), Some(&own_origin), Some("same-origin"))
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    assert_eq!(made.headers()["cache-control"], "no-store");
    let made: Value = made.json().await.unwrap();
    assert_eq!(made["name"], "ci");
    let token = made["token"].as_str().unwrap();
    assert!(token.starts_with("gantry_admin_"), "{made}");
    assert_eq!(token_names(&hub).await, ["ci", "tester"]);
    // The new token works, and signs in.
    assert_eq!(hub.get(token, "/v1/tasks").await.status(), StatusCode::OK);
    sign_in(&hub, token).await;
    // Without an Origin (a same-origin call the browser did not label), the CSRF value suffices.
    let second = create(Some(&browser.csrf), None, None).await.unwrap();
    assert_eq!(second.status(), StatusCode::CREATED);

    // Bearer calls are as before: no CSRF value, whatever the Origin.
    let bearer = hub
        .request(Method::POST, &hub.admin, "/v1/tokens")
        .header("origin", "http://evil.example")
        .json(&json!({"name": "script"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::CREATED);
    // Names follow the node-name rule, as the CLI's --admin does.
    for name in ["", " ops", "a\u{7}b"] {
        expect_error(
            hub.post(&hub.admin, "/v1/tokens", &json!({ "name": name }))
                .await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    // A node token may not make admin tokens.
    let node = hub.node("n1", &[]).await;
    expect_error(
        hub.post(&node, "/v1/tokens", &json!({"name": "sneaky"}))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Signing out without the CSRF value is refused, and the session lives on.
    let out = with_cookie(&hub, Method::DELETE, "/v1/session", &browser.secret)
        .send()
        .await
        .unwrap();
    expect_error(out, StatusCode::FORBIDDEN, "csrf_refused").await;
    let still = with_cookie(&hub, Method::GET, "/v1/session", &browser.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), StatusCode::OK);
    hub.stop().await;
}

async fn sessions_end_at_sign_out_revocation_and_expiry(backend: Backend) {
    let config = HubConfig {
        session_for: Duration::from_secs(2 * 3600),
        ..HubConfig::default()
    };
    let Some(hub) = TestHub::start_with(backend, config).await else {
        return;
    };
    let get = |secret: &str| with_cookie(&hub, Method::GET, "/v1/tasks", secret).send();
    // Sign-out ends the session on the hub and clears the cookie.
    let browser = sign_in(&hub, &hub.admin).await;
    assert!(
        browser.set_cookie.contains("Max-Age=7200"),
        "{}",
        browser.set_cookie
    );
    assert_eq!(get(&browser.secret).await.unwrap().status(), StatusCode::OK);
    let out = with_cookie(&hub, Method::DELETE, "/v1/session", &browser.secret)
        .header("x-gantry-csrf", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared = set_cookie(&out);
    assert!(
        cleared.starts_with("gantry_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let body = expect_error(
        get(&browser.secret).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert!(body["message"].as_str().unwrap().contains("sign in again"));
    expect_error(
        with_cookie(&hub, Method::GET, "/v1/session", &browser.secret)
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    // Signing out again only clears the cookie; without one it is a 401.
    let again = with_cookie(&hub, Method::DELETE, "/v1/session", &browser.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT);
    expect_error(
        hub.request(Method::DELETE, "", "/v1/session")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Revoking the admin token ends its sessions, not the others'.
    let made: Value = hub
        .post(&hub.admin, "/v1/tokens", &json!({"name": "ops"}))
        .await
        .json()
        .await
        .unwrap();
    let ops = sign_in(&hub, made["token"].as_str().unwrap()).await;
    let mine = sign_in(&hub, &hub.admin).await;
    assert_eq!(get(&ops.secret).await.unwrap().status(), StatusCode::OK);
    let revoked = hub
        .request(Method::DELETE, "", "/v1/tokens/ops")
        .header("cookie", format!("gantry_session={}", mine.secret))
        .header("x-gantry-csrf", &mine.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    let body = expect_error(
        get(&ops.secret).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("\"ops\"") && message.contains("revoked"),
        "{message}"
    );
    assert_eq!(get(&mine.secret).await.unwrap().status(), StatusCode::OK);

    // A session lasts its hours by the hub's clock, then ends.
    hub.clock.advance(Duration::from_secs(2 * 3600 - 60));
    assert_eq!(get(&mine.secret).await.unwrap().status(), StatusCode::OK);
    hub.clock.advance(Duration::from_secs(61));
    let body = expect_error(
        get(&mine.secret).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert!(
        body["message"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    // Ended sessions leave no rows behind once a new one starts.
    let fresh = sign_in(&hub, &hub.admin).await;
    assert_eq!(hub.hub.db().session_count().await.unwrap(), 1);
    assert_eq!(get(&fresh.secret).await.unwrap().status(), StatusCode::OK);
    hub.stop().await;
}

/// Over HTTPS the session cookie is `Secure`, so a browser never sends it in
/// clear; the same sign-in over plain HTTP is not marked (the browser would
/// drop a Secure cookie from an http:// page).
#[tokio::test]
async fn over_tls_the_cookie_is_secure() {
    use std::sync::Arc;

    use gantry_hub::tls::{ServerCert, TlsFiles, serve_tls};
    use gantry_testkit::tls::TestCa;

    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let ca = TestCa::new("ca");
    let files = TlsFiles {
        cert: hub.dir.path().join("hub.pem"),
        key: hub.dir.path().join("hub.key"),
    };
    ca.server(&["127.0.0.1"], 1).write(&files.cert, &files.key);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(serve_tls(
        listener,
        hub.hub.clone(),
        Arc::new(ServerCert::load(files).unwrap()),
        stop.clone().cancelled_owned(),
    ));
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
        .no_proxy()
        .build()
        .unwrap();
    let response = client
        .post(format!("{url}/v1/session"))
        .json(&json!({ "token": hub.admin }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let cookie = set_cookie(&response);
    let mut attrs = attributes(&cookie);
    attrs.sort();
    assert_eq!(
        attrs,
        [
            "HttpOnly",
            "Max-Age=43200",
            "Path=/",
            "SameSite=Strict",
            "Secure"
        ],
        "{cookie}"
    );
    // The cookie works over HTTPS, from the hub's own origin.
    let secret = cookie["gantry_session=".len()..].split(';').next().unwrap();
    let csrf = response.json::<Value>().await.unwrap()["csrf"]
        .as_str()
        .unwrap()
        .to_owned();
    let made = client
        .post(format!("{url}/v1/tokens"))
        .header("cookie", format!("gantry_session={secret}"))
        .header("x-gantry-csrf", csrf)
        .header("origin", &url)
        .json(&json!({"name": "over-tls"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    // Plain HTTP: not Secure.
    let plain = hub
        .post("", "/v1/session", &json!({ "token": hub.admin }))
        .await;
    assert!(!set_cookie(&plain).contains("Secure"));
    stop.cancel();
    serving.await.unwrap().unwrap();
    hub.stop().await;
}
