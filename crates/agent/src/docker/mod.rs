//! The `docker` executor, through bollard. This is the only module that knows
//! bollard or the Docker API.
//!
//! A task's main container is attached *before* it starts, as `docker run`
//! does, so not one byte of its output is missed; the attach stream carries
//! stdout and stderr exactly as written. Containers are labelled with the task
//! and node (never the token), run with `no-new-privileges`, never privileged,
//! without the Docker socket, with an init process and a bounded log driver.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerStateStatusEnum, DeviceRequest, EndpointSettings, HostConfig,
    HostConfigLogConfig, Mount, MountType, NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use futures::StreamExt;
use gantry_protocol::job::{Gpus, Resources};
use gantry_protocol::wire::PullProgress;

use crate::executor::{
    Chunk, Command, Control, Deadline, ExecError, Exit, LogSink, Stream, sleep_until,
};
use crate::spool::StreamCounts;
use reread::{Entry, Ledger, TooShort};

mod reread;

/// A container the agent made, with what it uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerUse {
    /// Docker's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The task it runs for.
    pub task_id: Option<String>,
    /// `main`, `epilogue` or `service`.
    pub role: String,
    /// Its image.
    pub image: String,
    /// Docker's state: `running`, `paused`, `exited`, …
    pub state: String,
    /// Docker's words, e.g. "Up 5 minutes".
    pub status: String,
    /// When it was made (seconds since the epoch).
    pub created_s: i64,
    /// CPU use in percent of one core, while it runs.
    pub cpu_percent: Option<f64>,
    /// Memory in use (less the page cache that can be dropped).
    pub memory_bytes: Option<u64>,
    /// Its memory limit (the machine's memory when it has none).
    pub memory_limit_bytes: Option<u64>,
}

/// Label naming the task a container belongs to.
pub const LABEL_TASK: &str = "gantry.task";
/// Label naming the node that runs it.
pub const LABEL_NODE: &str = "gantry.node";
/// Label saying what the container is for: `main`, `epilogue` or `service`.
pub const LABEL_ROLE: &str = "gantry.role";
/// Label naming the agent (one per host dir) that made the container: two
/// agents on one engine, even with one node name, never touch each other's.
pub const LABEL_AGENT: &str = "gantry.agent";

/// Where containers mount the task's folder, and their working directory.
pub const TASK_MOUNT: &str = "/task";

/// A login for one registry (DOCKER_REGISTRY / DOCKER_LOGIN / DOCKER_PASSWORD).
#[derive(Clone)]
pub struct RegistryLogin {
    /// The registry's host, e.g. `registry.example.com:5000`.
    pub registry: String,
    /// The user name.
    pub login: String,
    /// The password; never printed.
    pub password: String,
}

impl std::fmt::Debug for RegistryLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RegistryLogin {{ registry: {:?}, login: {:?}, password: *** }}",
            self.registry, self.login
        )
    }
}

/// A container to run for a task.
#[derive(Debug, Clone)]
pub struct ContainerPlan {
    /// The task's id.
    pub task_id: String,
    /// The node's name, for the label.
    pub node: String,
    /// `main`, `epilogue` or `service`.
    pub role: &'static str,
    /// The container's name.
    pub name: String,
    /// The image.
    pub image: String,
    /// The command, environment, working folder and timeout.
    pub command: Command,
    /// Blobs mounted read-only: (file on this machine, path relative to the task folder).
    pub inputs: Vec<(PathBuf, String)>,
    /// Limits and devices.
    pub resources: Resources,
    /// The task's private network, when it has services.
    pub network: Option<String>,
    /// Host names the container answers to on that network.
    pub aliases: Vec<String>,
    /// `name:address` lines added to the container's /etc/hosts.
    pub extra_hosts: Vec<String>,
}

/// A connection to the Docker engine.
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    call_timeout: Duration,
    agent: Option<String>,
}

