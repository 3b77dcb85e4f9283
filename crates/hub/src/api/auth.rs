//! Who is calling: the extractors that read `Authorization: Bearer <token>`
//! and answer for the caller, an admin, or a node.
//!
//! A handler states the access it needs in its signature ([`Admin`],
//! [`NodeAuth`], or [`Authed`] for either), so a handler without one of these
//! is public by sight. Every refusal here is a 401 (no or unknown token) or a
//! 403 (the wrong kind of token) with a sentence saying which token to make.
//! A token that once worked (its node removed, rotated away, or revoked) is
//! a 401 with a code of its own (`node_removed`, `token_replaced`,
//! `token_revoked`) saying what happened and when.
//!
//! Without an `Authorization` header, a browser signed in to the web console
//! is the admin whose token signed in, through its session cookie, under the
//! rules of `session.rs` (its own site only; a CSRF value on calls that
//! change something).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use gantry_protocol::wire::codes;

use gantry_protocol::admin::utc_minute;

use super::session::{Browser, session_caller};
use crate::db::{Caller, Revocation, RevokedFor};
use crate::{ApiError, Hub};

/// The caller, found from `Authorization: Bearer <token>` or the console's session cookie.
pub(super) struct Authed(Caller);

impl FromRequestParts<Hub> for Authed {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, hub: &Hub) -> Result<Self, ApiError> {
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message);
        let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
            // No token: a browser signed in to the console, or nobody.
            let browser = Browser::of(parts);
            if browser.has_cookie() {
                return session_caller(hub, &browser, &parts.method)
                    .await
                    .map(Authed);
            }
            return Err(unauthorized(
                "this call needs a token: send the header Authorization: Bearer <token>",
            ));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must read: Bearer <token>"))?;
        if let Some(caller) = hub.db().caller(token, hub.now()).await? {
            return Ok(Authed(caller));
        }
        match hub.db().revocation(token).await? {
            Some(revocation) => Err(refused(&revocation)),
            None => Err(unknown_token()),
        }
    }
}

/// The 401 for a token the hub never knew.
pub(super) fn unknown_token() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        codes::UNAUTHORIZED,
        "the hub does not know this token; check it was copied whole, or create a new one \
         (gantry hub node add / gantry hub token create)",
    )
}

/// The 401 for a token that once worked: a code of its own and a sentence
/// that says what happened and when, so the agent holding it can stop and
/// tell its person instead of retrying.
pub(super) fn refused(revocation: &Revocation) -> ApiError {
    let at = utc_minute(revocation.at);
    let name = &revocation.name;
    let (code, message) = match revocation.reason {
        RevokedFor::NodeRemoved => (
            codes::NODE_REMOVED,
            format!(
                "node {name} was removed from the hub at {at}; its tasks were canceled. Ask the hub's admin \
                 for a new node (gantry hub node add) and start the agent with its token"
            ),
        ),
        RevokedFor::TokenReplaced => (
            codes::TOKEN_REPLACED,
            format!(
                "this node's token (node {name}) was replaced at {at}; paste the new one \
                 (the hub's admin printed it with gantry node token {name} --rotate)"
            ),
        ),
        RevokedFor::TokenRevoked => (
            codes::TOKEN_REVOKED,
            format!(
                "the admin token \"{name}\" was revoked at {at}; ask the hub's admin for a new one \
                 (gantry hub token create --admin NAME)"
            ),
        ),
    };
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
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
