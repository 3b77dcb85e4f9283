//! Blob calls: whether the hub has a blob, download it, upload it.
//!
//! A blob's address is the sha256 of its bytes, so the handlers check the
//! address before touching the disk, and an upload is kept only when its bytes
//! hash to it. Storage itself (layout, streaming, hashing) is [`crate::blobs`].

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use gantry_protocol::is_sha256_hex;
use gantry_protocol::wire::{BlobStored, codes};

use super::auth::Authed;
use super::extract::{PathArg, body_too_large};
use crate::blobs::Upload;
use crate::{ApiError, Hub};

/// Refuses a path that is not a blob address, before anything touches the disk.
fn blob_address(sha256: &str) -> Result<(), ApiError> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "\"{sha256}\" is not a blob address; use the 64 lowercase hex digits of the sha256"
        )))
    }
}

pub(super) async fn head_blob(
    State(hub): State<Hub>,
    _: Authed,
    PathArg(sha256): PathArg,
) -> Result<Response, ApiError> {
    blob_address(&sha256)?;
    match hub.blobs().size(&sha256).await {
        Some(size) => Ok(([(header::CONTENT_LENGTH, size)], StatusCode::OK).into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

pub(super) async fn get_blob(
    State(hub): State<Hub>,
    caller: Authed,
    PathArg(sha256): PathArg,
) -> Result<Response, ApiError> {
    blob_address(&sha256)?;
    // A node reads only what a task assigned to it references (`task_blobs`),
    // answered as missing, so a node learns nothing of other nodes' data.
    if let Some(node) = caller.node_scope()
        && !hub.db().node_may_read_blob(node, &sha256).await?
    {
        return Err(ApiError::not_found("blob"));
    }
    let file = tokio::fs::File::open(hub.blobs().path(&sha256))
        .await
        .map_err(|_| ApiError::not_found("blob"))?;
    let size = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        crate::blobs::SEND_CHUNK,
    ));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
        ],
        body,
    )
        .into_response())
}

pub(super) async fn put_blob(
    State(hub): State<Hub>,
    _: Authed,
    PathArg(sha256): PathArg,
    body: Body,
) -> Result<Response, ApiError> {
    blob_address(&sha256)?;
    if let Some(size) = hub.blobs().size(&sha256).await {
        // Content addressing makes a second upload of the same bytes pointless.
        return Ok((StatusCode::OK, Json(BlobStored { sha256, size })).into_response());
    }
    let stream = body.into_data_stream().boxed();
    match hub
        .blobs()
        .put(&sha256, stream, hub.config().max_blob_bytes)
        .await?
    {
        Upload::Stored(size) => {
            Ok((StatusCode::CREATED, Json(BlobStored { sha256, size })).into_response())
        }
        // 422, not 400: the request is as the document says, but its bytes
        // cannot be kept (a rule no schema can state).
        Upload::Mismatch(actual) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::HASH_MISMATCH,
            format!(
                "the bytes sent hash to {actual}, not to {sha256}; upload them at their own address"
            ),
        )),
        Upload::TooLarge => Err(body_too_large()),
    }
}
