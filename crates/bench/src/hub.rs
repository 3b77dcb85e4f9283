//! `bench hub`: how long a submitted task takes to reach one of
//! N long-polling agents, against a release build of the hub on loopback.
//!
//! Each node count gets a fresh hub and data folder. The floor is a bare
//! `GET /v1/health` from the same client in the same run, so the ratio says
//! what dispatch costs beyond one HTTP round trip on this machine.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use gantry_protocol::wire::{Assignment, RegisterRequest, Submitted, TaskEvent};
use gantry_testkit::procfs::{self, load_average};
use gantry_testkit::{HubChild, Scratch, hub_serve};
use reqwest::StatusCode;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::record::{machine, ms, percentile, sorted, stamp};
use crate::{built, hub_admin, say};

/// What `bench hub` measures unless told otherwise: the node counts of a
/// small and a large site, and enough tasks for a stable p99.
const DEFAULT_NODES: &[usize] = &[100, 1_000];
const DEFAULT_TASKS: usize = 200;

/// The longest any one phase may take; a slower phase is a failure, so the
/// benchmark ends even when the hub stops answering.
const PHASE_LIMIT: Duration = Duration::from_secs(120);
/// How far apart the admin submits tasks: slow enough that each is dispatched
/// alone, so the figure is latency rather than queueing.
const SUBMIT_EVERY: Duration = Duration::from_millis(20);
/// Health round trips for the floor, after as many again to warm up.
const FLOOR_SAMPLES: usize = 1_000;
/// How many `gantry hub node add` processes run at once. One: two at once
/// can fail with "database is locked", because the hub's SQLite transactions
/// start as readers and cannot always become writers while another process
/// writes.
const NODE_ADD_PARALLEL: usize = 1;
/// How many agents register at once, which keeps the hub's listen backlog
/// from overflowing while a thousand connections open.
const REGISTER_PARALLEL: usize = 64;

/// The options of `bench hub`.
#[derive(Debug)]
pub struct Options {
    /// One run per node count, each against a fresh hub.
    pub nodes: Vec<usize>,
    /// How many tasks each run submits.
    pub tasks: usize,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    /// Reads the options, and checks that this process may open enough
    /// files for the most nodes asked for.
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            nodes: DEFAULT_NODES.to_vec(),
            tasks: DEFAULT_TASKS,
            record: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--nodes" => {
                    options.nodes = value()?
                        .split(',')
                        .map(|n| {
                            n.trim()
                                .parse()
                                .with_context(|| format!("--nodes: `{n}` is not a count"))
                        })
                        .collect::<Result<_>>()?;
                }
                "--tasks" => options.tasks = value()?.parse().context("--tasks needs a count")?,
                "--no-record" => options.record = false,
                other => bail!("unknown option `{other}` for `bench hub`; see `cargo xtask help`"),
            }
        }
        if options.nodes.is_empty() || options.nodes.contains(&0) || options.tasks == 0 {
            bail!("--nodes and --tasks need counts above zero");
        }
        check_open_files(options.nodes.iter().copied().max().unwrap_or(0))?;
        Ok(options)
    }
}

/// The figures of one node count.
#[derive(Debug)]
pub struct Figures {
    nodes: usize,
    tasks: usize,
    samples: Samples,
    /// The hub's peak and final resident memory, in kB.
    rss_peak_kb: u64,
    rss_end_kb: u64,
    /// The 1-minute load average as the run started.
    load: f64,
}

/// What the clients measured in one run.
#[derive(Debug)]
struct Samples {
    /// Dispatch latencies in ms, sorted.
    dispatch: Vec<f64>,
    /// Health round trips in ms, sorted: the floor.
    floor: Vec<f64>,
    /// Submit round trips in ms, sorted, which show whether the hub kept up.
    submit: Vec<f64>,
    /// Failed agent calls, each retried.
    errors: u64,
    /// Long-polls that ended with no task (204).
    empty_polls: u64,
}

