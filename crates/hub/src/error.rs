//! Errors: the hub's own ([`HubError`]) and what callers see ([`ApiError`]).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gantry_protocol::wire::{ErrorBody, codes};

/// What can go wrong inside the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The configuration cannot work; the message says what to change.
    #[error("{0}")]
    Config(String),
    /// The database could not be reached.
    #[error("cannot open the database {url}: {source}")]
    Connect {
        /// The database URL, password removed.
        url: String,
        /// Why.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("cannot update the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Something the hub stored does not read back.
    #[error("the database holds a value the hub cannot read: {0}")]
    Corrupt(String),
    /// The thing to create exists already.
    #[error("{0}")]
    Exists(String),
    /// A file operation failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What the hub was doing.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// An upload's body broke off.
    #[error("the upload broke off: {0}")]
    Upload(String),
}

/// An error answer: a status, a stable code and a sentence.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                committed: None,
            },
        }
    }

    /// 400 with `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    /// 404 with `not_found`.
    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            format!("no {what} with this id is visible to your token"),
        )
    }

    /// 409 with `conflict`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, message)
    }
}

impl From<HubError> for ApiError {
    fn from(error: HubError) -> ApiError {
        match error {
            HubError::Exists(message) => ApiError::conflict(message),
            HubError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_),
            ) => {
                tracing::error!(%error, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    "the hub cannot reach its database right now; retry shortly",
                )
            }
            other => {
                // The details stay in the hub's log; callers get a sentence.
                tracing::error!(error = %other, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    codes::INTERNAL,
                    "the hub failed to handle this request; its log has the details",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}
