//! The agent's options, in one group that `gantry agent start` and `gantry
//! service install` both flatten: everything that shapes the running agent
//! except the hub's address and the token, which each command takes its own
//! way (install never writes a token into a unit).
//!
//! Install writes each option the person gave back into the service's
//! command line with [`AgentOptions::words`], each flag group giving its own
//! words ([`Words`]). So a flag added to the agent reaches the service by
//! being added here, and the tests below fail when one is added elsewhere or
//! its words are forgotten.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use gantry_agent::config::Flags;

/// Command-line words for flags already parsed: only what was given, in the
/// order written, each value as the flag's parser reads it back.
#[derive(Debug, Default)]
#[must_use]
pub struct Words(Vec<String>);

impl Words {
    /// `FLAG VALUE` when there is a value.
    pub fn value(mut self, flag: &str, value: Option<impl Display>) -> Words {
        if let Some(value) = value {
            self.0.extend([flag.to_owned(), value.to_string()]);
        }
        self
    }

    /// `FLAG VALUE` for each value of a repeatable flag.
    pub fn each<T: Display>(mut self, flag: &str, values: impl IntoIterator<Item = T>) -> Words {
        for value in values {
            self.0.extend([flag.to_owned(), value.to_string()]);
        }
        self
    }

    /// `FLAG PATH` when there is a path.
    pub fn path(self, flag: &str, path: Option<&Path>) -> Words {
        self.value(flag, path.map(Path::display))
    }

    /// `FLAG` when it is on.
    pub fn switch(mut self, flag: &str, on: bool) -> Words {
        if on {
            self.0.push(flag.to_owned());
        }
        self
    }

    /// Another group's words after these.
    pub fn then(mut self, words: Vec<String>) -> Words {
        self.0.extend(words);
        self
    }

    /// The words.
    pub fn done(self) -> Vec<String> {
        self.0
    }
}

/// Where the agent keeps its files and how it shows itself.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct NodeArgs {
    /// Where the agent keeps logs, tasks and results [env: GANTRY_HOST_DIR, AGENT_HOST_DIR; default: ~/.local/share/gantry/agent].
    #[arg(long)]
    pub(crate) host_dir: Option<PathBuf>,
    /// A name for this agent in logs and labels [env: GANTRY_NAME; default: the host name].
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// A label added to the node's (repeatable, -l as in Prefect) [env: GANTRY_LABELS, comma-separated].
    #[arg(short = 'l', long = "label", value_name = "L")]
    pub(crate) labels: Vec<String>,
    /// How many tasks run at once [env: GANTRY_MAX_TASKS; default: 1].
    #[arg(long)]
    pub(crate) max_tasks: Option<usize>,
}

impl NodeArgs {
    /// These flags as the agent's config layer takes them, over `flags`.
    pub fn into_flags(self, flags: Flags) -> Flags {
        Flags {
            host_dir: self.host_dir,
            name: self.name,
            labels: self.labels,
            max_tasks: self.max_tasks,
            ..flags
        }
    }

    /// The same flags as command-line words.
    pub fn words(&self) -> Vec<String> {
        Words::default()
            .path("--host-dir", self.host_dir.as_deref())
            .value("--name", self.name.as_ref())
            .each("--label", &self.labels)
            .value("--max-tasks", self.max_tasks)
            .done()
    }
}

/// How a command reaches a hub safely: the CA to trust, and whether a token
/// may cross the network in plain http.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct Connection {
    /// A CA certificate (PEM) to trust besides the system's, for a hub whose
    /// certificate your own CA made [env: GANTRY_CA_FILE; agent.toml: ca_file].
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Allow sending the token over plain http:// to a host that is not this
    /// machine, on a network you trust [env: GANTRY_ALLOW_INSECURE_HTTP;
    /// agent.toml: allow_insecure_http].
    #[arg(long)]
    pub(crate) allow_insecure_http: bool,
}

impl Connection {
    /// The same flags as command-line words.
    pub fn words(&self) -> Vec<String> {
        Words::default()
            .path("--ca-file", self.ca_file.as_deref())
            .switch("--allow-insecure-http", self.allow_insecure_http)
            .done()
    }
}

/// `--show-task-logs`.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct ShowTaskLogs {
    /// Copy each task's output lines to this agent's stdout, prefixed by the
    /// task ("[ID NAME] line", "[ID NAME stderr] line"), as Prefect's
    /// --show-flow-logs does. Lines a slow stdout cannot take are skipped and
    /// counted, never held against the task or its log [env:
    /// GANTRY_SHOW_TASK_LOGS=1; agent.toml: show_task_logs = true].
    #[arg(long)]
    pub(crate) show_task_logs: bool,
}