impl Figures {
    fn summary(&self) -> String {
        let Samples {
            dispatch,
            floor,
            submit,
            errors,
            empty_polls,
        } = &self.samples;
        format!(
            "{} nodes, {} tasks: dispatch p50 {:.2} ms, p99 {:.2} ms; floor p50 {:.3} ms, p99 {:.3} ms; \
             ratio {:.1}x; submit p50 {:.2} ms; hub RSS peak {} MiB, end {} MiB; load {:.1}; {errors} errors, {empty_polls} empty polls",
            self.nodes,
            self.tasks,
            percentile(dispatch, 50.0),
            percentile(dispatch, 99.0),
            percentile(floor, 50.0),
            percentile(floor, 99.0),
            self.ratio(),
            percentile(submit, 50.0),
            self.rss_peak_kb / 1024,
            self.rss_end_kb / 1024,
            self.load,
        )
    }

    /// Dispatch p50 over floor p50: what dispatch costs in round trips.
    fn ratio(&self) -> f64 {
        percentile(&self.samples.dispatch, 50.0) / percentile(&self.samples.floor, 50.0)
    }
}

/// Measures each node count in turn.
pub async fn run(options: &Options) -> Result<Vec<Figures>> {
    let gantry = built("GANTRY_BENCH_CLI")?;
    let mut results = Vec::new();
    for &nodes in &options.nodes {
        say(format!("bench hub: {nodes} nodes, {} tasks", options.tasks));
        let figures = measure(&gantry, nodes, options.tasks).await?;
        say(format!("bench hub: {}", figures.summary()));
        results.push(figures);
    }
    Ok(results)
}

/// The section of docs/benchmarks.md for these results, between markers that
/// the next run finds and replaces.
pub fn report(options: &Options, results: &[Figures]) -> Result<String> {
    let mut out = String::new();
    out.push_str("<!-- bench hub: begin (written by `cargo xtask bench hub`; edits inside are overwritten) -->\n");
    out.push_str("## Hub: task dispatch to long-polling agents\n\n");
    out.push_str(&format!(
        "Recorded {}, on {}. {} tasks per row, one every {} ms.\n\n",
        stamp(),
        machine(),
        options.tasks,
        SUBMIT_EVERY.as_millis(),
    ));
    out.push_str(
        "| nodes | tasks | dispatch p50 | dispatch p99 | floor p50 | floor p99 | p50 ratio | submit p50 \
         | hub RSS peak | hub RSS end | load | errors |\n",
    );
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for f in results {
        let Samples {
            dispatch,
            floor,
            submit,
            errors,
            ..
        } = &f.samples;
        out.push_str(&format!(
            "| {} | {} | {:.2} ms | {:.2} ms | {:.3} ms | {:.3} ms | {:.0}x | {:.2} ms | {} MiB | {} MiB | {:.1} | {errors} |\n",
            f.nodes,
            f.tasks,
            percentile(dispatch, 50.0),
            percentile(dispatch, 99.0),
            percentile(floor, 50.0),
            percentile(floor, 99.0),
            f.ratio(),
            percentile(submit, 50.0),
            f.rss_peak_kb / 1024,
            f.rss_end_kb / 1024,
            f.load,
        ));
    }
    out.push_str(
        "
Each row runs a fresh release hub (`gantry hub serve`, SQLite) with N nodes made by `gantry hub node
add`. N simulated agents register and long-poll `GET /v1/agent/next?wait=30`; an agent that gets a
task acks it (`accepted`) and polls again. An admin client submits the tasks one at a time.

- **dispatch**: from the submit's response reaching the admin client to an agent holding the task.
  The hub wakes the pollers before it answers the submit, so a value can be near zero.
- **floor**: a bare `GET /v1/health` round trip from the same admin client in the same run, with
  the agents parked. The ratio is dispatch p50 over floor p50.
- **submit**: the admin's `POST /v1/tasks` round trip; when it grows, the hub is not keeping up.
- **hub RSS**: VmHWM (peak) and VmRSS (at the end) from /proc.
- **load**: the 1-minute load average as the row started; client, hub and anything else running
  share the machine's cores, so a high load inflates every figure.
- **errors**: failed agent calls, each retried; the hub's log lines for them are printed by the run.
",
    );
    out.push_str("<!-- bench hub: end -->\n");
    Ok(out)
}

