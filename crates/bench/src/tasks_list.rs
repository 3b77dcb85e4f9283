//! `bench tasks_list`: `GET /v1/tasks` on a hub holding 100,000 tasks, as
//! the console lists and filters them, against a bare `GET /v1/health`
//! round trip to the same hub from the same client in the same run, on
//! SQLite and (when `GANTRY_TEST_POSTGRES` names a server) PostgreSQL.
//!
//! The tasks are written through the hub's own database API
//! (`Db::submit_many`, the submit's statements in one transaction per
//! 5,000 tasks, so filling takes seconds rather than 100,000 HTTP submits);
//! the hub that answers is the release `gantry hub serve` on that database.
//! Measured: the first page; a page 90,000 tasks deep by `before`; pages
//! filtered by a label and a name, by a rare state, and by a label 90,000
//! deep; and, on a hub of 100 tasks, the first page, to compare.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_hub::db::TaskFilter;
use gantry_hub::{Hub, HubConfig, SystemClock};
use gantry_protocol::console_wire::TaskCursor;
use gantry_protocol::wire::{CommandKind, TaskList};
use gantry_protocol::{JobSpec, TaskState};
use gantry_testkit::hub::Database;
use gantry_testkit::{HubChild, Scratch};

use crate::hub::{start_hub, stop_hub};
use crate::record::{machine, ms, percentile, sorted, stamp};
use crate::{built, say};

/// The tasks the hub holds.
const TASKS: usize = 100_000;
/// Tasks per transaction while filling.
const BATCH: usize = 5_000;
/// Requests per measure, after as many to warm up.
const ROUNDS: usize = 40;
/// Tasks per page, as the console asks.
const PAGE: u32 = 100;

/// The options of `bench tasks_list`.
#[derive(Debug)]
pub struct Options {
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options { record: true };
        for arg in args {
            match arg.as_str() {
                "--no-record" => options.record = false,
                other => {
                    bail!("unknown option `{other}` for `bench tasks_list`; see `cargo xtask help`")
                }
            }
        }
        Ok(options)
    }
}

/// One measure: its name and round-trip times in ms, sorted.
#[derive(Debug)]
struct Measure {
    what: String,
    times: Vec<f64>,
    /// How many tasks its page held.
    listed: usize,
}

/// What one database's run measured.
#[derive(Debug)]
pub struct Figures {
    database: &'static str,
    fill: Duration,
    floor: Vec<f64>,
    measures: Vec<Measure>,
    /// The query plan of each filtered page, as the database explains it.
    plans: Vec<(String, String)>,
}

/// Runs the benchmark on SQLite, then on PostgreSQL when one is set up.
pub async fn run(_options: &Options) -> Result<Vec<Figures>> {
    let gantry = built("GANTRY_BENCH_CLI")?;
    let mut all = vec![run_on(&gantry, None).await?];
    match Database::create().await {
        Some(database) => {
            let figures = run_on(&gantry, Some(&database.url())).await;
            database.drop_it().await;
            all.push(figures?);
        }
        None => say("tasks_list: no PostgreSQL (GANTRY_TEST_POSTGRES); SQLite only"),
    }
    Ok(all)
}

/// The `i`th task: every tenth asks for `gpu`, names alternate.
fn job(i: usize) -> JobSpec {
    let label = if i.is_multiple_of(10) { "gpu" } else { "cpu" };
    let name = if i.is_multiple_of(2) {
        format!("train-{i}")
    } else {
        format!("eval-{i}")
    };
    serde_json::from_value(serde_json::json!({"image": "busybox", "name": name, "labels": [label]}))
        .expect("the bench's job is a job")
}

/// Opens the hub's database in this process, as `gantry hub serve` will.
async fn open(data: &Path, db_url: Option<&str>) -> Result<Hub> {
    Hub::open(
        data,
        db_url,
        HubConfig::default(),
        Arc::new(SystemClock) as Arc<dyn gantry_hub::Clock>,
    )
    .await
    .context("cannot open the hub's database")
}

/// Writes tasks `from..to` through the hub's database API; returns the
/// ids of one in a hundred of them, spread over the range.
async fn fill(hub: &Hub, from: usize, to: usize) -> Result<Vec<String>> {
    let mut start = from;
    let mut picked = Vec::new();
    while start < to {
        let end = (start + BATCH).min(to);
        let specs: Vec<JobSpec> = (start..end).map(job).collect();
        let ids = hub
            .db()
            .submit_many(&specs, "bench", hub.now())
            .await
            .context("cannot fill the hub")?;
        picked.extend(ids.into_iter().step_by(100));
        start = end;
    }
    Ok(picked)
}