/// Every option of the agent but the hub's address and the token. Each flag
/// also reads its environment variable and config-file key (flag >
/// environment > file > default).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct AgentOptions {
    #[command(flatten)]
    pub(crate) node: NodeArgs,
    /// A TOML config file [env: GANTRY_CONFIG; default: ~/.config/gantry/agent.toml].
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) metrics: crate::metrics_args::AgentMetricsArgs,
    /// Cancel running tasks when the agent stops; by default their containers
    /// keep running and are picked up again at the next start.
    #[arg(long)]
    pub(crate) stop_tasks_on_exit: bool,
    /// Do not add this machine's host name as a label (added by default, as
    /// Prefect's local agent does) [env: GANTRY_NO_HOSTNAME_LABEL=1; agent.toml: hostname_label = false].
    #[arg(long)]
    pub(crate) no_hostname_label: bool,
    /// The JSON timeouts file DEFAULT_TIMEOUTS=false loads (keys: task,
    /// docker_api_call, stop_grace, epilogue) [env: GANTRY_TIMEOUTS_FILE; agent.toml: timeouts_file].
    #[arg(long, value_name = "FILE")]
    pub(crate) timeouts_file: Option<PathBuf>,
    /// Take only tasks that carry at least one of this node's labels; tasks
    /// without labels go to other nodes [env: GANTRY_ONLY_LABELED; agent.toml: only_labeled].
    #[arg(long)]
    pub(crate) only_labeled: bool,
    #[command(flatten)]
    pub(crate) connection: Connection,
    #[command(flatten)]
    pub(crate) yielding: crate::yield_args::YieldArgs,
    #[command(flatten)]
    pub(crate) shown: ShowTaskLogs,
    #[command(flatten)]
    pub(crate) images: crate::image_args::ImageArgs,
    #[command(flatten)]
    pub(crate) disk: crate::disk_args::DiskArgs,
}

impl AgentOptions {
    /// These options as the agent's config layer takes them, over `flags`
    /// (which bring the hub's address and the token).
    pub fn into_flags(self, flags: Flags) -> Flags {
        let flags = Flags {
            config_file: self.config,
            stop_tasks_on_exit: self.stop_tasks_on_exit,
            ca_file: self.connection.ca_file,
            allow_insecure_http: self.connection.allow_insecure_http,
            only_labeled: self.only_labeled,
            no_hostname_label: self.no_hostname_label,
            timeouts_file: self.timeouts_file,
            yielding: self.yielding.into_flags(),
            show_task_logs: self.shown.show_task_logs,
            images: self.images.into_flags(),
            disk: self.disk.into_flags(),
            ..flags
        };
        self.metrics.into_flags(self.node.into_flags(flags))
    }

    /// The options given, as `gantry agent start`'s command-line words.
    pub fn words(&self) -> Vec<String> {
        Words::default()
            .then(self.node.words())
            .then(self.connection.words())
            .switch("--only-labeled", self.only_labeled)
            .then(self.yielding.words())
            .switch("--show-task-logs", self.shown.show_task_logs)
            .path("--config", self.config.as_deref())
            .path("--timeouts-file", self.timeouts_file.as_deref())
            .switch("--no-hostname-label", self.no_hostname_label)
            .switch("--stop-tasks-on-exit", self.stop_tasks_on_exit)
            .then(self.images.words())
            .then(self.disk.words())
            .then(self.metrics.words())
            .done()
    }