/// Fails early when the open-file limit cannot hold the connections: the
/// hub and this client each keep about one socket per agent, and the hub
/// inherits this process's limit. Raise it with `ulimit -n 4096` first.
fn check_open_files(nodes: usize) -> Result<()> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse::<usize>().ok());
    let need = 2 * nodes + 256;
    if let Some(soft) = soft
        && soft < need
    {
        bail!(
            "{nodes} agents need about {need} open files but the limit is {soft}; run `ulimit -n {need}` first"
        );
    }
    Ok(())
}

/// One run: a fresh hub with `nodes` nodes, `tasks` tasks dispatched.
async fn measure(gantry: &Path, nodes: usize, tasks: usize) -> Result<Figures> {
    let scratch = Scratch::named(&format!("bench-hub-{nodes}"))?;
    let data = scratch.path().join("data");
    let log = scratch.path().join("hub.log");
    let started = Instant::now();
    let admin = hub_admin(
        gantry,
        &data,
        &["hub", "token", "create", "--admin", "bench"],
    )
    .await?;
    let tokens = add_nodes(gantry, nodes, &data).await?;
    say(format!(
        "bench hub: made {nodes} node tokens in {:.1}s",
        started.elapsed().as_secs_f64()
    ));

    let load = load_average();
    let hub = start_hub(gantry, &data, "127.0.0.1:0", std::fs::File::create(&log)?)?;
    let result = drive(&hub, &admin, tokens, tasks).await;
    let memory = procfs::memory(hub.pid()).unwrap_or_default();
    stop_hub(hub, "bench hub");
    // The log goes with the scratch folder, so its complaints are shown now.
    let complaints = complaints(&log);
    let samples = result
        .map_err(|error| error.context(format!("the run with {nodes} nodes failed{complaints}")))?;
    if samples.errors > 0 {
        say(format!(
            "bench hub: {} agent calls failed{complaints}",
            samples.errors
        ));
    }
    Ok(Figures {
        nodes,
        tasks,
        samples,
        rss_peak_kb: memory.hwm_kb,
        rss_end_kb: memory.rss_kb,
        load,
    })
}

/// A release hub of a benchmark's own, with the tokens made before it
/// started.
pub struct BenchHub {
    /// The running hub.
    pub hub: HubChild,
    /// An admin token (named `bench`).
    pub admin: String,
    /// A node token for each node named, in order.
    pub nodes: Vec<String>,
}

/// Starts a hub with its data in `dir/hub` and its log in `dir/hub.log`,
/// after making an admin token and a node token for each of `nodes`: the
/// start every benchmark with a hub of its own shares.
pub async fn bench_hub(gantry: &Path, dir: &Path, nodes: &[&str]) -> Result<BenchHub> {
    let data = dir.join("hub");
    let admin = hub_admin(
        gantry,
        &data,
        &["hub", "token", "create", "--admin", "bench"],
    )
    .await?;
    let mut tokens = Vec::new();
    for node in nodes {
        tokens.push(hub_admin(gantry, &data, &["hub", "node", "add", node]).await?);
    }
    let log = std::fs::File::create(dir.join("hub.log"))?;
    let hub = start_hub(gantry, &data, "127.0.0.1:0", log)?;
    Ok(BenchHub {
        hub,
        admin,
        nodes: tokens,
    })
}

/// Starts `gantry hub serve` on `listen` with its log in `log`, and waits
/// until it says where it listens.
pub fn start_hub(gantry: &Path, data: &Path, listen: &str, log: std::fs::File) -> Result<HubChild> {
    HubChild::start(hub_serve(gantry, data, listen).stderr(log)).context("cannot start the hub")
}

/// SIGTERM, as a service manager would send, then 10 s before SIGKILL;
/// `bench` names the benchmark in what is said.
pub fn stop_hub(mut hub: HubChild, bench: &str) {
    match hub.process.terminate(Duration::from_secs(10)) {
        Some(status) if !status.success() => {
            say(format!(
                "{bench}: the hub exited with {status} after SIGTERM"
            ));
        }
        Some(_) => {}
        None => say(format!(
            "{bench}: the hub ignored SIGTERM for 10 s and was killed"
        )),
    }
}

