//! The web console's files, served by the hub itself at `/` (the page) and
//! `/assets/{path}` (its scripts and styles, named by their content's hash).
//!
//! They are in the binary, gzip-compressed by `build.rs` from
//! `ui/dist-console`, so a hub needs no files installed beside it. A browser
//! that accepts gzip (all do) gets the compressed bytes as they are; any
//! other client gets them inflated here. Every answer carries the console's
//! Content-Security-Policy (scripts and styles from the hub only, no frames)
//! and an ETag, so a reload costs a 304. The page is revalidated each time
//! (`no-cache`); the assets never change under their name (`immutable`).

use std::io::Read as _;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use gantry_protocol::wire::codes;

use super::extract::PathArg;
use super::{Access, BodyDoc, Endpoint, ParamDoc, ep, method};
use crate::ApiError;

/// One file of the console, as `build.rs` put it in the binary.
#[derive(Debug)]
struct ConsoleFile {
    /// Its path under ui/dist-console, e.g. `assets/console-1a2b.js`.
    path: &'static str,
    /// Its media type.
    media: &'static str,
    /// Its length before compression.
    length: usize,
    /// Its bytes, gzip-compressed.
    gzip: &'static [u8],
    /// A weak ETag from the sha256 of its bytes.
    etag: &'static str,
}

/// Every file of the console; empty when the hub was built without it.
static FILES: &[ConsoleFile] = include!(concat!(env!("OUT_DIR"), "/console_files.rs"));

/// The console's Content-Security-Policy: nothing but the hub's own scripts,
/// styles, images and calls; no frames, no `<base>`, forms only to the hub.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

/// The console's page file.
const PAGE: &str = "console.html";

/// Whether the hub was built with its console.
pub(crate) fn has_console() -> bool {
    file(PAGE).is_some()
}

fn file(path: &str) -> Option<&'static ConsoleFile> {
    FILES.iter().find(|file| file.path == path)
}

/// Whether the request's `Accept-Encoding` takes gzip (with a q above 0,
/// by name or by `*`).
fn takes_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut any = None;
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|param| param.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => named = Some(q > 0.0),
                "*" => any = Some(q > 0.0),
                _ => {}
            }
        }
    }
    named.or(any).unwrap_or(false)
}

/// Whether `If-None-Match` names `etag` (weak comparison, or `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let ours = bare(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim() == "*" || bare(tag) == ours)
}

/// The answer with `file`: compressed or not as the request takes it, 304
/// when the browser has it already.
fn serve(file: &ConsoleFile, headers: &HeaderMap, cache: &'static str) -> Response {
    let mut response = if not_modified(headers, file.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if takes_gzip(headers) {
        let mut response = file.gzip.into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        let mut bytes = Vec::with_capacity(file.length);
        if let Err(error) = flate2::read::GzDecoder::new(file.gzip).read_to_end(&mut bytes) {
            tracing::error!(path = file.path, %error, "a console file does not inflate");
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::INTERNAL,
                "the hub failed to read a file of its console; its log has the details",
            )
            .into_response();
        }
        bytes.into_response()
    };
    let modified = response.status() != StatusCode::NOT_MODIFIED;
    let out = response.headers_mut();
    let header = |value: &'static str| HeaderValue::from_static(value);
    if modified {
        out.insert(header::CONTENT_TYPE, header(file.media));
    }
    out.insert(header::ETAG, header(file.etag));
    out.insert(header::CACHE_CONTROL, header(cache));
    out.insert(header::VARY, header("Accept-Encoding"));
    out.insert(header::CONTENT_SECURITY_POLICY, header(CSP));
    out.insert(header::X_CONTENT_TYPE_OPTIONS, header("nosniff"));
    out.insert(header::REFERRER_POLICY, header("no-referrer"));
    out.insert(header::X_FRAME_OPTIONS, header("DENY"));
    response
}

pub(super) async fn page(headers: HeaderMap) -> Response {
    match file(PAGE) {
        Some(page) => serve(page, &headers, "no-cache"),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            codes::UNAVAILABLE,
            "this gantry was built without its web console (ui/dist-console was missing when it \
             was compiled); build it with `cargo xtask run`, or with `npm ci && npm run build` in \
             ui/ and then build gantry again. The API under /v1 works as usual",
        )
        .into_response(),
    }
}

pub(super) async fn asset(
    PathArg(path): PathArg,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let asset = file(&format!("assets/{path}")).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "the console has no such file; reload the page (the hub may have been upgraded)",
        )
    })?;
    Ok(serve(
        asset,
        &headers,
        "public, max-age=31536000, immutable",
    ))
}

/// The routes of this file, for [`super::endpoints`].
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        ep(
            Method::GET,
            "/",
            "The web console's page (sign in with an admin token); 503 when this hub was built without it",
            Access::Public,
            &[],
            BodyDoc::None,
            (200, BodyDoc::File("text/html")),
            on(method(Method::GET), page),
        ),
        ep(
            Method::GET,
            "/assets/{path}",
            "A script, style or image of the web console, named by its content's hash",
            Access::Public,
            &[ParamDoc {
                name: "path",
                location: "path",
                required: true,
                kind: "string",
                description: "The file's name under the console's assets, as its page names it",
            }],
            BodyDoc::None,
            (200, BodyDoc::File("*/*")),
            on(method(Method::GET), asset),
        ),
    ]
}
