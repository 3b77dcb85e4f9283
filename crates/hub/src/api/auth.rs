//! Who is calling: the extractors that read `Authorization: Bearer <token>`
//! and answer for the caller, an admin, or a node.
//!
//! A handler states the access it needs in its signature ([`Admin`],
//! [`NodeAuth`], or [`Authed`] for either), so a handler without one of these
//! is public by sight. Every refusal here is a 401 (no or unknown token) or a
//! 403 (the wrong kind of token) with a sentence saying which token to make.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use gantry_protocol::wire::codes;

use crate::db::Caller;
use crate::{ApiError, Hub};

/// The caller, found from `Authorization: Bearer <token>`.
pub(super) struct Authed(Caller);

impl FromRequestParts<Hub> for Authed {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message);
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            unauthorized("this call needs a token: send the header Authorization: Bearer <token>")
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must read: Bearer <token>"))?;
        match hub.db().caller(token).await? {
            Some(caller) => Ok(Authed(caller)),
            None => Err(unauthorized(
                "the hub does not know this token; check it was copied whole, or create a new one \
                 (gantry hub node add / gantry hub token create)",
            )),
        }
    }
}

/// An admin caller.
pub(super) struct Admin(pub(super) String);

impl FromRequestParts<Hub> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        match Authed::from_request_parts(parts, hub).await?.0 {
            Caller::Admin { name } => Ok(Admin(name)),
            Caller::Node { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                "this call needs an admin token, and a node token was sent; create one with gantry hub token create --admin NAME",
            )),
        }
    }
}

/// A node caller.
pub(super) struct NodeAuth {
    /// The node's id.
    pub(super) id: String,
    /// The node's name.
    pub(super) name: String,
}

impl FromRequestParts<Hub> for NodeAuth {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        match Authed::from_request_parts(parts, hub).await?.0 {
            Caller::Node { id, name } => Ok(NodeAuth { id, name }),
            Caller::Admin { .. } => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                codes::FORBIDDEN,
                "this call is for agents and needs a node token; create one with gantry hub node add NAME",
            )),
        }
    }
}

impl Authed {
    /// The node whose tasks the caller may see, or `None` for all (admin).
    pub(super) fn node_scope(&self) -> Option<&str> {
        match &self.0 {
            Caller::Admin { .. } => None,
            Caller::Node { id, .. } => Some(id),
        }
    }
}
