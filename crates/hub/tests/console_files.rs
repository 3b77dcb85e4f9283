//! The web console's files as the hub serves them over a real socket: the
//! page at `/` and its assets at `/assets/…`, gzip-compressed from the
//! binary when the browser takes it (inflated when not), byte for byte what
//! `npm run build` wrote to ui/dist-console, with the console's
//! Content-Security-Policy and the other headers of the contract, and 304
//! for a browser that has the file already.

use std::io::Read;
use std::path::PathBuf;

use gantry_testkit::{Backend, TestHub, expect_error};
use reqwest::{Method, Response, StatusCode};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist-console")
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

/// The headers every console file carries.
fn check_policy(response: &Response) {
    assert_eq!(header(response, "content-security-policy"), CSP);
    assert_eq!(header(response, "x-content-type-options"), "nosniff");
    assert_eq!(header(response, "referrer-policy"), "no-referrer");
    assert_eq!(header(response, "x-frame-options"), "DENY");
    assert_eq!(header(response, "vary"), "Accept-Encoding");
}

async fn get(hub: &TestHub, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = hub.request(Method::GET, "", path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_console_is_served_compressed_with_its_policy() {
    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let page_file = dist().join("console.html");
    if !page_file.is_file() {
        // Built without the console: `/` says so and how to build it.
        assert!(!gantry_hub::has_console());
        let body = expect_error(
            get(&hub, "/", &[]).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        )
        .await;
        assert!(body["message"].as_str().unwrap().contains("npm run build"));
        eprintln!("SKIPPED: ui/dist-console is not built; only the 503 was checked");
        hub.stop().await;
        return;
    }
    assert!(gantry_hub::has_console());
    let on_disk = std::fs::read(&page_file).unwrap();

    // Compressed for a browser.
    let page = get(&hub, "/", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(page.status(), StatusCode::OK);
    check_policy(&page);
    assert_eq!(header(&page, "content-encoding"), "gzip");
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&page, "cache-control"), "no-cache");
    let etag = header(&page, "etag");
    let compressed = page.bytes().await.unwrap();
    assert!(
        compressed.len() < on_disk.len(),
        "gzip makes the page smaller"
    );
    assert_eq!(gunzip(&compressed), on_disk);

    // Inflated for a client that takes no gzip (or refuses it with q=0).
    for refusal in [None, Some("gzip;q=0, identity"), Some("br")] {
        let headers: Vec<(&str, &str)> = refusal
            .map(|r| ("accept-encoding", r))
            .into_iter()
            .collect();
        let plain = get(&hub, "/", &headers).await;
        assert_eq!(plain.status(), StatusCode::OK);
        assert!(
            plain.headers().get("content-encoding").is_none(),
            "{refusal:?}"
        );
        check_policy(&plain);
        assert_eq!(header(&plain, "etag"), etag);
        assert_eq!(plain.bytes().await.unwrap(), on_disk);
    }

    // A browser that has the page already gets a 304, with no body.
    let again = get(
        &hub,
        "/",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, "etag"), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    let changed = get(&hub, "/", &[("if-none-match", "W/\"something-else\"")]).await;
    assert_eq!(changed.status(), StatusCode::OK);

    // Every asset the page names, compressed, immutable, its bytes the build's.
    let html = String::from_utf8(on_disk).unwrap();
    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/assets/"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css")),
        "{html}"
    );
    for asset in assets {
        let response = get(&hub, asset, &[("accept-encoding", "gzip")]).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        check_policy(&response);
        assert_eq!(
            header(&response, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        let media = header(&response, "content-type");
        if asset.ends_with(".js") {
            assert_eq!(media, "text/javascript; charset=utf-8");
        } else if asset.ends_with(".css") {
            assert_eq!(media, "text/css; charset=utf-8");
        }
        let etag = header(&response, "etag");
        let bytes = gunzip(&response.bytes().await.unwrap());
        assert_eq!(
            bytes,
            std::fs::read(dist().join(asset.trim_start_matches('/'))).unwrap(),
            "{asset}"
        );
        let cached = get(&hub, asset, &[("if-none-match", &etag)]).await;
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{asset}");
    }

    // An asset the console does not have is a JSON 404 with a sentence.
    for missing in ["/assets/nope.js", "/assets/../console.html", "/assets/"] {
        let response = get(&hub, missing, &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{missing}");
    }
    expect_error(
        get(&hub, "/assets/old-1234.js", &[]).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    hub.stop().await;
}

/// The document lists the console's routes as public, with their media types,
/// and the session routes with the cookie's security scheme.
#[tokio::test]
async fn the_document_states_the_console_routes() {
    let hub = TestHub::start(Backend::Sqlite).await.unwrap();
    let doc: serde_json::Value = hub.get("", "/v1/openapi.json").await.json().await.unwrap();
    let paths = &doc["paths"];
    assert_eq!(paths["/"]["get"]["security"], serde_json::json!([]));
    assert!(paths["/"]["get"]["responses"]["200"]["content"]["text/html"].is_object());
    assert_eq!(
        paths["/assets/{path}"]["get"]["security"],
        serde_json::json!([])
    );
    assert_eq!(
        paths["/v1/session"]["post"]["security"],
        serde_json::json!([])
    );
    assert_eq!(
        paths["/v1/session"]["get"]["security"],
        serde_json::json!([{"consoleSession": []}])
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["consoleSession"]["name"],
        "gantry_session"
    );
    let created = &paths["/v1/tokens"]["post"];
    assert!(created["responses"]["201"].is_object(), "{created}");
    let name = &doc["components"]["schemas"]["CreateAdminToken"]["properties"]["name"];
    assert!(name["pattern"].is_string(), "{name}");
    hub.stop().await;
}