    /// The same options with every file and folder named by an absolute path,
    /// for a service that does not start in this folder.
    pub fn made_absolute(mut self) -> anyhow::Result<AgentOptions> {
        for path in [
            &mut self.node.host_dir,
            &mut self.config,
            &mut self.timeouts_file,
            &mut self.connection.ca_file,
        ]
        .into_iter()
        .flatten()
        {
            *path = std::path::absolute(&*path)
                .with_context(|| format!("cannot resolve {}", path.display()))?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::{ArgAction, CommandFactory, Parser};

    use super::*;
    use crate::{AgentCommand, Cli, Command, ServiceCommand};

    /// `agent start`'s options that `service install` deliberately does not
    /// take, each with why.
    const NOT_INSTALLED: &[(&str, &str)] = &[(
        "token",
        "a unit never holds the token: install keeps it in a 0600 file (--token-file)",
    )];

    /// The long names of a subcommand's options, without help and version.
    fn longs(path: &[&str]) -> BTreeSet<String> {
        let mut command = Cli::command();
        command.build();
        let mut command = &command;
        for name in path {
            command = command.find_subcommand(name).unwrap();
        }
        command
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            .filter(|long| !matches!(*long, "help" | "version"))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn install_takes_every_option_agent_start_takes() {
        let start = longs(&["agent", "start"]);
        let install = longs(&["service", "install"]);
        let missing: BTreeSet<String> = start.difference(&install).cloned().collect();
        let excluded: BTreeSet<String> = NOT_INSTALLED
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect();
        assert_eq!(
            missing, excluded,
            "`gantry service install` must take every option of `gantry agent start` \
             (add it to AgentOptions), or list it in NOT_INSTALLED with why"
        );
        for flag in [
            "disk-max-gb",
            "allowed-images",
            "task-network",
            "metrics-listen",
        ] {
            assert!(install.contains(flag), "{flag}");
        }
    }

    fn options(words: &[String]) -> AgentOptions {
        let cli = Cli::try_parse_from(
            ["gantry", "agent", "start"]
                .into_iter()
                .map(String::from)
                .chain(words.iter().cloned()),
        )
        .unwrap_or_else(|error| panic!("{words:?}: {error}"));
        match cli.command {
            Command::Agent(AgentCommand::Start(args)) => args.options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_option_given_comes_back_in_the_words() {
        // Every option of the group, each given (a repeatable one twice) with
        // a value every parser of theirs takes.
        let mut command = Cli::command();
        command.build();
        let start = command
            .find_subcommand("agent")
            .and_then(|agent| agent.find_subcommand("start"))
            .unwrap();
        let ours = ["server", "token", "token-file", "help", "version"];
        let mut given = Vec::new();
        for arg in start.get_arguments() {
            let Some(long) = arg.get_long().filter(|l| !ours.contains(l)) else {
                continue;
            };
            let flag = format!("--{long}");
            match arg.get_action() {
                ArgAction::SetTrue => given.push(flag),
                ArgAction::Append => given.extend([flag.clone(), "7".into(), flag, "8".into()]),
                ArgAction::Set => given.extend([flag, "7".into()]),
                other => panic!("--{long}: {other:?} is not written back yet"),
            }
        }
        let parsed = options(&given);
        let words = parsed.words();
        assert_eq!(options(&words), parsed, "{words:?}");
        // Every option came back (none left at its default).
        let flags = |words: &[String]| -> BTreeSet<String> {
            words
                .iter()
                .filter(|w| w.starts_with("--"))
                .cloned()
                .collect()
        };
        assert_eq!(flags(&words), flags(&given));
    }

    #[test]
    fn only_what_was_given_is_written() {
        assert_eq!(options(&[]).words(), Vec::<String>::new());
        let words: Vec<String> = [
            "--disk-max-gb",
            "2.5",
            "--allowed-images",
            "registry.example.com/**",
            "--task-network",
            "none",
            "--read-only-root",
            "--stats-host",
            "127.0.0.1",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            options(&words).words(),
            [
                "--allowed-images",
                "registry.example.com/**",
                "--read-only-root",
                "--task-network",
                "none",
                "--disk-max-gb",
                "2.5",
                "--statsd-host",
                "127.0.0.1",
            ]
        );
    }

    #[test]
    fn paths_are_made_absolute_for_the_service() {
        let words: Vec<String> = [
            "--host-dir",
            "agent",
            "--config",
            "agent.toml",
            "--timeouts-file",
            "/etc/gantry/timeouts.json",
            "--ca-file",
            "ca.pem",
        ]
        .map(String::from)
        .into();
        let here = std::env::current_dir().unwrap();
        let options = options(&words).made_absolute().unwrap();
        assert_eq!(options.node.host_dir, Some(here.join("agent")));
        assert_eq!(options.config, Some(here.join("agent.toml")));
        assert_eq!(
            options.timeouts_file,
            Some(PathBuf::from("/etc/gantry/timeouts.json"))
        );
        assert_eq!(options.connection.ca_file, Some(here.join("ca.pem")));
    }

    #[test]
    fn install_parses_the_same_group() {
        let cli = Cli::try_parse_from([
            "gantry",
            "service",
            "install",
            "--print",
            "--task-pids-limit",
            "64",
            "--metrics-listen",
            "127.0.0.1:9101",
        ])
        .unwrap();
        let Command::Service(ServiceCommand::Install(args)) = cli.command else {
            panic!("not install");
        };
        assert_eq!(
            args.options.words(),
            [
                "--task-pids-limit",
                "64",
                "--metrics-listen",
                "127.0.0.1:9101"
            ]
        );
    }
}
