//! What `gantry drive` needs of the client beyond people's single calls:
//! every task page by page (to find a restarted driver's jobs again), and
//! the token itself, to hand the hub to the program the driver starts.

use reqwest::Method;

use gantry_protocol::wire::TaskList;

use crate::{CALL_TIMEOUT, ClientError, HubClient, Token};

impl HubClient {
    /// One page of every task, newest first: the page after `before` (the
    /// `next` of the previous one), at most `limit` (1 to 1000) tasks.
    pub async fn task_page(
        &self,
        before: Option<&str>,
        limit: u32,
    ) -> Result<TaskList, ClientError> {
        let mut query: Vec<(&str, String)> = vec![("limit", limit.to_string())];
        if let Some(before) = before {
            query.push(("before", before.to_owned()));
        }
        self.json(
            self.request(Method::GET, "v1/tasks")
                .query(&query)
                .timeout(CALL_TIMEOUT),
        )
        .await
    }

    /// The token this client sends, for a caller that hands the hub on to a
    /// program it starts over a private pipe (`gantry drive`'s hello line).
    /// Its `Debug` and `Display` still hide it.
    pub fn token(&self) -> &Token {
        &self.token
    }
}