impl Engine {
    /// Connects to `host` (`unix:///path` or `tcp://host:port`; default: DOCKER_HOST,
    /// then the standard socket) and checks the engine answers.
    pub async fn connect(host: Option<&str>, call_timeout: Duration) -> Result<Engine, ExecError> {
        let host = host
            .map(str::to_owned)
            .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());
        let timeout_secs = call_timeout.as_secs().max(1);
        let docker = if let Some(path) = host.strip_prefix("unix://") {
            Docker::connect_with_unix(path, timeout_secs, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host.replacen("tcp://", "http://", 1), timeout_secs, bollard::API_DEFAULT_VERSION)
        } else {
            return Err(ExecError::DockerUnavailable(format!(
                "DOCKER_HOST=\"{host}\" is not understood; write unix:///var/run/docker.sock or tcp://HOST:PORT"
            )));
        }
        .map_err(|e| unavailable(&host, &e))?;
        let engine = Engine {
            docker,
            call_timeout,
            agent: None,
        };
        let docker = engine
            .call("connect", engine.docker.clone().negotiate_version())
            .await
            .map_err(|e| match e {
                ExecError::Other(_) => unavailable(&host, &e),
                other => other,
            })?;
        Ok(Engine {
            docker,
            call_timeout,
            agent: None,
        })
    }

    /// Labels the containers this engine handle makes with the agent's id,
    /// and sweeps only those.
    pub fn for_agent(self, agent: String) -> Engine {
        Engine {
            agent: Some(agent),
            ..self
        }
    }

    /// The engine's version, e.g. "20.10.24".
    pub async fn version(&self) -> Result<String, ExecError> {
        let version = self.call("read the version", self.docker.version()).await?;
        Ok(version.version.unwrap_or_default())
    }

    /// Runs one Docker API call, bounded by DOCKER_API_CALL_TIMEOUT.
    async fn call<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, DockerError>>,
    ) -> Result<T, ExecError> {
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(result) => result.map_err(|e| classify(what, e)),
            Err(_) => Err(ExecError::Timeout(format!(
                "Docker did not answer ({what}) within {}s (DOCKER_API_CALL_TIMEOUT); the engine may be overloaded or stuck",
                self.call_timeout.as_secs()
            ))),
        }
    }

    /// Whether the image is on this machine.
    pub async fn has_image(&self, image: &str) -> Result<bool, ExecError> {
        match tokio::time::timeout(self.call_timeout, self.docker.inspect_image(image)).await {
            Ok(Ok(_)) => Ok(true),
            Ok(Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            })) => Ok(false),
            Ok(Err(e)) => Err(classify("look for the image", e)),
            Err(_) => Err(ExecError::Timeout(
                "Docker did not answer whether it has the image".into(),
            )),
        }
    }

    /// Pulls `image`, logging in where a login matches its registry, and
    /// reports progress (bytes over all layers) as it goes.
    pub async fn pull(
        &self,
        image: &str,
        logins: &[RegistryLogin],
        mut progress: impl FnMut(PullProgress),
    ) -> Result<(), ExecError> {
        let (name, tag) = split_reference(image);
        let mut options = CreateImageOptionsBuilder::new().from_image(name);
        if let Some(tag) = tag {
            options = options.tag(tag);
        }
        let registry = registry_of(image);
        let login = logins.iter().find(|l| l.registry == registry);
        let credentials = login.map(|l| DockerCredentials {
            username: Some(l.login.clone()),
            password: Some(l.password.clone()),
            serveraddress: Some(l.registry.clone()),
            ..Default::default()
        });
        let mut stream = self
            .docker
            .create_image(Some(options.build()), None, credentials);
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let mut last_report = tokio::time::Instant::now();
        loop {
            // A pull may take long, but each progress message must come within the call timeout.
            let item = match tokio::time::timeout(
                self.call_timeout.max(Duration::from_secs(60)),
                stream.next(),
            )
            .await
            {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(_) => {
                    return Err(ExecError::Timeout(format!(
                        "pulling {image} stalled: no progress for a while"
                    )));
                }
            };
            let info = item.map_err(|e| pull_error(image, login.is_some(), e))?;
            if let Some(detail) = info.error_detail.and_then(|d| d.message) {
                return Err(pull_error_message(image, login.is_some(), &detail));
            }
            if let (Some(id), Some(status)) = (info.id, info.status.as_deref()) {
                let entry = layers.entry(id).or_insert((0, 0));
                match (status, info.progress_detail) {
                    ("Downloading", Some(detail)) => {
                        entry.0 = detail.current.unwrap_or(0).max(0) as u64;
                        entry.1 = detail.total.unwrap_or(0).max(0) as u64;
                    }
                    ("Download complete" | "Pull complete" | "Already exists", _) => {
                        entry.0 = entry.1
                    }
                    _ => {}
                }
            }
            if last_report.elapsed() >= Duration::from_millis(250) {
                last_report = tokio::time::Instant::now();
                progress(sum(&layers));
            }
        }
        progress(sum(&layers));
        Ok(())
    }

    /// Makes the task's private network, where services are reachable by name.
    pub async fn create_network(&self, task_id: &str, node: &str) -> Result<String, ExecError> {
        let name = format!("gantry-{task_id}");
        let labels = HashMap::from([
            (LABEL_TASK.to_owned(), task_id.to_owned()),
            (LABEL_NODE.to_owned(), node.to_owned()),
        ]);
        let request = NetworkCreateRequest {
            name: name.clone(),
            labels: Some(labels),
            ..Default::default()
        };
        self.call(
            "create the task's network",
            self.docker.create_network(request),
        )
        .await?;
        Ok(name)
    }

    /// Creates and starts a container that runs beside the task (a service);
    /// returns its address on the task's network, when it has one.
    pub async fn start_detached(&self, plan: &ContainerPlan) -> Result<Option<String>, ExecError> {
        let id = self.create(plan).await?;
        self.call("start a service", self.docker.start_container(&id, None))
            .await?;
        let inspected = self
            .call(
                "inspect a service",
                self.docker.inspect_container(&id, None),
            )
            .await?;
        Ok(plan.network.as_ref().and_then(|network| {
            inspected
                .network_settings?
                .networks?
                .remove(network)?
                .ip_address
                .filter(|address| !address.is_empty())
        }))
    }

    /// Starts a created container and watches it to its end, sending its
    /// output to `sink` and obeying `control`. The caller removes it.
    pub async fn start(
        &self,
        id: &str,
        timeout: Option<Duration>,
        control: &mut Control,
        sink: &LogSink,
    ) -> Result<Watched, ExecError> {
        // Streams only: the engine attaches them before it answers, so with
        // the start after the attach nothing is missed. `logs` would also
        // replay the log file, and output written while that replay runs
        // would come twice (seen with a task that printed one line and
        // exited: its line was logged twice, one run in five).
        let attach = AttachContainerOptionsBuilder::new()
            .stream(true)
            .stdout(true)
            .stderr(true)
            .build();
        let attached = self
            .call(
                "attach to the container",
                self.docker.attach_container(id, Some(attach)),
            )
            .await?;
        let counts = Arc::new(Mutex::new(StreamCounts::default()));
        let reader = tokio::spawn(forward(attached.output, sink.clone(), counts.clone()));
        if let Err(error) = self
            .call("start the container", self.docker.start_container(id, None))
            .await
        {
            reader.abort();
            return Err(error);
        }
        let output = Output::Attached { reader, counts };
        self.follow(id, Deadline::new(timeout), control, sink, output)
            .await
    }

    /// Watches a container started before the agent last stopped, to its end:
    /// output after the first `skip` bytes of each stream (which the spool
    /// holds) goes to `sink`, read back from the engine's log.
    /// `paused_now` says whether it is frozen; it is frozen or thawed to
    /// match what `control` asks.
    pub async fn reattach(
        &self,
        id: &str,
        timeout_left: Option<Duration>,
        paused_now: bool,
        control: &mut Control,
        sink: &LogSink,
        skip: StreamCounts,
    ) -> Result<Watched, ExecError> {
        let wanted = *control.paused.borrow_and_update();
        if wanted != paused_now {
            let done = if wanted {
                self.call("pause the container", self.docker.pause_container(id))
                    .await
            } else {
                self.call("resume the container", self.docker.unpause_container(id))
                    .await
            };
            match done {
                Ok(()) => {
                    let _ = control.frozen.send(wanted);
                }
                Err(error) => tracing::warn!(%error, "pause or resume failed"),
            }
        } else if paused_now {
            let _ = control.frozen.send(true);
        }
        let output = self.reread(id, skip, sink);
        self.follow(id, Deadline::new(timeout_left), control, sink, output)
            .await
    }

    /// Finds the container of a task's role, if it still exists.
    pub async fn find(&self, task_id: &str, role: &str) -> Result<Option<Found>, ExecError> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{LABEL_TASK}={task_id}"),
                format!("{LABEL_ROLE}={role}"),
            ],
        )]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .call(
                "list the task's containers",
                self.docker.list_containers(Some(options)),
            )
            .await?;
        let Some(id) = listed.into_iter().find_map(|c| c.id) else {
            return Ok(None);
        };
        let inspected = self
            .call(
                "inspect the container",
                self.docker.inspect_container(&id, None),
            )
            .await?;
        let state = inspected.state.unwrap_or_default();
        let started = state
            .started_at
            .as_deref()
            .and_then(|t| reread::parse_timestamp(t.as_bytes()));
        Ok(Some(Found {
            id,
            started: !matches!(state.status, Some(ContainerStateStatusEnum::CREATED) | None),
            paused: state.paused.unwrap_or(false),
            started_at_nanos: started,
        }))
    }

    fn reread(&self, id: &str, skip: StreamCounts, sink: &LogSink) -> Output {
        let counts = Arc::new(Mutex::new(skip));
        let poller = tokio::spawn(reread_log(
            self.clone(),
            id.to_owned(),
            skip,
            sink.clone(),
            counts.clone(),
        ));
        Output::Reread { poller, counts }
    }

    /// Watches a started container to its end. When the engine goes away
    /// meanwhile, waits for it to come back and goes on by re-reading the log.
    async fn follow(
        &self,
        id: &str,
        mut deadline: Deadline,
        control: &mut Control,
        sink: &LogSink,
        mut output: Output,
    ) -> Result<Watched, ExecError> {
        let mut stopping: Option<Exit> = None;
        let mut engine_lost = false;
        let waited = loop {
            match self
                .supervise(id, &mut deadline, control, &mut stopping)
                .await
            {
                Supervised::Waited(waited) => break waited,
                Supervised::Detached => {
                    let counts = output.abandon().await;
                    return Ok(Watched {
                        exit: Exit::Detached,
                        output: counts,
                        note: None,
                    });
                }
                Supervised::EngineLost(error) => {
                    tracing::warn!(%error, container = id, "lost the Docker engine; waiting for it to come back");
                    engine_lost = true;
                    let counts = output.abandon().await;
                    if !self.reconnect(id, control).await? {
                        return Ok(Watched {
                            exit: Exit::Detached,
                            output: counts,
                            note: None,
                        });
                    }
                    output = self.reread(id, counts, sink);
                }
            }
        };
        let (counts, proof) = output.finish().await;
        let mut notes: Vec<String> = proof.into_iter().collect();
        if engine_lost {
            notes.push("the Docker engine restarted while the task ran".into());
        }
        let note = |notes: Vec<String>| (!notes.is_empty()).then(|| notes.join("; "));
        if let Some(exit) = stopping {
            return Ok(Watched {
                exit,
                output: counts,
                note: note(notes),
            });
        }
        let code = match waited {
            Some(Ok(response)) => response.status_code,
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(error)) => return Err(classify("wait for the container", error)),
            None => {
                return Err(ExecError::Other(
                    "Docker ended the wait without an exit code".into(),
                ));
            }
        };
        // The engine may be going down as the container ends (it stops
        // containers when it stops): wait for it, to read the end and to
        // remove the container.
        let mut tries = 0;
        let exit = loop {
            match self
                .call(
                    "inspect the container",
                    self.docker.inspect_container(id, None),
                )
                .await
            {
                Ok(inspected) => {
                    break if inspected
                        .state
                        .as_ref()
                        .and_then(|s| s.oom_killed)
                        .unwrap_or(false)
                    {
                        Exit::OutOfMemory
                    } else {
                        Exit::Code(code)
                    };
                }
                Err(ExecError::DockerUnavailable(_) | ExecError::Timeout(_)) if tries < 3 => {
                    tries += 1;
                    if !engine_lost {
                        engine_lost = true;
                        notes.push("the Docker engine restarted while the task ran".into());
                    }
                    if !matches!(self.reconnect(id, control).await, Ok(true)) {
                        break Exit::Code(code);
                    }
                }
                Err(_) => break Exit::Code(code),
            }
        };
        if let Exit::Code(code @ (137 | 143)) = exit
            && !engine_lost
        {
            // SIGKILL or SIGTERM, and not from Gantry: `docker stop`, or the
            // engine stopping its containers as it shuts down.
            tokio::time::sleep(Duration::from_millis(500)).await;
            notes.push(if self.version().await.is_err() {
                // Wait for it, so the container can be removed.
                let _ = self.reconnect(id, control).await;
                "the Docker engine stopped while the task ran".to_owned()
            } else {
                format!(
                    "stopped by signal {} from outside Gantry (docker stop or kill, or the Docker engine shutting down)",
                    code - 128
                )
            });
        }
        Ok(Watched {
            exit,
            output: counts,
            note: note(notes),
        })
    }

    /// Waits for the container to end while obeying `control`.
    async fn supervise(
        &self,
        id: &str,
        deadline: &mut Deadline,
        control: &mut Control,
        stopping: &mut Option<Exit>,
    ) -> Supervised {
        let mut steerable = true;
        let mut wait = self.docker.wait_container(id, None);
        loop {
            tokio::select! {
                waited = wait.next() => {
                    return match waited {
                        Some(Err(error)) if is_connection_error(&error) => {
                            Supervised::EngineLost(classify("wait for the container", error))
                        }
                        other => Supervised::Waited(other),
                    };
                }
                _ = control.detach.cancelled(), if stopping.is_none() => return Supervised::Detached,
                _ = control.cancel.cancelled(), if stopping.is_none() => {
                    *stopping = Some(Exit::Canceled);
                    self.stop(id, control.grace).await;
                }
                _ = sleep_until(deadline.at()), if stopping.is_none() => {
                    *stopping = Some(Exit::TimedOut);
                    self.stop(id, control.grace).await;
                }
                changed = control.paused.changed(), if steerable => {
                    if changed.is_err() {
                        // Nobody can pause this container any more.
                        steerable = false;
                        continue;
                    }
                    let pause = *control.paused.borrow_and_update();
                    let done = if pause {
                        self.call("pause the container", self.docker.pause_container(id)).await
                    } else {
                        self.call("resume the container", self.docker.unpause_container(id)).await
                    };
                    match done {
                        Ok(()) => {
                            if pause { deadline.pause() } else { deadline.resume() }
                            let _ = control.frozen.send(pause);
                        }
                        Err(error) => tracing::warn!(%error, "pause or resume failed"),
                    }
                }
            }
        }
    }

    /// Waits until the engine answers for the container again. `false` if
    /// the agent is leaving first; an error if the engine stays away for
    /// [`ENGINE_PATIENCE`].
    async fn reconnect(&self, id: &str, control: &Control) -> Result<bool, ExecError> {
        let mut backoff = crate::spool::Backoff::default();
        let give_up = tokio::time::Instant::now() + ENGINE_PATIENCE;
        loop {
            match self.docker.inspect_container(id, None).await {
                Ok(_) => {
                    tracing::info!(container = id, "the Docker engine is back");
                    return Ok(true);
                }
                // Gone for good: the wait that follows says so.
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(true),
                Err(_) if tokio::time::Instant::now() >= give_up => {
                    return Err(ExecError::DockerUnavailable(format!(
                        "the Docker engine went away while the task ran and did not come back within {} minutes",
                        ENGINE_PATIENCE.as_secs() / 60
                    )));
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff.wait().min(Duration::from_secs(5))) => {}
                _ = control.detach.cancelled() => return Ok(false),
            }
        }
    }

    /// One read of a container's log with timestamps: `tail` entries from the
    /// end, or all. Each new byte goes to `sink`.
    async fn read_log(
        &self,
        id: &str,
        tail: Option<u64>,
        ledger: &mut Ledger,
        pass: &mut reread::Pass,
        sink: &LogSink,
    ) -> Result<Result<(), TooShort>, ExecError> {
        let tail = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(false)
            .tail(&tail)
            .build();
        let mut stream = self.docker.logs(id, Some(options));
        loop {
            let item = match tokio::time::timeout(self.call_timeout, stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => return Ok(Ok(())),
                Err(_) => {
                    return Err(ExecError::Timeout(
                        "Docker did not answer while reading the container's log".into(),
                    ));
                }
            };
            let (stream_of, message) =
                match item.map_err(|e| classify("read the container's log", e))? {
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (Stream::Stdout, message)
                    }
                    LogOutput::StdErr { message } => (Stream::Stderr, message),
                    LogOutput::StdIn { .. } => continue,
                };
            let Some(entry) = Entry::parse(stream_of, message) else {
                return Err(ExecError::Other(
                    "Docker's log of the container has an entry without a timestamp".into(),
                ));
            };
            match ledger.take(pass, &entry) {
                Ok(bytes) if bytes.is_empty() => {}
                Ok(bytes) => {
                    if sink
                        .send(Chunk {
                            stream: stream_of,
                            bytes,
                        })
                        .await
                        .is_err()
                    {
                        return Ok(Ok(()));
                    }
                }
                Err(short) => return Ok(Err(short)),
            }
        }
    }

    /// Stops a container: SIGTERM, SIGKILL after `grace`. A paused container is thawed first.
    async fn stop(&self, id: &str, grace: Duration) {
        let _ = self.docker.unpause_container(id).await;
        let options = StopContainerOptionsBuilder::new()
            .t(grace.as_secs() as i32)
            .build();
        let stop = self.docker.stop_container(id, Some(options));
        if tokio::time::timeout(grace + self.call_timeout, stop)
            .await
            .is_err()
        {
            tracing::warn!(container = id, "docker stop did not return; killing");
            let _ = self.docker.kill_container(id, None).await;
        }
    }

    /// Every container this agent made (all states), with the resource use
    /// of those running: for the app's Containers screen and Task detail.
    /// Stats of running containers are read at once, each over about a
    /// second (Docker measures CPU between two readings).
    /// With `task`, only that task's containers (and only theirs are asked
    /// for stats).
    pub async fn containers(&self, task: Option<&str>) -> Result<Vec<ContainerUse>, ExecError> {
        let mut labels = vec![match &self.agent {
            Some(agent) => format!("{LABEL_AGENT}={agent}"),
            None => LABEL_TASK.to_owned(),
        }];
        if let Some(task) = task {
            labels.push(format!("{LABEL_TASK}={task}"));
        }
        let filters = HashMap::from([("label", labels)]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let listed = self
            .call(
                "list the node's containers",
                self.docker.list_containers(Some(options)),
            )
            .await?;
        let uses = listed.into_iter().map(|summary| async move {
            let labels = summary.labels.unwrap_or_default();
            let id = summary.id.unwrap_or_default();
            let state = summary.state.map(|s| s.to_string()).unwrap_or_default();
            let mut found = ContainerUse {
                name: summary
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_default(),
                task_id: labels.get(LABEL_TASK).cloned(),
                role: labels.get(LABEL_ROLE).cloned().unwrap_or_default(),
                image: summary.image.unwrap_or_default(),
                status: summary.status.unwrap_or_default(),
                created_s: summary.created.unwrap_or(0),
                cpu_percent: None,
                memory_bytes: None,
                memory_limit_bytes: None,
                state,
                id,
            };
            if found.state == "running" || found.state == "paused" {
                self.read_stats(&mut found).await;
            }
            found
        });
        Ok(futures::future::join_all(uses).await)
    }

    async fn read_stats(&self, found: &mut ContainerUse) {
        let options = StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(false)
            .build();
        let mut stream = self.docker.stats(&found.id, Some(options));
        let Ok(Some(Ok(stats))) = tokio::time::timeout(self.call_timeout, stream.next()).await
        else {
            return;
        };
        if let (Some(now), Some(before)) = (&stats.cpu_stats, &stats.precpu_stats) {
            let used = |c: &bollard::models::ContainerCpuStats| {
                c.cpu_usage
                    .as_ref()
                    .and_then(|u| u.total_usage)
                    .unwrap_or(0)
            };
            let container = used(now).saturating_sub(used(before)) as f64;
            let system =
                now.system_cpu_usage
                    .unwrap_or(0)
                    .saturating_sub(before.system_cpu_usage.unwrap_or(0)) as f64;
            let cpus = now.online_cpus.unwrap_or(1).max(1) as f64;
            if system > 0.0 {
                // As `docker stats` shows it: percent of one core.
                found.cpu_percent = Some(container / system * cpus * 100.0);
            }
        }
        if let Some(memory) = &stats.memory_stats {
            // Like `docker stats`: the page cache that can be dropped is not use.
            let inactive = memory
                .stats
                .as_ref()
                .and_then(|s| s.get("inactive_file").or(s.get("total_inactive_file")))
                .copied()
                .unwrap_or(0);
            found.memory_bytes = memory.usage.map(|u| u.saturating_sub(inactive));
            found.memory_limit_bytes = memory.limit;
        }
    }

    /// The host's process ids of a running container's processes.
    pub async fn host_pids(&self, id: &str) -> Vec<u32> {
        let Ok(Ok(top)) =
            tokio::time::timeout(self.call_timeout, self.docker.top_processes(id, None)).await
        else {
            return Vec::new();
        };
        let Some(column) = top
            .titles
            .unwrap_or_default()
            .iter()
            .position(|t| t == "PID")
        else {
            return Vec::new();
        };
        top.processes
            .unwrap_or_default()
            .iter()
            .filter_map(|row| row.get(column)?.parse().ok())
            .collect()
    }

    /// Removes a container and its anonymous volumes; a missing one is fine.
    pub async fn remove(&self, id: &str) {
        let options = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        if let Err(error) = self
            .call(
                "remove the container",
                self.docker.remove_container(id, Some(options)),
            )
            .await
        {
            tracing::warn!(container = id, %error, "could not remove a container");
        }
    }

    /// Removes this agent's containers whose task is not in `held`: left
    /// behind by a crash at the wrong moment, or by an engine that went away
    /// as a task ended. Returns how many went.
    pub async fn sweep(&self, held: &std::collections::BTreeSet<String>) -> usize {
        let Some(agent) = &self.agent else { return 0 };
        let filters = HashMap::from([("label", vec![format!("{LABEL_AGENT}={agent}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let Ok(containers) = self
            .call(
                "list the node's containers",
                self.docker.list_containers(Some(options)),
            )
            .await
        else {
            return 0;
        };
        let mut removed = 0;
        for container in containers {
            let task = container
                .labels
                .as_ref()
                .and_then(|labels| labels.get(LABEL_TASK));
            // `gantry run` tasks (`local-…`) belong to another process.
            if let (Some(task), Some(id)) = (task, &container.id)
                && !held.contains(task)
                && !task.starts_with("local-")
            {
                tracing::info!(task, container = %id, "removing a container no held task owns");
                self.remove_task(task).await;
                removed += 1;
            }
        }
        removed
    }

    /// Removes every container and the network of a task.
    pub async fn remove_task(&self, task_id: &str) {
        let filters = HashMap::from([("label", vec![format!("{LABEL_TASK}={task_id}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        if let Ok(containers) = self
            .call(
                "list the task's containers",
                self.docker.list_containers(Some(options)),
            )
            .await
        {
            for container in containers {
                if let Some(id) = container.id {
                    self.remove(&id).await;
                }
            }
        }
        let _ = self
            .docker
            .remove_network(&format!("gantry-{task_id}"))
            .await;
    }

    /// Creates a task's container, labelled with the task, node and role.
    pub async fn create(&self, plan: &ContainerPlan) -> Result<String, ExecError> {
        let mut mounts = vec![Mount {
            target: Some(TASK_MOUNT.to_owned()),
            source: Some(plan.command.work_dir.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(false),
            ..Default::default()
        }];
        for (blob, path) in &plan.inputs {
            mounts.push(Mount {
                target: Some(format!("{TASK_MOUNT}/{}", path.trim_start_matches("./"))),
                source: Some(blob.display().to_string()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            });
        }
        let mut labels = HashMap::from([
            (LABEL_TASK.to_owned(), plan.task_id.clone()),
            (LABEL_NODE.to_owned(), plan.node.clone()),
            (LABEL_ROLE.to_owned(), plan.role.to_owned()),
        ]);
        if let Some(agent) = &self.agent {
            labels.insert(LABEL_AGENT.to_owned(), agent.clone());
        }
        let host_config = HostConfig {
            mounts: Some(mounts),
            init: Some(true),
            privileged: Some(false),
            security_opt: Some(vec!["no-new-privileges".to_owned()]),
            // The engine keeps a bounded copy of the output; Gantry's own copy is the spool.
            log_config: Some(HostConfigLogConfig {
                typ: Some("local".to_owned()),
                config: Some(HashMap::from([
                    // Enough to re-read a long outage of the agent's output.
                    ("max-size".to_owned(), "100m".to_owned()),
                    ("max-file".to_owned(), "10".to_owned()),
                ])),
            }),
            device_requests: gpu_request(plan.resources.gpus.as_ref()),
            nano_cpus: plan.resources.cpus.map(|cpus| (cpus * 1e9) as i64),
            memory: plan.resources.memory.map(|m| m.0 as i64),
            shm_size: plan.resources.shm.map(|s| s.0 as i64),
            network_mode: plan.network.clone(),
            extra_hosts: (!plan.extra_hosts.is_empty()).then(|| plan.extra_hosts.clone()),
            ..Default::default()
        };
        let networking_config = plan
            .network
            .as_ref()
            .filter(|_| !plan.aliases.is_empty())
            .map(|network| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.clone(),
                    EndpointSettings {
                        aliases: Some(plan.aliases.clone()),
                        ..Default::default()
                    },
                )])),
            });
        let body = ContainerCreateBody {
            image: Some(plan.image.clone()),
            cmd: (!plan.command.argv.is_empty()).then(|| plan.command.argv.clone()),
            env: Some(
                plan.command
                    .env
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            working_dir: Some(TASK_MOUNT.to_owned()),
            labels: Some(labels),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(false),
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new()
            .name(&plan.name)
            .build();
        let created = self
            .call("create the container", self.docker.create_container(Some(options), body))
            .await
            .map_err(|e| match e {
                ExecError::Other(message) if message.contains("No such image") => ExecError::ImageNotFound(format!(
                    "image {} is not on this machine and was not pulled; check its name or set pull: always",
                    plan.image
                )),
                other => other,
            })?;
        Ok(created.id)
    }
}

/// How a container's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// How it ended; [`Exit::Detached`] if the agent left it running.
    pub exit: Exit,
    /// Each stream's bytes of its output passed on so far (including any skipped).
    pub output: StreamCounts,
    /// Something worth telling: the engine restarted, or the log could not be proved whole.
    pub note: Option<String>,
}

/// How long a task waits for a lost engine before it fails.
const ENGINE_PATIENCE: Duration = Duration::from_secs(10 * 60);

/// A task's container found on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The container's id.
    pub id: String,
    /// Whether it was ever started (a created-only container ran nothing).
    pub started: bool,
    /// Whether it is frozen now.
    pub paused: bool,
    /// When it started, in nanoseconds since the epoch.
    pub started_at_nanos: Option<i128>,
}

enum Supervised {
    Waited(Option<Result<bollard::models::ContainerWaitResponse, DockerError>>),
    Detached,
    EngineLost(ExecError),
}

/// Where a watched container's output comes from.
enum Output {
    /// The attach stream, from before the start: complete by construction.
    Attached {
        reader: tokio::task::JoinHandle<()>,
        counts: Arc<Mutex<StreamCounts>>,
    },
    /// The engine's log, re-read.
    Reread {
        poller: tokio::task::JoinHandle<Result<Option<String>, ExecError>>,
        counts: Arc<Mutex<StreamCounts>>,
    },
}

impl Output {
    /// Waits for the output to end after the container did; returns each
    /// stream's bytes and a note if the log could not be proved whole.
    async fn finish(self) -> (StreamCounts, Option<String>) {
        match self {
            Output::Attached { reader, counts } => {
                // The attach stream ends when the container's output is closed.
                let _ = tokio::time::timeout(Duration::from_secs(30), reader).await;
                let counts = *counts.lock().expect("counts poisoned");
                (counts, None)
            }
            Output::Reread { poller, counts } => {
                let note = match poller.await {
                    Ok(Ok(note)) => note,
                    Ok(Err(error)) => {
                        Some(format!("the rest of the log could not be read: {error}"))
                    }
                    Err(_) => Some("the rest of the log could not be read".into()),
                };
                let counts = *counts.lock().expect("counts poisoned");
                (counts, note)
            }
        }
    }

    /// Stops reading; returns each stream's bytes passed on so far. Nothing
    /// is lost by stopping at once: a byte is counted only once the sink
    /// has it, and the rest is re-read from the engine's log later.
    async fn abandon(self) -> StreamCounts {
        let counts = match self {
            Output::Attached { reader, counts } => {
                reader.abort();
                let _ = reader.await;
                counts
            }
            Output::Reread { poller, counts } => {
                poller.abort();
                let _ = poller.await;
                counts
            }
        };
        *counts.lock().expect("counts poisoned")
    }
}

/// Passes the attach stream's output to the sink, counting each stream's bytes.
async fn forward(
    mut output: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<LogOutput, DockerError>> + Send>,
    >,
    sink: LogSink,
    counts: Arc<Mutex<StreamCounts>>,
) {
    while let Some(item) = output.next().await {
        let chunk = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => Chunk {
                stream: Stream::Stdout,
                bytes: message,
            },
            Ok(LogOutput::StdErr { message }) => Chunk {
                stream: Stream::Stderr,
                bytes: message,
            },
            Ok(LogOutput::StdIn { .. }) => continue,
            Err(error) => {
                tracing::warn!(%error, "the container's output stream broke");
                return;
            }
        };
        let (stream, length) = (chunk.stream, chunk.bytes.len() as u64);
        if sink.send(chunk).await.is_err() {
            return;
        }
        // Counted once the sink has it: a count never covers a byte the spool will not get.
        counts.lock().expect("counts poisoned").add(stream, length);
    }
}

/// Re-reads a container's log until it has exited and its output is all
/// taken; returns a note if the final whole read could not prove it.
async fn reread_log(
    engine: Engine,
    id: String,
    skip: StreamCounts,
    sink: LogSink,
    counts: Arc<Mutex<StreamCounts>>,
) -> Result<Option<String>, ExecError> {
    const SMALLEST_WINDOW: u64 = 1_000;
    const LARGEST_WINDOW: u64 = 256_000;
    let mut ledger = Ledger::new(skip);
    let mut whole = true;
    let mut window = SMALLEST_WINDOW;
    loop {
        // Whether it had exited is read before the log, so a read after an
        // exit holds every byte.
        let inspected = engine
            .call(
                "inspect the container",
                engine.docker.inspect_container(&id, None),
            )
            .await?;
        let exited = !inspected
            .state
            .as_ref()
            .is_some_and(|s| s.running.unwrap_or(false) || s.paused.unwrap_or(false));
        if exited {
            let mut pass = ledger.whole();
            let _ = engine
                .read_log(&id, None, &mut ledger, &mut pass, &sink)
                .await?;
            *counts.lock().expect("counts poisoned") = ledger.taken();
            return Ok(ledger.prove(&pass));
        }
        let new_entries = loop {
            let (tail, mut pass) = if whole {
                (None, ledger.whole())
            } else {
                (Some(window), ledger.tail())
            };
            let read = engine
                .read_log(&id, tail, &mut ledger, &mut pass, &sink)
                .await?;
            *counts.lock().expect("counts poisoned") = ledger.taken();
            match read {
                Ok(()) => {
                    whole = false;
                    break pass.new_entries;
                }
                Err(TooShort) => {
                    window *= 4;
                    whole = window > LARGEST_WINDOW;
                }
            }
        };
        window = (new_entries * 4).clamp(SMALLEST_WINDOW, LARGEST_WINDOW);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn is_connection_error(error: &DockerError) -> bool {
    matches!(
        error,
        DockerError::HyperResponseError { .. }
            | DockerError::IOError { .. }
            | DockerError::SocketNotFoundError(_)
            | DockerError::RequestTimeoutError
    )
}

fn gpu_request(gpus: Option<&Gpus>) -> Option<Vec<DeviceRequest>> {
    let request = |count: Option<i64>, ids: Option<Vec<String>>| DeviceRequest {
        driver: Some("nvidia".to_owned()),
        count,
        device_ids: ids,
        capabilities: Some(vec![vec!["gpu".to_owned()]]),
        ..Default::default()
    };
    Some(vec![match gpus? {
        Gpus::All => request(Some(-1), None),
        Gpus::Count(n) => request(Some(i64::from(*n)), None),
        Gpus::Indices(list) => request(None, Some(list.iter().map(u32::to_string).collect())),
    }])
}

fn sum(layers: &HashMap<String, (u64, u64)>) -> PullProgress {
    let (done, total) = layers
        .values()
        .fold((0, 0), |(d, t), (ld, lt)| (d + ld, t + lt));
    PullProgress { done, total }
}

/// Splits `registry:5000/name:tag` into name and tag; a digest reference has no tag.
/// Without a tag Docker would pull every tag, so `latest` is meant.
fn split_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => (
            &image[..last_slash + colon],
            Some(&image[last_slash + colon + 1..]),
        ),
        None => (image, Some("latest")),
    }
}

/// The registry an image comes from: its first path part when that names a
/// host (has a '.' or ':' or is localhost), else Docker Hub.
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_owned()
        }
        _ => "docker.io".to_owned(),
    }
}

fn unavailable(host: &str, error: &dyn std::fmt::Display) -> ExecError {
    ExecError::DockerUnavailable(format!(
        "Docker is not reachable at {host} ({error}); start Docker (e.g. sudo systemctl start docker), \
         check your user may use it (the docker group), or set DOCKER_HOST"
    ))
}

fn classify(what: &str, error: DockerError) -> ExecError {
    let text = error.to_string();
    let lower = text.to_ascii_lowercase();
    if lower.contains("could not select device driver") || lower.contains("nvidia-container-cli") {
        ExecError::NoGpu(
            "this task asks for GPUs, but Docker has no NVIDIA runtime: install the NVIDIA driver and the \
             NVIDIA Container Toolkit, then restart Docker"
                .into(),
        )
    } else if lower.contains("no space left on device") {
        ExecError::DiskFull(format!(
            "the disk is full ({what}): free space for Docker and the host dir"
        ))
    } else if matches!(error, DockerError::RequestTimeoutError) {
        ExecError::Timeout(format!("Docker did not answer in time ({what})"))
    } else if matches!(
        error,
        DockerError::HyperResponseError { .. }
            | DockerError::IOError { .. }
            | DockerError::SocketNotFoundError(_)
    ) {
        ExecError::DockerUnavailable(format!(
            "lost the connection to Docker ({what}): {text}; is it still running?"
        ))
    } else {
        ExecError::Other(format!("Docker refused to {what}: {text}"))
    }
}

fn pull_error(image: &str, logged_in: bool, error: DockerError) -> ExecError {
    match error {
        DockerError::DockerResponseServerError { message, .. }
        | DockerError::DockerStreamError { error: message } => {
            pull_error_message(image, logged_in, &message)
        }
        other => classify(&format!("pull {image}"), other),
    }
}

fn pull_error_message(image: &str, logged_in: bool, message: &str) -> ExecError {
    let lower = message.to_ascii_lowercase();
    let registry = registry_of(image);
    if lower.contains("unauthorized")
        || lower.contains("authentication required")
        || has_status_code(&lower, "401")
    {
        if logged_in {
            ExecError::RegistryAuth(format!(
                "the registry {registry} refused the login for {image}: check DOCKER_LOGIN and DOCKER_PASSWORD ({message})"
            ))
        } else {
            ExecError::RegistryAuth(format!(
                "the registry {registry} wants a login for {image}: set DOCKER_REGISTRY, DOCKER_LOGIN and DOCKER_PASSWORD ({message})"
            ))
        }
    } else if lower.contains("not found")
        || lower.contains("manifest unknown")
        || lower.contains("does not exist")
        || lower.contains("pull access denied")
    {
        ExecError::ImageNotFound(format!(
            "image {image} was not found: check its name and tag ({message})"
        ))
    } else if lower.contains("no space left on device") {
        ExecError::DiskFull(format!(
            "the disk is full while pulling {image}: free space for Docker"
        ))
    } else {
        ExecError::Other(format!("pulling {image} failed: {message}"))
    }
}

/// Whether `message` holds the HTTP status `code` as a number of its own:
/// not inside a longer number, and not a port (`127.0.0.1:40187` holds
/// "401" too, which once made a missing image read as a refused login).
fn has_status_code(message: &str, code: &str) -> bool {
    message.match_indices(code).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit() || c == ':' || c == '.')
            && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_or_a_longer_number_is_not_a_401() {
        let missing = "manifest for 127.0.0.1:40187/gantry-test/nope:1 not found: manifest unknown";
        assert!(matches!(
            pull_error_message("127.0.0.1:40187/gantry-test/nope:1", true, missing),
            ExecError::ImageNotFound(_)
        ));
        assert!(!has_status_code("pulling from 10.0.0.1:401/x", "401"));
        assert!(!has_status_code("layer 14012 of 20", "401"));
        assert!(has_status_code(
            "unexpected status 401 from registry",
            "401"
        ));
        assert!(has_status_code("http status: 401", "401"));
        assert!(matches!(
            pull_error_message(
                "r.example:4010/x:1",
                true,
                "received 401 from r.example:4010"
            ),
            ExecError::RegistryAuth(_)
        ));
    }

    #[test]
    fn references() {
        assert_eq!(split_reference("busybox"), ("busybox", Some("latest")));
        assert_eq!(split_reference("busybox:1.36"), ("busybox", Some("1.36")));
        assert_eq!(
            split_reference("localhost:5000/x/y:2"),
            ("localhost:5000/x/y", Some("2"))
        );
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x", Some("latest"))
        );
        assert_eq!(split_reference("x@sha256:abc"), ("x@sha256:abc", None));
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
        assert_eq!(registry_of("ghcr.io/a/b:1"), "ghcr.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("busybox"), "docker.io");
    }

    #[test]
    fn gpu_requests() {
        assert!(gpu_request(None).is_none());
        let all = gpu_request(Some(&Gpus::All)).unwrap();
        assert_eq!(all[0].count, Some(-1));
        let some = gpu_request(Some(&Gpus::Indices(vec![0, 2]))).unwrap();
        assert_eq!(
            some[0].device_ids.as_deref(),
            Some(&["0".to_owned(), "2".to_owned()][..])
        );
    }

    #[test]
    fn passwords_never_print() {
        let login = RegistryLogin {
            registry: "r".into(),
            login: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
    }
}
