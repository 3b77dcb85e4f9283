//! `POST /v1/tokens`: an admin makes another admin token, from the web
//! console or a script, as `gantry hub token create --admin NAME` does on the
//! hub's machine. Listing and revoking them are in `admin.rs`.
//!
//! The token is in the answer this once; the hub keeps only its hash.

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use gantry_protocol::console::{CreateAdminToken, NewAdminToken, token_name_problem};

use super::auth::Admin;
use super::extract::JsonBody;
use super::{Access, BodyDoc, Endpoint, ep, method, schema};
use crate::{ApiError, Hub};

pub(super) async fn create_token(
    State(hub): State<Hub>,
    Admin(by): Admin,
    JsonBody(new): JsonBody<CreateAdminToken>,
) -> Result<Response, ApiError> {
    if let Some(problem) = token_name_problem(&new.name) {
        return Err(ApiError::bad_request(format!("name: {problem}")));
    }
    let token = hub.db().create_admin_token(&new.name, hub.now()).await?;
    tracing::info!(name = %new.name, by = %by, "admin token created");
    let mut response = (
        StatusCode::CREATED,
        Json(NewAdminToken {
            name: new.name,
            token,
        }),
    )
        .into_response();
    // Shown once: no cache keeps a copy.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The route of this file, for [`super::endpoints`].
pub(super) fn endpoints(json_limit: DefaultBodyLimit) -> Vec<Endpoint> {
    vec![ep(
        Method::POST,
        "/v1/tokens",
        "Makes an admin token; it is in the answer, shown this once",
        Access::Admin,
        &[],
        BodyDoc::Json(schema::<CreateAdminToken>),
        (201, BodyDoc::Json(schema::<NewAdminToken>)),
        on(method(Method::POST), create_token).layer(json_limit),
    )]
}
