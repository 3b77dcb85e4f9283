//! The driver's loop: ask the program for jobs, submit (or adopt) them,
//! follow them on the hub, tell the program of every change, and end when
//! the program says there are no more and every job has ended.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gantry_client::HubClient;
use gantry_protocol::JobSpec;
use gantry_protocol::job::Format;
use gantry_protocol::wire::Task;
use tokio::process::Command;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// However quiet the hub's stream, every unsettled job is read this often.
const FULL_READ: Duration = Duration::from_secs(10);

use crate::board::Board;
use crate::news::News;
use crate::outcome::{OnError, Outcome, Stop, summary};
use crate::program::Program;
use crate::protocol::{AgentView, Answer, JobView, ToProgram, VERSION};
use crate::tracking::{self, Job};

/// What a driver needs to run.
#[derive(Debug)]
pub struct Settings {
    /// The hub, with the admin token.
    pub client: HubClient,
    /// A CA file for the hub, handed on to the program.
    pub ca_file: Option<PathBuf>,
    /// The program that makes the jobs (`python3 -m gantry_client.drive …`
    /// or the one after `--`).
    pub program: Command,
    /// The driver's name: its jobs carry it, a restart finds them by it.
    pub name: String,
    /// At most this many jobs in flight (not ended); `None`: no limit.
    pub max_running: Option<usize>,
    /// What to do with the jobs when the program fails.
    pub on_error: OnError,
    /// How long to wait before asking again after `[]`.
    pub interval: Duration,
    /// How often the loop wakes without news (to ask again after `[]`, to
    /// see a kill); jobs are read when the hub's stream says they changed,
    /// and all of them every 10 s.
    pub poll: Duration,
    /// Cancel the jobs when the driver is killed (`/kill`, `agent.kill()`).
    pub cancel_on_kill: bool,
    /// The monitor's address, to tell the program.
    pub monitor_url: Option<String>,
}

/// A driver: its settings and the board the monitor reads.
#[derive(Debug)]
pub struct Driver {
    settings: Settings,
    board: Arc<Mutex<Board>>,
    jobs: Vec<Job>,
    recovered: BTreeMap<usize, (Task, JobSpec)>,
    pending: VecDeque<serde_json::Value>,
    kill: CancellationToken,
    interrupt: CancellationToken,
    news: News,
    last_full_read: Instant,
}

impl Driver {
    /// A driver that shows its jobs on `board`.
    pub fn new(settings: Settings, board: Arc<Mutex<Board>>) -> Driver {
        Driver {
            settings,
            board,
            jobs: Vec::new(),
            recovered: BTreeMap::new(),
            pending: VecDeque::new(),
            kill: CancellationToken::new(),
            interrupt: CancellationToken::new(),
            news: News::new(),
            last_full_read: Instant::now(),
        }
    }

    /// Runs until the work is done, the program fails, `kill` is cancelled
    /// (the monitor's `/kill`) or `interrupt` is (Ctrl-C); prints the
    /// summary and returns how it ended.
    pub async fn run(mut self, kill: CancellationToken, interrupt: CancellationToken) -> Outcome {
        self.kill = kill.clone();
        self.interrupt = interrupt.clone();
        let mut program = match Program::start(std::mem::replace(
            &mut self.settings.program,
            Command::new("true"),
        )) {
            Ok(program) => program,
            Err(error) => return self.finish(None, Stop::UserError(error.to_string())).await,
        };
        let (follow, tracker) = (CancellationToken::new(), TaskTracker::new());
        self.news
            .follow(self.settings.client.clone(), follow.clone(), &tracker);
        let stop = self.drive(&mut program, &kill, &interrupt).await;
        follow.cancel();
        tracker.close();
        tracker.wait().await;
        self.finish(Some(program), stop).await
    }

