//! Extractors for bodies, query strings and path parameters whose every
//! rejection is an [`ApiError`]: a JSON answer with a code from
//! `gantry_protocol::wire::codes` and a sentence, never axum's plain text.
//!
//! Body size limits are set per route in the table ([`super::endpoints`]);
//! a body over its limit is answered here as `payload_too_large`.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use gantry_protocol::wire::codes;

use crate::ApiError;

/// A JSON body whose rejection is an [`ApiError`].
///
/// The body is read as a JSON value first, and a number with a zero
/// fraction (`2.0`) becomes the integer it is: JSON Schema counts it as an
/// integer, so the document's `integer` fields take it, as a generated client
/// may send it. A refusal names the key path.
pub(super) struct JsonBody<T>(pub(super) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut value = match Json::<serde_json::Value>::from_request(req, state).await {
            Ok(Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        whole_numbers(&mut value);
        serde_path_to_error::deserialize(value)
            .map(JsonBody)
            .map_err(|error| {
                let path = error.path().to_string();
                let at = if path == "." {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                ApiError::bad_request(format!(
                    "the JSON body cannot be used: {at}{}",
                    error.into_inner()
                ))
            })
    }
}

/// Turns every float with a zero fraction that fits an `i64` or `u64` into
/// that integer, all through `value`.
fn whole_numbers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(number) => {
            if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                && float.fract() == 0.0
            {
                // u64::MAX and i64::MIN round to floats one past them, so
                // those ends are open.
                if (0.0..u64::MAX as f64).contains(&float) {
                    *number = (float as u64).into();
                } else if float > i64::MIN as f64 && float < 0.0 {
                    *number = (float as i64).into();
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(map) => map.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// The answer for a JSON body that could not be read or parsed.
fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::BAD_REQUEST,
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(rejection) => bytes_rejection(rejection),
        other => ApiError::bad_request(format!(
            "the JSON body cannot be read: {}",
            other.body_text()
        )),
    }
}

/// The answer for a raw body that could not be read: over its limit, or broken off.
pub(super) fn bytes_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_too_large()
    } else {
        ApiError::bad_request(format!(
            "the body could not be read: {}",
            rejection.body_text()
        ))
    }
}

/// The answer for a body over its route's limit, or a blob over the hub's.
pub(super) fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        codes::PAYLOAD_TOO_LARGE,
        "the body is larger than the hub accepts for this call; send less, or in parts",
    )
}

/// Query parameters whose rejection is an [`ApiError`].
pub(super) struct QueryArgs<T>(pub(super) T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryArgs<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| QueryArgs(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::bad_request(format!(
                    "the query string cannot be read: {}",
                    rejection.body_text()
                ))
            })
    }
}

/// A path parameter whose rejection is an [`ApiError`].
pub(super) struct PathArg(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for PathArg {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathArg(value))
            .map_err(|rejection: PathRejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// A task id from the path. Anything that cannot be an id (control bytes,
/// absurd lengths) is answered as an unknown task before it reaches the
/// database, which may refuse such text (PostgreSQL refuses NUL).
pub(super) struct TaskId(pub(super) String);

impl<S: Send + Sync> FromRequestParts<S> for TaskId {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let PathArg(id) = PathArg::from_request_parts(parts, state).await?;
        if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
            return Err(ApiError::not_found("task"));
        }
        Ok(TaskId(id))
    }
}
