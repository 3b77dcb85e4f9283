//! `GET /metrics`: the hub's figures in Prometheus' text format
//! ([`crate::metrics`]), and the layer that counts error answers by route.
//!
//! Outside `/v1` because that is where every Prometheus server looks by
//! default. Open to anyone unless the hub was started with
//! `--metrics-token`: then a scraper sends `Authorization: Bearer <token>`,
//! compared in constant time ([`crate::metrics::MetricsToken`]); the token
//! is never logged.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use gantry_protocol::exposition::CONTENT_TYPE;
use gantry_protocol::wire::codes;

use super::{Access, BodyDoc, Endpoint, ep, method};
use crate::{ApiError, Hub};

/// The route of this file, for [`super::endpoints`].
pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![ep(
        Method::GET,
        "/metrics",
        "The hub's metrics in Prometheus' text format (0.0.4); needs the metrics token only when the hub has one",
        Access::Metrics,
        &[],
        BodyDoc::None,
        (200, BodyDoc::Text(CONTENT_TYPE)),
        on(method(Method::GET), scrape),
    )]
}

async fn scrape(State(hub): State<Hub>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = &hub.config().metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if !given.is_some_and(|given| token.admits(given)) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                codes::UNAUTHORIZED,
                "this hub's /metrics needs its metrics token: send Authorization: Bearer <token>, \
                 the token the hub was started with (--metrics-token or GANTRY_METRICS_TOKEN)",
            ));
        }
    }
    let text = crate::metrics::render(&hub).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// Counts every answer with a 4xx or 5xx status by the table's route (the
/// path with its `{name}`s, so ids do not make a series each) and class.
pub(super) async fn count_errors(State(hub): State<Hub>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().replace("{*path}", "{path}"));
    let response = next.run(request).await;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        hub.metrics()
            .request_error(route.as_deref().unwrap_or("unmatched"), status.as_u16());
    }
    response
}