/// The hub's warnings and errors from its log, the first few, as lines to
/// append to a message.
fn complaints(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<_> = text
        .lines()
        .filter(|line| line.contains(" WARN ") || line.contains(" ERROR "))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let shown: Vec<_> = lines
        .iter()
        .take(10)
        .map(|line| format!("\n  {line}"))
        .collect();
    format!(
        "; the hub logged {} warnings and errors, first:{}",
        lines.len(),
        shown.concat()
    )
}

/// Makes `nodes` node tokens with `gantry hub node add`, a few at a time.
async fn add_nodes(gantry: &Path, nodes: usize, data: &Path) -> Result<Vec<String>> {
    let slots = Arc::new(Semaphore::new(NODE_ADD_PARALLEL));
    let mut adds = JoinSet::new();
    for i in 0..nodes {
        let (gantry, data, slots) = (gantry.to_owned(), data.to_owned(), slots.clone());
        adds.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            hub_admin(
                &gantry,
                &data,
                &["hub", "node", "add", &format!("node-{i}")],
            )
            .await
        });
    }
    let mut tokens = Vec::with_capacity(nodes);
    while let Some(token) = adds.join_next().await {
        tokens.push(token??);
    }
    Ok(tokens)
}

/// What the simulated agents share: their client, where to report the tasks
/// they receive, and counters.
#[derive(Debug)]
struct Agents {
    client: reqwest::Client,
    base: String,
    received: mpsc::UnboundedSender<(String, Instant)>,
    errors: AtomicU64,
    empty_polls: AtomicU64,
}

/// Registers the agents, measures the floor, submits the tasks and waits for
/// every one to reach an agent.
async fn drive(hub: &HubChild, admin: &str, tokens: Vec<String>, tasks: usize) -> Result<Samples> {
    // Every request goes to 127.0.0.1, so a proxy from the environment must
    // not be used. The timeout outlasts the 30 s long-poll.
    let client = || {
        reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(60))
            .build()
    };
    let (sender, mut received) = mpsc::unbounded_channel();
    let agents = Arc::new(Agents {
        client: client()?,
        base: hub.url(""),
        received: sender,
        errors: AtomicU64::new(0),
        empty_polls: AtomicU64::new(0),
    });

    let nodes = tokens.len();
    let registered = tokio::time::timeout(PHASE_LIMIT, register_all(&agents, &tokens))
        .await
        .context("registering the agents took over the phase limit")??;
    let mut pollers = JoinSet::new();
    for token in registered {
        pollers.spawn(poll(agents.clone(), token));
    }
    // Give every agent time to park its first long-poll at the hub, so the
    // floor and the tasks meet a hub in its steady state.
    tokio::time::sleep(Duration::from_millis(500 + nodes as u64)).await;

    let admin_client = client()?;
    let floor = tokio::time::timeout(PHASE_LIMIT, health_floor(&admin_client, hub))
        .await
        .context("the floor took over the phase limit")??;

    let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
    let mut submitted: HashMap<String, Instant> = HashMap::with_capacity(tasks);
    let mut submit = Vec::with_capacity(tasks);
    let mut every = tokio::time::interval(SUBMIT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let job = serde_json::json!({"image": "busybox", "command": ["true"]});
    for _ in 0..tasks {
        every.tick().await;
        let sent = Instant::now();
        let answer = tokio::time::timeout_at(
            deadline,
            admin_client
                .post(hub.url("/v1/tasks"))
                .bearer_auth(admin)
                .json(&job)
                .send(),
        )
        .await
        .context("submitting took over the phase limit")??;
        if answer.status() != StatusCode::CREATED {
            bail!(
                "submit answered {}: {}",
                answer.status(),
                answer.text().await.unwrap_or_default()
            );
        }
        let at = Instant::now();
        submit.push(ms(at - sent));
        let Submitted { id } = answer
            .json()
            .await
            .context("the submit's answer is not a Submitted")?;
        submitted.insert(id, at);
    }

    let mut dispatch = Vec::with_capacity(tasks);
    let mut seen = std::collections::HashSet::new();
    while dispatch.len() < tasks {
        let Ok(next) = tokio::time::timeout_at(deadline, received.recv()).await else {
            bail!(
                "only {} of {tasks} tasks reached an agent within {} s",
                dispatch.len(),
                PHASE_LIMIT.as_secs()
            );
        };
        let (id, at) = next.context("every agent stopped")?;
        let Some(&sent) = submitted.get(&id) else {
            bail!("an agent got task {id}, which the benchmark never submitted")
        };
        if !seen.insert(id.clone()) {
            bail!("task {id} reached two agents");
        }
        // Signed: the hub wakes the pollers before it answers the submit, so
        // an agent can hold the task before the admin holds the answer.
        let latency = if at >= sent {
            ms(at - sent)
        } else {
            -ms(sent - at)
        };
        dispatch.push(latency);
    }
    pollers.shutdown().await;
    Ok(Samples {
        dispatch: sorted(dispatch),
        floor,
        submit: sorted(submit),
        errors: agents.errors.load(Ordering::Relaxed),
        empty_polls: agents.empty_polls.load(Ordering::Relaxed),
    })
}

