//! The web console's live data: the event stream (`GET /v1/events`), a
//! node's last hour of figures (`GET /v1/nodes/{node}/metrics`) and the
//! job check (`POST /v1/jobs/check`), with their rows of the table.
//!
//! The stream reads the hub's broadcast of [`Happening`]s. Task changes are
//! gathered for [`TASKS_EVERY`] and sent as one `tasks` event naming each
//! task once, so a burst of a thousand submits costs a browser a few events,
//! not a thousand. A subscriber that falls behind the broadcast (a slow
//! browser) is sent a refresh of everything instead of what it missed; it
//! never slows the hub, whose sends do not wait.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::on;
use futures::Stream;
use gantry_protocol::JobSpec;
use gantry_protocol::console_wire::{JobCheck, JobProblem, NodeMetrics, NodeSample};
use gantry_protocol::job::JobError;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::auth::Admin;
use super::extract::{PathArg, bytes_rejection};
use super::{Access, BodyDoc, Endpoint, ParamDoc, ep, method, schema};
use crate::signals::Happening;
use crate::{ApiError, Hub};

/// How long task changes are gathered into one `tasks` event.
const TASKS_EVERY: Duration = Duration::from_millis(200);

/// How often a comment keeps an idle stream open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The most ids one `tasks` event names; past it, the event asks for a refresh of all.
const MAX_IDS: usize = 500;

/// The routes of this file, for [`super::endpoints`].
pub(super) fn live_endpoints(json_limit: DefaultBodyLimit) -> Vec<Endpoint> {
    vec![
        ep(
            Method::GET,
            "/v1/events",
            "Server-Sent Events of what changes: `nodes` ({}), `tasks` ({\"ids\": [...]}, \
             gathered for 200 ms), `sample` ({\"node\", \"sample\"}) per heartbeat; \
             a comment every 15 s; ends when the hub stops",
            Access::Admin,
            &[],
            BodyDoc::None,
            (200, BodyDoc::Text("text/event-stream")),
            on(method(Method::GET), events),
        ),
        ep(
            Method::GET,
            "/v1/nodes/{node}/metrics",
            "A node's figures from its heartbeats of the last hour, oldest first (kept in the hub's memory)",
            Access::Admin,
            &[ParamDoc {
                name: "node",
                location: "path",
                required: true,
                kind: "string",
                description: "The node's name or id",
            }],
            BodyDoc::None,
            (200, BodyDoc::Json(schema::<NodeMetrics>)),
            on(method(Method::GET), metrics),
        ),
        ep(
            Method::POST,
            "/v1/jobs/check",
            "Checks a job file (JSON, or YAML with content-type application/yaml) as a submit \
             would, without submitting: every problem with its key path, and line and column when known",
            Access::Admin,
            &[],
            BodyDoc::AnyJob,
            (200, BodyDoc::Json(schema::<JobCheck>)),
            on(method(Method::POST), check_job).layer(json_limit),
        ),
    ]
}

// ---- the event stream ----

/// One event of the stream, before it is written.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    /// `nodes`: read the nodes again.
    Nodes,
    /// `tasks`: these tasks changed.
    Tasks(Vec<String>),
    /// `tasks` naming none, with `"all": true`: read every task list again.
    AllTasks,
    /// `sample`: a node's heartbeat figures.
    Sample(String, Arc<NodeSample>),
}

impl Out {
    /// The event as the stream writes it.
    fn event(self) -> Event {
        let (name, data) = match self {
            Out::Nodes => ("nodes", serde_json::json!({})),
            Out::Tasks(ids) => ("tasks", serde_json::json!({"ids": ids})),
            Out::AllTasks => ("tasks", serde_json::json!({"ids": [], "all": true})),
            Out::Sample(node, sample) => (
                "sample",
                serde_json::json!({"node": node, "sample": *sample}),
            ),
        };
        Event::default().event(name).data(data.to_string())
    }
}

/// What one subscriber's stream holds between events.
struct Subscriber {
    hub: Hub,
    live: broadcast::Receiver<Happening>,
    /// Events ready to send, in order.
    outbox: std::collections::VecDeque<Out>,
    /// Tasks changed since the last `tasks` event.
    tasks: BTreeSet<String>,
    /// Whether nodes changed since the last flush.
    nodes: bool,
    /// When the gathered changes are sent.
    flush_at: Option<Instant>,
}

impl Subscriber {
    /// A subscriber from now on.
    fn new(hub: Hub) -> Subscriber {
        Subscriber {
            live: hub.signals().watch_live(),
            hub,
            outbox: Default::default(),
            tasks: BTreeSet::new(),
            nodes: false,
            flush_at: None,
        }
    }

    /// Notes a happening: a sample goes out at once, changes are gathered.
    fn note(&mut self, happening: Happening) {
        match happening {
            Happening::Nodes => self.nodes = true,
            Happening::Task(id) => {
                self.tasks.insert(id);
            }
            Happening::Sample { node, sample } => {
                self.outbox.push_back(Out::Sample(node, sample));
                return;
            }
        }
        self.flush_at
            .get_or_insert_with(|| Instant::now() + TASKS_EVERY);
    }

    /// Sends what was gathered: `nodes`, then `tasks`.
    fn flush(&mut self) {
        self.flush_at = None;
        if std::mem::take(&mut self.nodes) {
            self.outbox.push_back(Out::Nodes);
        }
        let tasks = std::mem::take(&mut self.tasks);
        if tasks.len() > MAX_IDS {
            self.outbox.push_back(Out::AllTasks);
        } else if !tasks.is_empty() {
            self.outbox
                .push_back(Out::Tasks(tasks.into_iter().collect()));
        }
    }

