//! The agent's settings: flag > environment > config file > default.
//!
//! Every option has one name in each layer (`--max-tasks`, `GANTRY_MAX_TASKS`,
//! `max_tasks`). The Supervisely agent's variables are read as aliases
//! (SERVER_ADDRESS, ACCESS_TOKEN, AGENT_HOST_DIR, …) with its defaults, so a
//! person moving from it keeps their setup.
//!
//! The token is never read from the config file: a file that must stay
//! secret is named with `token_file` and must be readable only by its owner.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::docker::RegistryLogin;
use crate::timeouts::Timeouts;
use gantry_client::Token;

mod disk;
mod images;
mod metrics;
mod yielding;

pub use disk::DiskFlags;
pub use images::ImageFlags;
pub use yielding::YieldFlags;

/// What the command line gave; `None` where a flag was absent.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--server`.
    pub server: Option<String>,
    /// `--token`.
    pub token: Option<Token>,
    /// `--token-file`: a file holding the token, readable only by its owner.
    pub token_file: Option<PathBuf>,
    /// `--host-dir`.
    pub host_dir: Option<PathBuf>,
    /// `--name`.
    pub name: Option<String>,
    /// `--label`, repeatable.
    pub labels: Vec<String>,
    /// `--max-tasks`.
    pub max_tasks: Option<usize>,
    /// `--config`.
    pub config_file: Option<PathBuf>,
    /// `--statsd-host`.
    pub statsd_host: Option<String>,
    /// `--statsd-port`.
    pub statsd_port: Option<u16>,
    /// `--statsd-namespace`.
    pub statsd_namespace: Option<String>,
    /// `--stop-tasks-on-exit`.
    pub stop_tasks_on_exit: bool,
    /// `--ca-file`: a CA certificate (PEM) trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `--allow-insecure-http`: send the token over plain http beyond this machine.
    pub allow_insecure_http: bool,
    /// `--only-labeled`.
    pub only_labeled: bool,
    /// `--timeouts-file`: the timeouts `DEFAULT_TIMEOUTS=false` loads.
    pub timeouts_file: Option<PathBuf>,
    /// `--no-hostname-label`: do not add the machine's host name as a label.
    pub no_hostname_label: bool,
    /// The yield rules and `--reserve-gpu`.
    pub yielding: YieldFlags,
    /// `--show-task-logs`: copy each task's output lines to the agent's stdout.
    pub show_task_logs: bool,
    /// `--metrics-listen ADDR`: serve Prometheus metrics there.
    pub metrics_listen: Option<String>,
    /// The image policy and the hardening of task containers.
    pub images: ImageFlags,
    /// The disk budget's numbers ([`DiskFlags`]).
    pub disk: DiskFlags,
}