async fn run_on(gantry: &Path, db_url: Option<&str>) -> Result<Figures> {
    let database = if db_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let scratch = Scratch::named("bench-tasks-list")?;
    let data = scratch.path().join("hub");
    let hub = open(&data, db_url).await?;
    let admin = hub.db().create_admin_token("bench", hub.now()).await?;
    fill(&hub, 0, 100).await?;
    hub.db().close().await;
    let client = reqwest::Client::new();

    // The first page of a hub holding 100 tasks.
    let (child, log) = serve(gantry, scratch.path(), &data, db_url, "small")?;
    let small = measure(
        &client,
        &child,
        &admin,
        "first page, 100 tasks on the hub",
        "",
    )
    .await?;
    stop_hub(child, "tasks_list");
    drop(log);

    say(format!("tasks_list: {database}: writing {TASKS} tasks"));
    let hub = open(&data, db_url).await?;
    let began = Instant::now();
    let rare = fill(&hub, 100, TASKS).await?;
    let fill_took = began.elapsed();
    // One task in a hundred is canceled: a rare state to filter by.
    for id in &rare {
        hub.db()
            .request(id, CommandKind::Cancel, "bench", hub.now())
            .await?;
    }
    let cursor = deep_cursor(&hub).await?;
    let filters = pages(&cursor);
    let mut plans = Vec::new();
    for (what, _, filter) in &filters {
        let filter = TaskFilter {
            limit: PAGE,
            ..filter.clone()
        };
        let plan = hub.db().explain_tasks(&filter).await?;
        plans.push((what.to_string(), summary(&plan)));
    }
    hub.db().close().await;

    let (child, log) = serve(gantry, scratch.path(), &data, db_url, "large")?;
    let floor = round_trips(&client, &child.url("/v1/health"), &admin).await?;
    let mut measures = vec![small];
    for (what, query, _) in &filters {
        measures.push(measure(&client, &child, &admin, what, query).await?);
    }
    stop_hub(child, "tasks_list");
    drop(log);
    Ok(Figures {
        database,
        fill: fill_took,
        floor,
        measures,
        plans,
    })
}

/// The cursor 90,000 tasks down: walked by pages of 1000, as a client would.
async fn deep_cursor(hub: &Hub) -> Result<TaskCursor> {
    let newest = hub
        .db()
        .tasks(&TaskFilter {
            limit: 1,
            ..TaskFilter::default()
        })
        .await?;
    let newest = newest.tasks.first().context("the hub holds tasks")?;
    let mut cursor = TaskCursor {
        created_at: newest.created_at,
        id: newest.id.clone(),
    };
    for _ in 0..90 {
        let page = hub
            .db()
            .tasks(&TaskFilter {
                limit: 1000,
                before: Some(cursor.clone()),
                ..TaskFilter::default()
            })
            .await?;
        cursor = page.next.context("90 pages of 1000 exist")?;
    }
    Ok(cursor)
}

/// The pages measured: what each is, its query string, and its filter.
fn pages(deep: &TaskCursor) -> Vec<(&'static str, String, TaskFilter)> {
    vec![
        ("first page", String::new(), TaskFilter::default()),
        (
            "page 90,000 deep (before)",
            format!("&before={deep}"),
            TaskFilter {
                before: Some(deep.clone()),
                ..TaskFilter::default()
            },
        ),
        (
            "label=gpu & name=rain-9",
            "&label=gpu&name=rain-9".to_owned(),
            TaskFilter {
                label: Some("gpu".into()),
                name: Some("rain-9".into()),
                ..TaskFilter::default()
            },
        ),
        (
            "state=canceled (1 in 100)",
            "&state=canceled".to_owned(),
            TaskFilter {
                state: Some(TaskState::Canceled),
                ..TaskFilter::default()
            },
        ),
        (
            "label=gpu, 90,000 deep",
            format!("&label=gpu&before={deep}"),
            TaskFilter {
                label: Some("gpu".into()),
                before: Some(deep.clone()),
                ..TaskFilter::default()
            },
        ),
    ]
}

/// The plan's lines that read a table or an index, joined.
fn summary(plan: &[String]) -> String {
    let steps: Vec<&str> = plan
        .iter()
        .map(|line| line.trim().trim_start_matches("->").trim())
        .filter(|line| {
            line.starts_with("SCAN")
                || line.starts_with("SEARCH")
                || line.contains(" Scan")
                || line.starts_with("Sort")
                || line.contains("TEMP B-TREE")
        })
        .map(|line| line.split("  (cost").next().unwrap_or(line))
        .collect();
    steps.join("; ")
}

