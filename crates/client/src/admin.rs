//! An admin's calls on nodes and tokens: enroll, show, rename, relabel and
//! remove a node, rotate its token; list and revoke admin tokens. A node is
//! named by its name or its id; the hub resolves it.
//!
//! And the other side of them: a client whose token the hub refuses for good
//! (its node removed, its token replaced or revoked) says so to whoever
//! watches [`HubClient::refusal`], whichever call met the refusal, so the
//! agent stops at the first one (an event or a log append included).

use gantry_protocol::admin::{
    NewNode, NodeChange, NodeRemoved, NodeToken, TokenInfo, TokenList, TokensRevoked,
};
use gantry_protocol::wire::{ErrorBody, Node, codes};
use reqwest::Method;
use tokio::sync::watch;

use crate::{CALL_TIMEOUT, ClientError, HubClient, path_part};

/// Whether `code` is the hub refusing a token for good: it worked once, and
/// the node was removed or the token replaced or revoked since.
pub(crate) fn is_refusal(code: &str) -> bool {
    [
        codes::NODE_REMOVED,
        codes::TOKEN_REPLACED,
        codes::TOKEN_REVOKED,
    ]
    .contains(&code)
}

impl ClientError {
    /// Whether the hub refused the token for good: its node removed, or the
    /// token replaced or revoked. Trying again will not help.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ClientError::Api { status: 401, body } if is_refusal(&body.code))
    }
}

impl HubClient {
    /// Holds the hub's answer once it refused this client's token for good
    /// (`node_removed`, `token_replaced`, `token_revoked`), on any call of
    /// this client or its clones; `None` until then.
    pub fn refusal(&self) -> watch::Receiver<Option<ErrorBody>> {
        self.refusal.subscribe()
    }

    /// Adds a node; the answer holds its token, shown this once.
    pub async fn add_node(&self, node: &NewNode) -> Result<NodeToken, ClientError> {
        self.json(
            self.request(Method::POST, "v1/nodes")
                .timeout(CALL_TIMEOUT)
                .json(node),
        )
        .await
    }

    /// One node, by name or id.
    pub async fn node(&self, node: &str) -> Result<Node, ClientError> {
        self.json(
            self.request(Method::GET, &node_path(node))
                .timeout(CALL_TIMEOUT),
        )
        .await
    }

    /// Renames a node or changes its labels; the node as it is now.
    pub async fn change_node(&self, node: &str, change: &NodeChange) -> Result<Node, ClientError> {
        self.json(
            self.request(Method::PATCH, &node_path(node))
                .timeout(CALL_TIMEOUT)
                .json(change),
        )
        .await
    }

    /// Removes a node; what became of its tasks.
    pub async fn remove_node(&self, node: &str) -> Result<NodeRemoved, ClientError> {
        self.json(
            self.request(Method::DELETE, &node_path(node))
                .timeout(CALL_TIMEOUT),
        )
        .await
    }

    /// Gives a node a new token; the old one is refused from now on.
    pub async fn rotate_node_token(&self, node: &str) -> Result<NodeToken, ClientError> {
        self.json(
            self.request(Method::POST, &format!("{}/token", node_path(node)))
                .timeout(CALL_TIMEOUT),
        )
        .await
    }

    /// The admin tokens: names, when made and last used; never the tokens.
    pub async fn admin_tokens(&self) -> Result<Vec<TokenInfo>, ClientError> {
        let list: TokenList = self
            .json(self.request(Method::GET, "v1/tokens").timeout(CALL_TIMEOUT))
            .await?;
        Ok(list.tokens)
    }

    /// Revokes the admin tokens named `name`.
    pub async fn revoke_admin_tokens(&self, name: &str) -> Result<TokensRevoked, ClientError> {
        self.json(
            self.request(Method::DELETE, &format!("v1/tokens/{}", path_part(name)))
                .timeout(CALL_TIMEOUT),
        )
        .await
    }
}

/// The path of one node's routes.
fn node_path(node: &str) -> String {
    format!("v1/nodes/{}", path_part(node))
}