/// The agent's resolved settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The hub's address (GANTRY_SERVER, SERVER_ADDRESS).
    pub server: Option<String>,
    /// The node token (--token-file / GANTRY_TOKEN_FILE, GANTRY_TOKEN, ACCESS_TOKEN, or
    /// token_file in the config file).
    pub token: Option<Token>,
    /// Where the agent keeps everything (GANTRY_HOST_DIR, AGENT_HOST_DIR).
    pub host_dir: PathBuf,
    /// A name to show for this agent; the hub knows the node by its token.
    pub name: String,
    /// Labels added to those the hub gave the node.
    pub labels: Vec<String>,
    /// How many tasks run at once.
    pub max_tasks: usize,
    /// Logins for private registries (DOCKER_REGISTRY, DOCKER_LOGIN, DOCKER_PASSWORD).
    pub registries: Vec<RegistryLogin>,
    /// Keep outputs in local storage rather than uploading them (WITH_LOCAL_STORAGE).
    pub with_local_storage: bool,
    /// Pull images before every task unless the job says otherwise (PULL_ALWAYS).
    pub pull_always: bool,
    /// Use the built-in timeouts (DEFAULT_TIMEOUTS); false: the timeouts
    /// file's ([`crate::timeouts`]) replace them.
    pub default_timeouts: bool,
    /// The timeout of a task whose job sets none (`task` in the timeouts file).
    pub task_timeout: Option<Duration>,
    /// How long each epilogue command may run (`epilogue` in the timeouts file).
    pub epilogue_timeout: Duration,
    /// Remove a task's working folder when it succeeds (DELETE_TASK_DIR_ON_FINISH).
    pub delete_task_dir_on_finish: bool,
    /// Remove it when it fails (DELETE_TASK_DIR_ON_FAILURE).
    pub delete_task_dir_on_failure: bool,
    /// How long one Docker API call may take (DOCKER_API_CALL_TIMEOUT).
    pub docker_api_call_timeout: Duration,
    /// Where the Docker engine is (DOCKER_HOST).
    pub docker_host: Option<String>,
    /// How long a stopped task gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// StatsD: host, port, namespace.
    pub statsd: Option<(String, u16, String)>,
    /// Cancel running tasks when the agent stops, instead of leaving them.
    pub stop_tasks_on_exit: bool,
    /// A CA certificate file (PEM) trusted besides the system's roots
    /// (GANTRY_CA_FILE, `ca_file`).
    pub ca_file: Option<PathBuf>,
    /// Send the token over plain http to a host that is not this machine
    /// (GANTRY_ALLOW_INSECURE_HTTP, `allow_insecure_http`); refused otherwise.
    pub allow_insecure_http: bool,
    /// Take only tasks that carry at least one of the node's labels
    /// (--only-labeled, GANTRY_ONLY_LABELED, only_labeled).
    pub only_labeled: bool,
    /// When to step aside for the computer's person, and how.
    pub yielding: crate::yielding::YieldSettings,
    /// GPUs the person keeps for themselves (`--reserve-gpu INDEX`,
    /// GANTRY_RESERVE_GPU, `reserve_gpu`): never given to a task.
    pub reserve_gpus: Vec<u32>,
    /// Copy each task's output lines, prefixed by the task, to this process's
    /// stdout (--show-task-logs, GANTRY_SHOW_TASK_LOGS, `show_task_logs`;
    /// [`crate::log_copy`]).
    pub show_task_logs: bool,
    /// How much of the disk Gantry may use (`--disk-max-gb`,
    /// `--disk-max-percent`, `--disk-min-free-gb`; [`crate::disk`]).
    pub disk: crate::disk::DiskBudget,
    /// Where the agent serves its Prometheus metrics (`--metrics-listen`,
    /// GANTRY_METRICS_LISTEN, `metrics_listen`; [`crate::metrics`]); `None`: nowhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// The images this node runs (`--allowed-images`, `--pinned-images-only`;
    /// [`gantry_protocol::image_policy`]).
    pub image_policy: gantry_protocol::image_policy::ImagePolicy,
    /// How task containers are hardened (`--task-pids-limit`,
    /// `--read-only-root`, `--task-network`; [`crate::docker::hardening`]).
    pub hardening: crate::docker::hardening::Hardening,
    /// Kept results the hub has not got may be evicted too
    /// (`--disk-evict-unsynced-results`, GANTRY_DISK_EVICT_UNSYNCED_RESULTS,
    /// `disk_evict_unsynced_results`; off by default).
    pub disk_evict_unsynced_results: bool,
}

/// The config file's keys (TOML).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    token_file: Option<PathBuf>,
    host_dir: Option<PathBuf>,
    name: Option<String>,
    labels: Option<Vec<String>>,
    max_tasks: Option<usize>,
    docker_registry: Option<String>,
    docker_login: Option<String>,
    with_local_storage: Option<bool>,
    pull_always: Option<bool>,
    default_timeouts: Option<bool>,
    delete_task_dir_on_finish: Option<bool>,
    delete_task_dir_on_failure: Option<bool>,
    docker_api_call_timeout: Option<u64>,
    docker_host: Option<String>,
    stop_grace: Option<u64>,
    statsd_host: Option<String>,
    statsd_port: Option<u16>,
    statsd_namespace: Option<String>,
    ca_file: Option<PathBuf>,
    allow_insecure_http: Option<bool>,
    only_labeled: Option<bool>,
    timeouts_file: Option<PathBuf>,
    hostname_label: Option<bool>,
    // The yield rules ([`yielding`]).
    quiet_hours: Option<Vec<String>>,
    yield_when_active: Option<u64>,
    yield_on_battery: Option<bool>,
    exclusive_app: Option<Vec<String>>,
    yield_above_temp: Option<u64>,
    ignore_gpu_programs: Option<bool>,
    yield_action: Option<String>,
    yield_grace: Option<u64>,
    settle: Option<u64>,
    reserve_gpu: Option<Vec<u32>>,
    show_task_logs: Option<bool>,
    metrics_listen: Option<String>,
    // The image policy and hardening ([`images`]).
    allowed_images: Option<Vec<String>>,
    pinned_images_only: Option<bool>,
    task_pids_limit: Option<u64>,
    read_only_root: Option<bool>,
    task_network: Option<String>,
    task_network_allow: Option<Vec<String>>,
    // The disk budget ([`disk`]).
    disk_max_gb: Option<f64>,
    disk_max_percent: Option<f64>,
    disk_min_free_gb: Option<f64>,
    disk_evict_unsynced_results: Option<bool>,
    /// Refused with a pointer to `token_file`; present so the error can say so.
    token: Option<toml::Value>,
    /// Refused likewise.
    docker_password: Option<toml::Value>,
}

