//! Usage accounting: what the tasks that ended on a node used, in all and by
//! day, for admins (`GET /v1/nodes/{node}/usage`) and for a node itself
//! (`GET /v1/agent/usage`, with its node token).

use gantry_protocol::usage::NodeUsage;
use gantry_protocol::wire::Millis;
use reqwest::Method;

use crate::{CALL_TIMEOUT, ClientError, HubClient, path_part};

impl HubClient {
    /// A node's usage (by name or id) since `since` (Unix ms).
    pub async fn node_usage(&self, node: &str, since: Millis) -> Result<NodeUsage, ClientError> {
        self.usage_at(&format!("v1/nodes/{}/usage", path_part(node)), since)
            .await
    }

    /// This client's node's own usage since `since` (Unix ms), with a node token.
    pub async fn own_usage(&self, since: Millis) -> Result<NodeUsage, ClientError> {
        self.usage_at("v1/agent/usage", since).await
    }

    async fn usage_at(&self, path: &str, since: Millis) -> Result<NodeUsage, ClientError> {
        let at = gantry_protocol::clock_text::UtcTime::from_millis(since);
        let since = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.year,
            at.month,
            at.day,
            at.hour,
            at.minute,
            at.second,
            since.rem_euclid(1000)
        );
        self.json(
            self.request(Method::GET, path)
                .query(&[("since", since)])
                .timeout(CALL_TIMEOUT),
        )
        .await
    }
}