    /// After falling behind: what was missed and what waits in the backlog
    /// is dropped, and the reader is told to read everything again.
    fn refresh(&mut self) {
        use broadcast::error::TryRecvError;
        while let Ok(_) | Err(TryRecvError::Lagged(_)) = self.live.try_recv() {}
        self.tasks.clear();
        self.nodes = false;
        self.flush_at = None;
        self.outbox.push_back(Out::Nodes);
        self.outbox.push_back(Out::AllTasks);
    }

    /// The next event, or `None` when the hub stops.
    async fn next(&mut self) -> Option<Out> {
        loop {
            if let Some(event) = self.outbox.pop_front() {
                return Some(event);
            }
            let flush_at = self.flush_at;
            let flush = async move {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.hub.stopping().cancelled() => return None,
                _ = flush => self.flush(),
                received = self.live.recv() => match received {
                    Ok(happening) => self.note(happening),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::debug!(missed, "an event stream fell behind; it is sent a refresh");
                        self.refresh();
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }
}

async fn events(
    State(hub): State<Hub>,
    _: Admin,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::unfold(Subscriber::new(hub), |mut subscriber| async move {
        let out = subscriber.next().await?;
        Some((Ok(out.event()), subscriber))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
}

// ---- node figures ----

async fn metrics(
    State(hub): State<Hub>,
    _: Admin,
    PathArg(key): PathArg,
) -> Result<Json<NodeMetrics>, ApiError> {
    let id = super::admin::node_id(&hub, &key).await?;
    Ok(Json(NodeMetrics {
        samples: hub.samples().recent(&id, hub.now()),
        node: id,
    }))
}

// ---- the job check ----

async fn check_job(
    State(hub): State<Hub>,
    _: Admin,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JobCheck>, ApiError> {
    let body = body.map_err(bytes_rejection)?;
    let problems = match super::people::job_text(&body) {
        Ok(text) => job_problems(&hub, text, &headers).await?,
        Err(refusal) => vec![problem("", refusal.body.message)],
    };
    Ok(Json(JobCheck {
        ok: problems.is_empty(),
        problems,
    }))
}

/// Every problem a submit of `text` would be refused for, by the same
/// checks: the parser's (syntax with line and column, or each key's
/// problem), then the blobs the hub lacks and an unknown `node:`.
async fn job_problems(
    hub: &Hub,
    text: &str,
    headers: &HeaderMap,
) -> Result<Vec<JobProblem>, ApiError> {
    let spec = match JobSpec::parse(text, super::people::job_format(headers)) {
        Ok(spec) => spec,
        Err(JobError::Syntax {
            line,
            column,
            path,
            message,
            hint,
        }) => {
            let message = match hint {
                Some(hint) => format!("{message} ({hint})"),
                None => message,
            };
            let path = if path == "." { String::new() } else { path };
            return Ok(vec![JobProblem {
                path,
                line,
                column,
                message,
            }]);
        }
        Err(JobError::Invalid(problems)) => {
            return Ok(problems
                .into_iter()
                .map(|p| problem(&p.path, p.message))
                .collect());
        }
    };
    let findings = super::inputs::find_blobs(hub, &spec).await;
    let mut problems: Vec<JobProblem> = findings
        .all_problems()
        .map(|p| problem(p.key, p.message.clone()))
        .collect();
    if let Some(name) = &spec.node
        && let Err(sentence) = super::people::node_named(hub, name).await?
    {
        problems.push(problem("node", sentence));
    }
    Ok(problems)
}

/// A problem without a place in the text.
fn problem(path: &str, message: String) -> JobProblem {
    JobProblem {
        path: path.to_owned(),
        line: None,
        column: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn hub(dir: &std::path::Path) -> Hub {
        let clock = Arc::new(crate::ManualClock::new(0)) as Arc<dyn crate::Clock>;
        Hub::open(dir, None, crate::HubConfig::default(), clock)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn changes_are_gathered_and_a_lagging_reader_is_told_to_read_all() {
        let dir = tempfile::tempdir().unwrap();
        let hub = hub(dir.path()).await;
        let mut reader = Subscriber::new(hub.clone());
        let signals = hub.signals();
        signals.task_changed("b");
        signals.nodes_changed();
        signals.task_changed("a");
        signals.task_changed("b");
        assert_eq!(reader.next().await, Some(Out::Nodes));
        assert_eq!(
            reader.next().await,
            Some(Out::Tasks(vec!["a".into(), "b".into()])),
            "each task once, in one event"
        );
        // Past the broadcast's backlog unread: a refresh, then what follows.
        for i in 0..2000 {
            signals.task_changed(&format!("t{i}"));
        }
        assert_eq!(reader.next().await, Some(Out::Nodes));
        assert_eq!(reader.next().await, Some(Out::AllTasks));
        signals.task_changed("after");
        assert_eq!(
            reader.next().await,
            Some(Out::Tasks(vec!["after".into()])),
            "the backlog was dropped with the refresh; what follows comes as before"
        );
        // More changes than one event names: read them all.
        for i in 0..MAX_IDS + 1 {
            signals.task_changed(&format!("u{i}"));
        }
        assert_eq!(reader.next().await, Some(Out::AllTasks));
        // The stream ends when the hub stops.
        hub.stopping().cancel();
        assert_eq!(reader.next().await, None);
    }
}
