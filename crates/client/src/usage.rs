//! Usage accounting for admins: what the tasks that ended on a node used,
//! in all and by day (`GET /v1/nodes/{node}/usage`).

use gantry_protocol::usage::NodeUsage;
use gantry_protocol::wire::Millis;
use reqwest::Method;

use crate::{CALL_TIMEOUT, ClientError, HubClient, path_part};

impl HubClient {
    /// A node's usage (by name or id) since `since` (Unix ms).
    pub async fn node_usage(&self, node: &str, since: Millis) -> Result<NodeUsage, ClientError> {
        let since = gantry_protocol::clock_text::UtcTime::from_millis(since);
        let since = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            since.year, since.month, since.day, since.hour, since.minute, since.second
        );
        self.json(
            self.request(Method::GET, &format!("v1/nodes/{}/usage", path_part(node)))
                .query(&[("since", since)])
                .timeout(CALL_TIMEOUT),
        )
        .await
    }
}