/// Starts the release hub on `data` (and `db_url`), logging to a file in `dir`.
fn serve(
    gantry: &Path,
    dir: &Path,
    data: &Path,
    db_url: Option<&str>,
    name: &str,
) -> Result<(HubChild, std::path::PathBuf)> {
    let log = dir.join(format!("hub-{name}.log"));
    let file = std::fs::File::create(&log)?;
    let child = match db_url {
        None => start_hub(gantry, data, "127.0.0.1:0", file),
        Some(url) => HubChild::start(
            gantry_testkit::hub_serve(gantry, data, "127.0.0.1:0")
                .env("GANTRY_HUB_DB", url)
                .stderr(file),
        )
        .context("cannot start the hub"),
    };
    let child = child.with_context(|| crate::tail(&log))?;
    Ok((child, log))
}

/// Times `GET /v1/tasks?limit=100{query}`.
async fn measure(
    client: &reqwest::Client,
    hub: &HubChild,
    admin: &str,
    what: &str,
    query: &str,
) -> Result<Measure> {
    let url = hub.url(&format!("/v1/tasks?limit={PAGE}{query}"));
    let answer: TaskList = client
        .get(&url)
        .bearer_auth(admin)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let times = round_trips(client, &url, admin).await?;
    say(format!(
        "tasks_list: {what}: p50 {:.2} ms, {} tasks",
        percentile(&times, 50.0),
        answer.tasks.len()
    ));
    Ok(Measure {
        what: what.to_owned(),
        times,
        listed: answer.tasks.len(),
    })
}

/// [`ROUNDS`] round trips to `url` after as many to warm up, in ms, sorted.
async fn round_trips(client: &reqwest::Client, url: &str, admin: &str) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(ROUNDS);
    for round in 0..2 * ROUNDS {
        let began = Instant::now();
        let response = client.get(url).bearer_auth(admin).send().await?;
        let status = response.status();
        response.bytes().await?;
        if !status.is_success() {
            bail!("{url} answered {status}");
        }
        if round >= ROUNDS {
            times.push(ms(began.elapsed()));
        }
    }
    Ok(sorted(times))
}

/// The section for docs/benchmarks.md.
pub fn report(results: &[Figures]) -> String {
    let mut out = String::new();
    out.push_str("<!-- bench tasks_list: begin (written by `cargo xtask bench tasks_list`; edits inside are overwritten) -->\n");
    out.push_str("## Hub: listing and filtering 100,000 tasks\n\n");
    out.push_str(&format!(
        "Recorded {} on {}, release hub (`gantry hub serve`), client on the same machine. \
         {TASKS} tasks (every tenth with label `gpu`, names `train-N`/`eval-N`, 1 in 100 canceled), \
         pages of {PAGE}; {ROUNDS} requests per row after {ROUNDS} to warm up.\n\n",
        stamp(),
        machine()
    ));
    out.push_str("| database | page | tasks listed | p50 | p95 | floor p50 | p50 / floor |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for figures in results {
        let floor = percentile(&figures.floor, 50.0);
        for measure in &figures.measures {
            let p50 = percentile(&measure.times, 50.0);
            out.push_str(&format!(
                "| {} | {} | {} | {p50:.2} ms | {:.2} ms | {floor:.3} ms | {:.1}x |\n",
                figures.database,
                measure.what,
                measure.listed,
                percentile(&measure.times, 95.0),
                p50 / floor,
            ));
        }
    }
    out.push_str(
        "\n- **floor**: a bare `GET /v1/health` round trip from the same client to the same hub in the \
         same run. A page's ratio over it is what listing costs beyond a round trip.\n\
         - **page 90,000 deep**: `before` set to the `next` after 90 pages of 1000; keyset paging on \
         `(created_at, id)` reads the index from there, so it costs what the first page does.\n\
         - The 100 tasks row is the same hub before it was filled to 100,000.\n",
    );
    for figures in results {
        out.push_str(&format!(
            "\nFilling {} with {TASKS} tasks through the hub's database API took {:.1} s. Its query plans (`EXPLAIN`):\n\n",
            figures.database,
            figures.fill.as_secs_f64()
        ));
        for (what, plan) in &figures.plans {
            out.push_str(&format!("- {what}: `{plan}`\n"));
        }
    }
    out.push_str("<!-- bench tasks_list: end -->\n");
    out
}