    async fn drive(
        &mut self,
        program: &mut Program,
        kill: &CancellationToken,
        interrupt: &CancellationToken,
    ) -> Stop {
        let client = self.settings.client.clone();
        let hello = ToProgram::Hello {
            version: VERSION,
            server: client.server(),
            token: client.token().expose(),
            ca_file: self.settings.ca_file.as_deref().and_then(|p| p.to_str()),
            name: &self.settings.name,
            monitor: self.settings.monitor_url.as_deref(),
        };
        if let Err(error) = program.send(&hello).await {
            return Stop::UserError(error.to_string());
        }
        match tracking::recover(&client, &self.settings.name).await {
            Ok(found) => {
                if !found.is_empty() {
                    eprintln!(
                        "drive {}: {} jobs of an earlier run are on the hub; the same jobs made again are picked up, not submitted twice",
                        self.settings.name,
                        found.len()
                    );
                }
                self.recovered = found;
            }
            Err(error) => return Stop::HubError(error.to_string()),
        }
        let mut generating = true;
        let mut next_ask = Instant::now();
        loop {
            if kill.is_cancelled() {
                return Stop::Killed("the monitor's /kill".to_owned());
            }
            if interrupt.is_cancelled() {
                return Stop::Interrupted;
            }
            if let Some(stop) = self.tell_changes(program).await {
                return stop;
            }
            if let Some(stop) = self.submit_pending().await {
                return stop;
            }
            if generating && self.pending.is_empty() && self.room() && Instant::now() >= next_ask {
                let agent = self.agent_view();
                let answer = match self
                    .ask(program, &ToProgram::Create { agent: &agent })
                    .await
                {
                    Ok(line) => Answer::to_create(&line),
                    Err(stop) => return stop,
                };
                match answer {
                    Err(bad) => return Stop::UserError(bad.to_string()),
                    Ok(Answer {
                        error: Some(error), ..
                    }) => return Stop::UserError(error),
                    Ok(Answer { kill: true, .. }) => {
                        return Stop::Killed("the program (agent.kill())".to_owned());
                    }
                    Ok(Answer { jobs: None, .. }) => {
                        generating = false;
                        self.board.lock().expect("board").generating = false;
                    }
                    Ok(Answer {
                        jobs: Some(jobs), ..
                    }) if jobs.is_empty() => {
                        next_ask = Instant::now() + self.settings.interval;
                    }
                    Ok(Answer {
                        jobs: Some(jobs), ..
                    }) => {
                        self.pending.extend(jobs);
                        continue;
                    }
                }
            }
            if !generating && self.pending.is_empty() && self.jobs.iter().all(Job::settled) {
                return Stop::Done;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.poll) => {}
                _ = self.news.arrived() => {}
                _ = kill.cancelled() => {}
                _ = interrupt.cancelled() => {}
            }
        }
    }

    /// Asks the program, giving up when the driver is killed or interrupted
    /// meanwhile (the user's code may take its time).
    async fn ask(&self, program: &mut Program, message: &ToProgram<'_>) -> Result<String, Stop> {
        tokio::select! {
            answer = program.ask(message) => answer.map_err(|error| {
                if self.interrupt.is_cancelled() {
                    Stop::Interrupted
                } else {
                    Stop::UserError(error.to_string())
                }
            }),
            _ = self.kill.cancelled() => Err(Stop::Killed("the monitor's /kill".to_owned())),
            _ = self.interrupt.cancelled() => Err(Stop::Interrupted),
        }
    }

    /// Whether another job may be submitted under `--max-running`.
    fn room(&self) -> bool {
        self.settings.max_running.is_none_or(|most| {
            self.jobs
                .iter()
                .filter(|job| !job.state().is_terminal())
                .count()
                < most
        })
    }

    fn agent_view(&self) -> AgentView {
        AgentView::new(
            &self.settings.name,
            self.jobs.iter().map(Job::view).collect(),
        )
    }

    /// Reads the unsettled jobs the hub said changed (all of them now and
    /// then) and tells the program of what changed, in the order it happened.
    async fn tell_changes(&mut self, program: &mut Program) -> Option<Stop> {
        let client = self.settings.client.clone();
        let (mut all, changed) = self.news.take();
        if self.last_full_read.elapsed() >= FULL_READ {
            all = true;
        }
        if all {
            self.last_full_read = Instant::now();
        }
        let mut changes: Vec<(i64, usize, JobView)> = Vec::new();
        for job in &mut self.jobs {
            if !(all || job.task.is_none() || changed.contains(&job.id)) {
                continue;
            }
            match job.refresh(&client).await {
                Ok(seen) => {
                    changes.extend(seen.into_iter().map(|(at, view)| (at, job.ordinal, view)));
                }
                Err(error) if error.is_transient() => {
                    eprintln!("drive: cannot read task {} ({error}); trying again", job.id);
                    self.news.mark(Some(vec![job.id.clone()]));
                }
                Err(error) => return Some(Stop::HubError(error.to_string())),
            }
        }
        self.board.lock().expect("board").jobs = self.jobs.iter().map(Job::view).collect();
        if changes.is_empty() {
            return None;
        }
        // Stable: one job's own changes keep their order.
        changes.sort_by_key(|(at, ordinal, _)| (*at, *ordinal));
        let changed: Vec<JobView> = changes.into_iter().map(|(_, _, view)| view).collect();
        let agent = self.agent_view();
        let message = ToProgram::Update {
            agent: &agent,
            jobs: &changed,
        };
        match self
            .ask(program, &message)
            .await
            .map(|line| Answer::to_update(&line))
        {
            Err(stop) => Some(stop),
            Ok(Err(bad)) => Some(Stop::UserError(bad.to_string())),
            Ok(Ok(Answer {
                error: Some(error), ..
            })) => Some(Stop::UserError(error)),
            Ok(Ok(Answer { kill: true, .. })) => {
                Some(Stop::Killed("the program (agent.kill())".to_owned()))
            }
            Ok(Ok(_)) => None,
        }
    }

    /// Submits (or adopts) the jobs the program gave, as room allows.
    async fn submit_pending(&mut self) -> Option<Stop> {
        while self.room() {
            let value = self.pending.pop_front()?;
            let ordinal = self.jobs.len();
            let spec = match JobSpec::parse(&value.to_string(), Format::Json) {
                Ok(spec) => spec,
                Err(error) => {
                    return Some(Stop::UserError(format!(
                        "job {ordinal} (the {} the program made) is not a valid job: {error}",
                        ordinal_words(ordinal)
                    )));
                }
            };
            let id = match self.recovered.remove(&ordinal) {
                Some((task, earlier)) if earlier == spec => {
                    eprintln!(
                        "drive {}: job {ordinal} is task {} from the earlier run ({}); not submitted again",
                        self.settings.name,
                        task.id,
                        task.state.as_str()
                    );
                    task.id
                }
                other => {
                    if let Some((task, _)) = other {
                        eprintln!(
                            "drive {}: job {ordinal} differs from the earlier run's (task {}); submitting the new one",
                            self.settings.name, task.id
                        );
                    }
                    let marked = tracking::marked(&spec, &self.settings.name, ordinal);
                    match self.settings.client.submit(&marked).await {
                        Ok(id) => id,
                        Err(error) if error.is_transient() => {
                            // It may have reached the hub: look there before
                            // submitting it again, on the next round.
                            eprintln!(
                                "drive {}: cannot submit job {ordinal} ({error}); trying again",
                                self.settings.name
                            );
                            self.pending.push_front(value);
                            match tracking::recover(&self.settings.client, &self.settings.name)
                                .await
                            {
                                Ok(found) => {
                                    self.recovered =
                                        found.into_iter().filter(|(n, _)| *n >= ordinal).collect()
                                }
                                Err(error) => eprintln!(
                                    "drive: cannot list the hub's tasks ({error}); trying again"
                                ),
                            }
                            return None;
                        }
                        Err(error) => {
                            return Some(Stop::UserError(format!(
                                "the hub refused job {ordinal}: {error}"
                            )));
                        }
                    }
                }
            };
            self.jobs.push(Job {
                ordinal,
                id,
                spec: value,
                task: None,
                told: 0,
            });
        }
        None
    }

    /// Ends: the program, the jobs as `--on-error`/`--cancel-on-kill` say,
    /// the summary.
    async fn finish(mut self, program: Option<Program>, stop: Stop) -> Outcome {
        if let Some(program) = program {
            program.finish(Duration::from_secs(5)).await;
        }
        let cancel = match &stop {
            Stop::UserError(_) | Stop::HubError(_) => self.settings.on_error == OnError::Cancel,
            Stop::Killed(_) => self.settings.cancel_on_kill,
            Stop::Done | Stop::Interrupted => false,
        };
        let unfinished: Vec<String> = self
            .jobs
            .iter()
            .filter(|job| !job.state().is_terminal())
            .map(|job| job.id.clone())
            .collect();
        if cancel {
            for id in &unfinished {
                if let Err(error) = self.settings.client.cancel(id).await {
                    eprintln!("drive: cannot cancel task {id}: {error}");
                }
            }
            // Read them once more, so the summary says canceled.
            for job in &mut self.jobs {
                let _ = job.refresh(&self.settings.client).await;
            }
        }
        let outcome = Outcome::of(&stop, &self.jobs);
        self.board.lock().expect("board").jobs = self.jobs.iter().map(Job::view).collect();
        self.board.lock().expect("board").ended = Some(outcome.words().to_owned());
        eprintln!("{}", stop.explain(&self.settings, cancel, unfinished.len()));
        print!("{}", summary(&self.settings.name, &self.jobs));
        outcome
    }
}

fn ordinal_words(n: usize) -> String {
    let n = n + 1;
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}
