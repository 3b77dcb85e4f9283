//! The bodies of the hub's web console: signing in with an admin token
//! (`/v1/session`) and making admin tokens from a browser (`POST /v1/tokens`).
//!
//! A browser never holds the admin token after it signs in: the hub answers
//! with a session cookie (HttpOnly, so the page's scripts cannot read it) and
//! the session's CSRF value, which the page sends back in `X-Gantry-Csrf` with
//! every call that changes something. The cookie's name and the header's are
//! here so the hub and its tests say them the same way.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::wire::Millis;

/// The cookie that carries a console session's secret.
pub const SESSION_COOKIE: &str = "gantry_session";

/// The header a cookie-authenticated call that changes something carries,
/// holding [`SessionInfo::csrf`].
pub const CSRF_HEADER: &str = "X-Gantry-Csrf";

/// `POST /v1/session`: sign in with an admin token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// An admin token (`gantry hub token create --admin NAME`); it is not kept.
    pub token: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is never printed, not even in a debug line.
        f.debug_struct("NewSession").field("token", &"***").finish()
    }
}

/// A console session: `POST /v1/session`'s answer and `GET /v1/session`'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SessionInfo {
    /// The name of the admin token it signed in with.
    pub name: String,
    /// When it ends, unless signed out or its token revoked before.
    pub expires_at: Millis,
    /// The value to send in the `X-Gantry-Csrf` header with every call
    /// (but GET and HEAD) made with the session cookie.
    pub csrf: String,
}

/// `POST /v1/tokens`: an admin token to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminToken {
    /// Who will hold it, e.g. `alice` or `ci`; several tokens may share a name.
    #[schemars(schema_with = "token_name_schema")]
    pub name: String,
}

/// The answer to [`CreateAdminToken`]: the token, shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NewAdminToken {
    /// The name it was made with.
    pub name: String,
    /// The token; the hub keeps only its hash, so it is never shown again.
    pub token: String,
}

impl std::fmt::Debug for NewAdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdminToken")
            .field("name", &self.name)
            .field("token", &"***")
            .finish()
    }
}

/// Why an admin token's name cannot be used, if it cannot: the rule of node
/// names ([`crate::rules::NODE_NAME`]): 1 to 100 printable characters, not
/// starting or ending with a space.
pub fn token_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        return Some("a token needs a name for its holder, e.g. alice".into());
    }
    crate::admin::node_name_problem(name).map(|problem| problem.replace("node name", "token name"))
}

fn token_name_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "pattern": crate::rules::NODE_NAME,
        "description": "A token's name: 1 to 100 printable characters, not starting or ending with a space"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_never_printed() {
        let new = NewSession {
            token: "gantry_admin_secret".into(),
        };
        assert!(!format!("{new:?}").contains("secret"));
        let made = NewAdminToken {
            name: "ci".into(),
            token: "gantry_admin_secret".into(),
        };
        assert!(!format!("{made:?}").contains("secret"));
    }

    #[test]
    fn token_names_follow_the_node_name_rule() {
        assert!(token_name_problem("alice").is_none());
        assert!(token_name_problem("CI bot 2").is_none());
        assert!(token_name_problem("").is_some());
        assert!(token_name_problem("  ").is_some());
        assert!(token_name_problem(" alice").unwrap().contains("spaces"));
        assert!(token_name_problem("a\tb").is_some());
        assert!(
            token_name_problem(&"x".repeat(101))
                .unwrap()
                .contains("token name")
        );
    }
}