/// A setting that cannot be used, with what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The default config file: `$XDG_CONFIG_HOME/gantry/agent.toml` or `~/.config/gantry/agent.toml`.
pub fn default_config_file() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|dir| dir.join("gantry").join("agent.toml"))
}

/// The default host dir: `$XDG_DATA_HOME/gantry/agent` or `~/.local/share/gantry/agent`.
pub fn default_host_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("gantry")
        .join("agent")
}

/// The layers below the flags: the environment and the config file, read
/// once, with the rules every setting follows (environment beats file).
struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    file: FileConfig,
}

impl Layers<'_> {
    /// Reads the config file named by `flag` or GANTRY_CONFIG, else
    /// `default_file` when it exists. A named file that is missing is an error.
    fn read<'a>(
        flag: Option<PathBuf>,
        env: &'a dyn Fn(&str) -> Option<String>,
        default_file: Option<PathBuf>,
    ) -> Result<Layers<'a>, ConfigError> {
        let mut layers = Layers {
            env,
            file: FileConfig::default(),
        };
        let named = flag.or_else(|| {
            layers
                .var(&["GANTRY_CONFIG"])
                .map(|(_, v)| PathBuf::from(v))
        });
        let explicit = named.is_some();
        layers.file = match named.or(default_file) {
            Some(path) if path.is_file() => read_file(&path)?,
            Some(path) if explicit => {
                return Err(ConfigError(format!(
                    "the config file {} does not exist",
                    path.display()
                )));
            }
            _ => FileConfig::default(),
        };
        Ok(layers)
    }

    /// The first of `names` set (and not empty) in the environment.
    fn var(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|name| {
            (self.env)(name)
                .filter(|v| !v.is_empty())
                .map(|v| (*name, v))
        })
    }

    /// A plain text setting: environment, else the file's value.
    fn text(&self, names: &[&'static str], file: Option<String>) -> Option<String> {
        self.var(names).map(|(_, v)| v).or(file)
    }

    fn boolean(
        &self,
        names: &[&'static str],
        file: Option<bool>,
        default: bool,
    ) -> Result<bool, ConfigError> {
        match self.var(names) {
            Some((name, value)) => parse_bool(name, &value),
            None => Ok(file.unwrap_or(default)),
        }
    }

    fn number(
        &self,
        names: &[&'static str],
        file: Option<u64>,
        default: u64,
    ) -> Result<u64, ConfigError> {
        match self.var(names) {
            Some((name, value)) => value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{name}={value} is not a whole number; write e.g. {name}={default}"
                ))
            }),
            None => Ok(file.unwrap_or(default)),
        }
    }

    fn host_dir(&self, flag: Option<PathBuf>) -> PathBuf {
        flag.or_else(|| {
            self.var(&["GANTRY_HOST_DIR", "AGENT_HOST_DIR"])
                .map(|(_, v)| PathBuf::from(v))
        })
        .or_else(|| self.file.host_dir.clone())
        .unwrap_or_else(default_host_dir)
    }

    fn token(
        &self,
        flag: Option<Token>,
        file_flag: Option<PathBuf>,
    ) -> Result<Option<Token>, ConfigError> {
        let token_file = file_flag.or_else(|| {
            self.var(&["GANTRY_TOKEN_FILE"])
                .map(|(_, v)| PathBuf::from(v))
        });
        Ok(match (flag, token_file) {
            (Some(token), _) => Some(token),
            (None, Some(path)) => Some(read_token_file(&path)?),
            (None, None) => match self.var(&["GANTRY_TOKEN", "ACCESS_TOKEN"]) {
                Some((_, token)) => Some(Token::new(token)),
                None => match &self.file.token_file {
                    Some(path) => Some(read_token_file(path)?),
                    None => None,
                },
            },
        })
    }

    fn labels(&self, flags: Vec<String>) -> Result<Vec<String>, ConfigError> {
        let labels = if !flags.is_empty() {
            flags
        } else {
            match self.var(&["GANTRY_LABELS"]) {
                Some((_, v)) => v
                    .split(',')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => self.file.labels.clone().unwrap_or_default(),
            }
        };
        for label in &labels {
            if let Some(problem) = gantry_protocol::job::label_problem(label) {
                return Err(ConfigError(format!("label {label}: {problem}")));
            }
        }
        Ok(labels)
    }

    fn max_tasks(&self, flag: Option<usize>) -> Result<usize, ConfigError> {
        let max_tasks = match flag {
            Some(n) => n as u64,
            None => self.number(
                &["GANTRY_MAX_TASKS"],
                self.file.max_tasks.map(|n| n as u64),
                1,
            )?,
        };
        if max_tasks == 0 {
            return Err(ConfigError(
                "max tasks must be at least 1; to stop taking tasks, drain the agent".into(),
            ));
        }
        Ok(max_tasks as usize)
    }

    fn registries(&self) -> Result<Vec<RegistryLogin>, ConfigError> {
        registry_logins(
            self.text(
                &["GANTRY_DOCKER_REGISTRY", "DOCKER_REGISTRY"],
                self.file.docker_registry.clone(),
            ),
            self.text(
                &["GANTRY_DOCKER_LOGIN", "DOCKER_LOGIN"],
                self.file.docker_login.clone(),
            ),
            self.var(&["GANTRY_DOCKER_PASSWORD", "DOCKER_PASSWORD"])
                .map(|(_, v)| v),
        )
    }

    fn statsd(
        &self,
        host: Option<String>,
        port: Option<u16>,
        namespace: Option<String>,
    ) -> Result<Option<(String, u16, String)>, ConfigError> {
        let host =
            host.or_else(|| self.text(&["GANTRY_STATSD_HOST"], self.file.statsd_host.clone()));
        let port = match (port, self.var(&["GANTRY_STATSD_PORT"])) {
            (Some(port), _) => Some(u64::from(port)),
            (None, Some((name, v))) => Some(
                v.parse()
                    .map_err(|_| ConfigError(format!("{name}={v} is not a port")))?,
            ),
            (None, None) => self.file.statsd_port.map(u64::from),
        };
        match (host, port) {
            (Some(host), port) => Ok(Some((
                host,
                u16::try_from(port.unwrap_or(8125))
                    .map_err(|_| ConfigError("the StatsD port must be below 65536".into()))?,
                namespace
                    .or_else(|| {
                        self.text(
                            &["GANTRY_STATSD_NAMESPACE"],
                            self.file.statsd_namespace.clone(),
                        )
                    })
                    .unwrap_or_default(),
            ))),
            (None, Some(_)) => Err(ConfigError(
                "a StatsD port was given without --statsd-host".into(),
            )),
            (None, None) => Ok(None),
        }
    }

    /// The timeouts file's values when DEFAULT_TIMEOUTS is false (from
    /// `--timeouts-file`, GANTRY_TIMEOUTS_FILE or `timeouts_file`); none when
    /// it is true. A file named while DEFAULT_TIMEOUTS is true, or none named
    /// while it is false, is an error that says what to set.
    fn timeouts(&self, flag: Option<PathBuf>, defaults: bool) -> Result<Timeouts, ConfigError> {
        let path = flag
            .or_else(|| {
                self.var(&["GANTRY_TIMEOUTS_FILE"])
                    .map(|(_, v)| PathBuf::from(v))
            })
            .or_else(|| self.file.timeouts_file.clone());
        match (defaults, path) {
            (true, None) => Ok(Timeouts::default()),
            (true, Some(path)) => Err(ConfigError(format!(
                "the timeouts file {} is named but DEFAULT_TIMEOUTS is true, so it would be ignored; \
                 set DEFAULT_TIMEOUTS=false to load it, or stop naming it",
                path.display()
            ))),
            (false, None) => Err(ConfigError(
                "DEFAULT_TIMEOUTS=false loads the timeouts from a file, and none is named; \
                 give --timeouts-file FILE (or GANTRY_TIMEOUTS_FILE, or timeouts_file in agent.toml), \
                 a JSON file such as {\"task\": \"2h\", \"docker_api_call\": 120}"
                    .into(),
            )),
            (false, Some(path)) => Timeouts::read(&path),
        }
    }

    /// The switches the Supervisely agent's variables also set.
    fn switches(&self) -> Result<Switches, ConfigError> {
        let file = &self.file;
        Ok(Switches {
            with_local_storage: self.boolean(
                &["GANTRY_WITH_LOCAL_STORAGE", "WITH_LOCAL_STORAGE"],
                file.with_local_storage,
                true,
            )?,
            pull_always: self.boolean(
                &["GANTRY_PULL_ALWAYS", "PULL_ALWAYS"],
                file.pull_always,
                true,
            )?,
            default_timeouts: self.boolean(
                &["GANTRY_DEFAULT_TIMEOUTS", "DEFAULT_TIMEOUTS"],
                file.default_timeouts,
                true,
            )?,
            delete_task_dir_on_finish: self.boolean(
                &[
                    "GANTRY_DELETE_TASK_DIR_ON_FINISH",
                    "DELETE_TASK_DIR_ON_FINISH",
                ],
                file.delete_task_dir_on_finish,
                true,
            )?,
            delete_task_dir_on_failure: self.boolean(
                &[
                    "GANTRY_DELETE_TASK_DIR_ON_FAILURE",
                    "DELETE_TASK_DIR_ON_FAILURE",
                ],
                file.delete_task_dir_on_failure,
                false,
            )?,
        })
    }
}

