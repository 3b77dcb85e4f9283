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

/// What the hub's live stream (`GET /v1/events`) says of tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskNews {
    /// These tasks changed.
    Changed(Vec<String>),
    /// The reader fell behind: read every task again.
    All,
}

impl HubClient {
    /// The `tasks` events of `GET /v1/events` (admin token), as they come;
    /// the stream ends when the hub stops or the connection drops.
    pub async fn task_news(
        &self,
    ) -> Result<impl futures::Stream<Item = Result<TaskNews, ClientError>> + use<>, ClientError>
    {
        use futures::StreamExt;
        let response = self
            .send(
                self.request(Method::GET, "v1/events")
                    .header(reqwest::header::ACCEPT, "text/event-stream"),
            )
            .await?;
        let this = self.clone();
        let chunks = response
            .bytes_stream()
            .map(move |chunk| chunk.map_err(|e| this.network_error(e)));
        let state = (Box::pin(chunks), Vec::<u8>::new());
        Ok(futures::stream::unfold(
            state,
            |(mut chunks, mut buffer)| async move {
                loop {
                    if let Some(end) = find_event_end(&buffer) {
                        let event: Vec<u8> = buffer.drain(..end).collect();
                        if let Some(news) = task_news_of(&String::from_utf8_lossy(&event)) {
                            return Some((Ok(news), (chunks, buffer)));
                        }
                        continue;
                    }
                    match chunks.next().await? {
                        Ok(bytes) => buffer.extend_from_slice(&bytes),
                        Err(error) => return Some((Err(error), (chunks, buffer))),
                    }
                }
            },
        ))
    }
}

/// Where the first event in `buffer` ends (after its blank line).
fn find_event_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|at| at + 2)
}

/// The news in one Server-Sent Event, if it is a `tasks` event.
fn task_news_of(event: &str) -> Option<TaskNews> {
    let mut name = None;
    let mut data = String::new();
    for line in event.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    if name != Some("tasks") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(&data).ok()?;
    if value["all"] == true {
        return Some(TaskNews::All);
    }
    let ids = value["ids"]
        .as_array()?
        .iter()
        .filter_map(|id| id.as_str().map(str::to_owned))
        .collect();
    Some(TaskNews::Changed(ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tasks_events_only() {
        assert_eq!(
            task_news_of("event: tasks\ndata: {\"ids\":[\"a\",\"b\"]}\n\n"),
            Some(TaskNews::Changed(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            task_news_of("event: tasks\ndata: {\"ids\":[],\"all\":true}\n\n"),
            Some(TaskNews::All)
        );
        assert_eq!(task_news_of("event: nodes\ndata: {}\n\n"), None);
        assert_eq!(task_news_of(": keep-alive\n\n"), None);
        assert_eq!(find_event_end(b"event: x\ndata: 1\n\nevent"), Some(18));
    }
}