/// Registers every agent, a few at a time; returns the tokens in the order
/// their registers finished.
async fn register_all(agents: &Arc<Agents>, tokens: &[String]) -> Result<Vec<String>> {
    let slots = Arc::new(Semaphore::new(REGISTER_PARALLEL));
    let mut registers = JoinSet::new();
    for token in tokens {
        let (agents, token, slots) = (agents.clone(), token.clone(), slots.clone());
        registers.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let body = RegisterRequest {
                version: "bench".to_owned(),
                ..RegisterRequest::default()
            };
            let answer = agents
                .client
                .post(format!("{}/v1/agent/register", agents.base))
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await?;
            if answer.status() != StatusCode::OK {
                bail!(
                    "register answered {}: {}",
                    answer.status(),
                    answer.text().await.unwrap_or_default()
                );
            }
            Ok(token)
        });
    }
    let mut registered = Vec::with_capacity(tokens.len());
    while let Some(token) = registers.join_next().await {
        registered.push(token??);
    }
    Ok(registered)
}

/// One agent: long-polls `next`, reports each task it gets and acks it, and
/// polls again, until the benchmark aborts it. A failed call is counted and
/// retried after a pause, as a real agent would.
async fn poll(agents: Arc<Agents>, token: String) {
    let next = format!("{}/v1/agent/next?wait=30", agents.base);
    loop {
        let outcome: Result<()> = async {
            let answer = agents.client.get(&next).bearer_auth(&token).send().await?;
            match answer.status() {
                StatusCode::NO_CONTENT => {
                    agents.empty_polls.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                StatusCode::OK => {
                    let Assignment { task } = answer.json().await?;
                    let _ = agents.received.send((task.id.clone(), Instant::now()));
                    let ack = agents
                        .client
                        .post(format!("{}/v1/tasks/{}/events", agents.base, task.id))
                        .bearer_auth(&token)
                        .json(&TaskEvent::Accepted {})
                        .send()
                        .await?;
                    if ack.status() != StatusCode::OK {
                        bail!(
                            "the ack answered {}: {}",
                            ack.status(),
                            ack.text().await.unwrap_or_default()
                        );
                    }
                    Ok(())
                }
                status => bail!(
                    "next answered {status}: {}",
                    answer.text().await.unwrap_or_default()
                ),
            }
        }
        .await;
        if let Err(error) = outcome {
            // Only the first few are printed; the count goes in the results.
            if agents.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                say(format!(
                    "bench hub: an agent call failed (retrying): {error:#}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Bare health round trips from `client`, sorted, in ms: the floor.
async fn health_floor(client: &reqwest::Client, hub: &HubChild) -> Result<Vec<f64>> {
    let url = hub.url("/v1/health");
    let mut samples = Vec::with_capacity(FLOOR_SAMPLES);
    for i in 0..2 * FLOOR_SAMPLES {
        let started = Instant::now();
        let answer = client.get(&url).send().await?;
        let status = answer.status();
        answer.bytes().await?;
        let took = started.elapsed();
        if status != StatusCode::OK {
            bail!("health answered {status}");
        }
        if i >= FLOOR_SAMPLES {
            samples.push(ms(took));
        }
    }
    Ok(sorted(samples))
}
