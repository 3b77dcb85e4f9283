//! An admin's calls on nodes and tokens: enroll, show, rename, relabel and
//! remove a node, rotate its token; list and revoke admin tokens. A node is
//! named by its name or its id; the hub resolves it.

use gantry_protocol::admin::{
    NewNode, NodeChange, NodeRemoved, NodeToken, TokenInfo, TokenList, TokensRevoked,
};
use gantry_protocol::wire::Node;
use reqwest::Method;

use crate::{CALL_TIMEOUT, ClientError, HubClient, path_part};

impl HubClient {
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