/// The on/off settings, resolved.
struct Switches {
    with_local_storage: bool,
    pull_always: bool,
    default_timeouts: bool,
    delete_task_dir_on_finish: bool,
    delete_task_dir_on_failure: bool,
}

impl AgentConfig {
    /// Resolves the settings from the layers. `env` reads a variable (the
    /// process environment in real use, a map in tests); `default_file` is
    /// read when no config file is named and it exists.
    pub fn resolve(
        flags: Flags,
        env: &dyn Fn(&str) -> Option<String>,
        default_file: Option<PathBuf>,
    ) -> Result<AgentConfig, ConfigError> {
        let layers = Layers::read(flags.config_file.clone(), env, default_file)?;
        let switches = layers.switches()?;
        let timeouts = layers.timeouts(flags.timeouts_file.clone(), switches.default_timeouts)?;
        let file = &layers.file;
        let (yielding, reserve_gpus) = layers.yielding(&flags)?;
        let image_policy = layers.image_policy(&flags)?;
        let hardening = layers.hardening(&flags)?;
        let (disk, disk_evict_unsynced_results) = layers.disk(&flags.disk)?;
        let mut labels = layers.labels(flags.labels)?;
        let hostname_label = if flags.no_hostname_label {
            false
        } else {
            match layers.var(&["GANTRY_NO_HOSTNAME_LABEL"]) {
                Some((name, value)) => !parse_bool(name, &value)?,
                None => file.hostname_label.unwrap_or(true),
            }
        };
        if hostname_label {
            add_hostname_label(&mut labels);
        }
        Ok(AgentConfig {
            server: flags
                .server
                .or_else(|| layers.text(&["GANTRY_SERVER", "SERVER_ADDRESS"], file.server.clone())),
            token: layers.token(flags.token, flags.token_file)?,
            host_dir: layers.host_dir(flags.host_dir),
            name: flags
                .name
                .or_else(|| layers.text(&["GANTRY_NAME"], file.name.clone()))
                .unwrap_or_else(|| {
                    sysinfo::System::host_name().unwrap_or_else(|_| "gantry-agent".into())
                }),
            labels,
            max_tasks: layers.max_tasks(flags.max_tasks)?,
            registries: layers.registries()?,
            with_local_storage: switches.with_local_storage,
            pull_always: switches.pull_always,
            default_timeouts: switches.default_timeouts,
            task_timeout: Timeouts::duration(timeouts.task),
            epilogue_timeout: Timeouts::duration(timeouts.epilogue)
                .unwrap_or(crate::timeouts::EPILOGUE_DEFAULT),
            delete_task_dir_on_finish: switches.delete_task_dir_on_finish,
            delete_task_dir_on_failure: switches.delete_task_dir_on_failure,
            docker_api_call_timeout: Duration::from_secs(
                layers
                    .number(
                        &["GANTRY_DOCKER_API_CALL_TIMEOUT", "DOCKER_API_CALL_TIMEOUT"],
                        file.docker_api_call_timeout
                            .or(timeouts.docker_api_call.map(|s| s.0)),
                        60,
                    )?
                    .max(1),
            ),
            docker_host: layers.text(&["DOCKER_HOST"], file.docker_host.clone()),
            stop_grace: Duration::from_secs(layers.number(
                &["GANTRY_STOP_GRACE"],
                file.stop_grace.or(timeouts.stop_grace.map(|s| s.0)),
                10,
            )?),
            statsd: layers.statsd(flags.statsd_host, flags.statsd_port, flags.statsd_namespace)?,
            stop_tasks_on_exit: flags.stop_tasks_on_exit,
            ca_file: flags.ca_file.or_else(|| {
                layers
                    .text(
                        &["GANTRY_CA_FILE"],
                        file.ca_file.as_ref().map(|p| p.display().to_string()),
                    )
                    .map(PathBuf::from)
            }),
            allow_insecure_http: flags.allow_insecure_http
                || layers.boolean(
                    &["GANTRY_ALLOW_INSECURE_HTTP"],
                    file.allow_insecure_http,
                    false,
                )?,
            only_labeled: flags.only_labeled
                || layers.boolean(&["GANTRY_ONLY_LABELED"], file.only_labeled, false)?,
            yielding,
            reserve_gpus,
            show_task_logs: flags.show_task_logs
                || layers.boolean(&["GANTRY_SHOW_TASK_LOGS"], file.show_task_logs, false)?,
            disk,
            disk_evict_unsynced_results,
            metrics_listen: layers.metrics_listen(flags.metrics_listen)?,
            image_policy,
            hardening,
        })
    }

    /// Where a running agent keeps its control socket and tasks, by the same
    /// chain as [`AgentConfig::resolve`] (flag > environment > config file >
    /// default) but reading nothing else, so steering commands such as
    /// `gantry agent status` find the agent that `agent.toml` placed without
    /// needing a token or the other settings to be valid.
    pub fn resolve_host_dir(
        host_dir: Option<PathBuf>,
        config_file: Option<PathBuf>,
        env: &dyn Fn(&str) -> Option<String>,
        default_file: Option<PathBuf>,
    ) -> Result<PathBuf, ConfigError> {
        Ok(Layers::read(config_file, env, default_file)?.host_dir(host_dir))
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| {
        ConfigError(format!(
            "the config file {} is not valid: {e}",
            path.display()
        ))
    })?;
    if file.token.is_some() {
        return Err(ConfigError(format!(
            "{}: a token must not be written in the config file; put it in a file only you can read \
             (chmod 600) and name that file with token_file = \"…\", or use GANTRY_TOKEN",
            path.display()
        )));
    }
    if file.docker_password.is_some() {
        return Err(ConfigError(format!(
            "{}: docker_password must not be written in the config file; use DOCKER_PASSWORD",
            path.display()
        )));
    }
    Ok(file)
}

fn read_token_file(path: &Path) -> Result<Token, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    if metadata.permissions().mode() & 0o077 != 0 {
        return Err(ConfigError(format!(
            "the token file {} can be read by others; run chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    let token = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the token file {}: {e}",
            path.display()
        ))
    })?;
    Ok(Token::new(token))
}

/// Adds the machine's host name to `labels`, as Prefect's local agent does
/// (the plain name, e.g. `gpu-box-1`), unless it is there already or cannot
/// be a label.
fn add_hostname_label(labels: &mut Vec<String>) {
    let Ok(host) = sysinfo::System::host_name() else {
        return;
    };
    if gantry_protocol::job::label_problem(&host).is_none() && !labels.contains(&host) {
        labels.push(host);
    }
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!("{name}={value} is not true or false"))),
    }
}

/// Pairs the comma-separated registry, login and password lists, in order.
fn registry_logins(
    registries: Option<String>,
    logins: Option<String>,
    passwords: Option<String>,
) -> Result<Vec<RegistryLogin>, ConfigError> {
    let split = |list: Option<String>| -> Vec<String> {
        list.map(|l| {
            l.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
    };
    let (registries, logins, passwords) = (split(registries), split(logins), split(passwords));
    if registries.len() != logins.len() || registries.len() != passwords.len() {
        return Err(ConfigError(format!(
            "DOCKER_REGISTRY lists {} registries, DOCKER_LOGIN {} logins and DOCKER_PASSWORD {} passwords; \
             give one login and one password per registry, in the same order",
            registries.len(),
            logins.len(),
            passwords.len()
        )));
    }
    Ok(registries
        .into_iter()
        .zip(logins)
        .zip(passwords)
        .map(|((registry, login), password)| RegistryLogin {
            registry,
            login,
            password,
        })
        .collect())
}

#[cfg(test)]
mod tests;
