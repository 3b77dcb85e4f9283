//! The `gantry` command: argument parsing and glue over the hub and agent
//! crates. Nothing here decides anything the libraries could.

mod agent;
mod agent_args;
mod blob;
mod disk_args;
mod doctor;
mod drive;
mod gc;
mod hub_admin;
mod image_args;
mod local_inputs;
mod metrics_args;
mod node;
mod node_usage;
mod outputs;
mod progress;
mod supervisor_program;
mod systemd_unit;
mod task;
mod yield_args;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Gantry connects computers with GPUs to a task platform: a hub hands out
/// tasks, agents run them in Docker and stream their logs back.
#[derive(Debug, Parser)]
#[command(
    name = "gantry",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run and administer a hub (the control plane).
    #[command(subcommand)]
    Hub(HubCommand),
    /// Submit, watch and steer tasks on a hub.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Put files on the hub, for jobs to name as inputs.
    #[command(subcommand)]
    Blob(BlobCommand),
    /// List, show, rename, relabel and remove the hub's nodes, and rotate their tokens.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Run the agent that takes tasks from a hub, or steer the one running here.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Install the headless agent as a systemd user service (or print its unit,
    /// or a supervisord program section), or remove it.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Run one job file on this machine without a hub: its output on stdout and
    /// stderr, exit code = the task's.
    Run {
        /// The job file (YAML or JSON).
        file: PathBuf,
        #[command(flatten)]
        local: agent::Local,
    },
    /// Run jobs made by your own code (a Python file's user_create and
    /// user_update, or any program over JSON lines), watch them, stop when done.
    Drive(Box<drive::DriveArgs>),
    /// Check what this machine needs to run tasks (Docker, cgroups, the NVIDIA
    /// driver and toolkit, the hub, TLS, proxy, clock, disk, a running agent):
    /// ok, warning or failure each, with the fix; exit 0 / 1 / 2 by the worst.
    Doctor(doctor::DoctorArgs),
    /// Print Gantry's version.
    Version,
    /// Write the man pages and shell completions (for packages) into a folder.
    #[command(hide = true)]
    Generate {
        /// The folder; `man/` and `completions/` are made in it.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum HubCommand {
    /// Serve the hub's HTTP API (HTTPS with --tls-cert and --tls-key) until Ctrl-C or SIGTERM.
    Serve(hub_admin::ServeArgs),
    /// Manage the nodes that may connect.
    #[command(subcommand)]
    Node(HubNodeCommand),
    /// Manage tokens for people and scripts.
    #[command(subcommand)]
    Token(HubTokenCommand),
}

#[derive(Debug, Subcommand)]
enum HubNodeCommand {
    /// Add a node and print its token, alone on stdout. The token is shown only this once.
    Add {
        /// The node's name, e.g. the machine's host name.
        name: String,
        /// A label for matching tasks to this node (repeatable), e.g. --label gpu --label zone=eu.
        #[arg(long = "label", value_name = "L")]
        labels: Vec<String>,
        #[command(flatten)]
        store: hub_admin::StoreArgs,
    },
}

#[derive(Debug, Subcommand)]
enum HubTokenCommand {
    /// Create an admin token and print it, alone on stdout. It is shown only this once.
    Create {
        /// A name for the token's holder, e.g. alice or ci.
        #[arg(long, value_name = "NAME", required = true)]
        admin: String,
        #[command(flatten)]
        store: hub_admin::StoreArgs,
    },
    /// List the admin tokens (names, created, last used; never the tokens), from a running hub.
    List {
        /// Print JSON instead of a table: {"tokens": [{name, created_at, last_used}]}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Revoke the admin tokens of a name on a running hub; they are refused from now on.
    Revoke {
        /// The name given at `gantry hub token create --admin NAME`.
        name: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Where the hub is and the admin token to use.
#[derive(Debug, Clone, Args)]
struct Remote {
    /// The hub's address [default: the desktop app's local hub when it runs
    /// (local mode), else http://127.0.0.1:8750].
    #[arg(long, env = "GANTRY_SERVER")]
    server: Option<String>,
    /// An admin token (from `gantry hub token create`).
    #[arg(long, env = "GANTRY_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A CA certificate (PEM) to trust besides the system's, for a hub whose
    /// certificate your own CA made.
    #[arg(long, env = "GANTRY_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Send the admin token over plain http:// to a host that is not this
    /// machine without the warning, on a network you trust.
    #[arg(long, env = "GANTRY_ALLOW_INSECURE_HTTP", value_parser = clap::builder::BoolishValueParser::new())]
    allow_insecure_http: bool,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Submit a job file (YAML or JSON; - reads stdin) and print the task's id.
    Submit {
        /// The job file.
        file: PathBuf,
        /// Wait for the task to end: exit 0 if it succeeded, else with its exit code (1 if none).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List tasks, newest first.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Only tasks in this state (queued, running, failed, ...).
        #[arg(long)]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one task with its history.
    Show {
        /// The task's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Write a task's log bytes to stdout, exactly as stored.
    Logs {
        /// The task's id.
        id: String,
        /// Keep writing as the log grows, until the task ends.
        #[arg(long, short)]
        follow: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// List a task's outputs: path, size, sha256, and where each is (hub, or node NAME).
    Outputs {
        /// The task's id.
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Download a task's outputs (all, or the PATHs named: files or folders),
    /// each verified by sha256. Outputs kept on a node come from it through the hub.
    Download {
        /// The task's id.
        id: String,
        /// Outputs to download; all when none.
        paths: Vec<String>,
        /// The folder to write into [default: ./<task id>/].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Cancel a task.
    Cancel {
        /// The task's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Pause a running task (its container is frozen and keeps its memory).
    Pause {
        /// The task's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Resume a paused task.
    Resume {
        /// The task's id.
        id: String,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum BlobCommand {
    /// Upload files and print `<sha256>  <file>` for each; files the hub holds
    /// already are not sent again (said on stderr).
    Put {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        remote: Remote,
    },
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Connect to a hub and run its tasks until Ctrl-C or SIGTERM.
    Start(Box<agent::StartArgs>),
    /// Show the running agent's state and tasks.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        local: agent::Local,
    },
    /// Pause one task, or every task (and take no new ones).
    Pause {
        /// The task; all when absent.
        task: Option<String>,
        #[command(flatten)]
        local: agent::Local,
    },
    /// Resume one task, or every task.
    Resume {
        /// The task; all when absent.
        task: Option<String>,
        #[command(flatten)]
        local: agent::Local,
    },
    /// Cancel a task this agent runs (SIGTERM, a grace period, SIGKILL, removal).
    Cancel {
        /// The task.
        task: String,
        #[command(flatten)]
        local: agent::Local,
    },
    /// Write a task's log from this agent's own copy, following it until the
    /// task ends; works while the hub is unreachable.
    Logs {
        /// The task.
        task: String,
        #[command(flatten)]
        local: agent::Local,
    },
    /// Keep the disk budget by hand: remove what is over it, least recently
    /// used first, one line each (--dry-run: only say what would go).
    Gc(gc::GcArgs),
    /// Let running tasks finish and take no new ones (--off to take them again).
    Drain {
        /// Take tasks again.
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        local: agent::Local,
    },
}

#[derive(Debug, Subcommand)]
enum ServiceCommand {
    /// Write and enable a systemd user unit that runs `gantry agent start`
    /// (the token stays in a file only you can read, never in the unit), or
    /// only print it (--print), or a supervisord program (--print --supervisor).
    Install(Box<systemd_unit::InstallArgs>),
    /// Stop and disable the unit, remove it and the token file it used; the
    /// storage folder stays.
    Uninstall,
    /// Whether the unit is installed, enabled and running.
    Status,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Generate { out } => {
            generate(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Doctor(args) => doctor::run(args).await,
        Command::Version => {
            println!("gantry {}", env!("CARGO_PKG_VERSION"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Hub(HubCommand::Serve(args)) => hub_admin::serve(args).await,
        Command::Hub(HubCommand::Node(HubNodeCommand::Add {
            name,
            labels,
            store,
        })) => hub_admin::add_node(&name, &labels, &store).await,
        Command::Hub(HubCommand::Token(HubTokenCommand::Create { admin, store })) => {
            hub_admin::create_admin_token(&admin, &store).await
        }
        Command::Task(command) => task::run(command).await,
        Command::Drive(args) => drive::run(*args).await,
        Command::Blob(BlobCommand::Put { files, remote }) => blob::put(&files, &remote).await,
        Command::Node(command) => node::run(command).await,
        Command::Hub(HubCommand::Token(HubTokenCommand::List { json, remote })) => {
            node::list_tokens(json, &remote).await
        }
        Command::Hub(HubCommand::Token(HubTokenCommand::Revoke { name, remote })) => {
            node::revoke_token(&name, &remote).await
        }
        Command::Agent(AgentCommand::Start(args)) => agent::start(*args).await,
        Command::Agent(AgentCommand::Status { json, local }) => agent::status(json, &local).await,
        Command::Agent(AgentCommand::Pause { task, local }) => {
            agent::steer(gantry_agent::control::Request::Pause { task }, &local).await
        }
        Command::Agent(AgentCommand::Resume { task, local }) => {
            agent::steer(gantry_agent::control::Request::Resume { task }, &local).await
        }
        Command::Agent(AgentCommand::Cancel { task, local }) => {
            agent::steer(gantry_agent::control::Request::Cancel { task }, &local).await
        }
        Command::Agent(AgentCommand::Logs { task, local }) => agent::follow(&task, &local).await,
        Command::Agent(AgentCommand::Gc(args)) => gc::gc(args).await,
        Command::Agent(AgentCommand::Drain { off, local }) => {
            agent::steer(gantry_agent::control::Request::Drain { on: !off }, &local).await
        }
        Command::Run { file, local } => agent::run_file(file, &local).await,
        Command::Service(ServiceCommand::Install(args)) => systemd_unit::install(*args),
        Command::Service(ServiceCommand::Uninstall) => systemd_unit::uninstall(),
        Command::Service(ServiceCommand::Status) => systemd_unit::status(),
    }
}

/// Writes `gantry.1` and a page per subcommand (`gantry-task-submit.1`, …)
/// into `out/man`, and completions for bash, zsh and fish into
/// `out/completions`, all from the same clap definition the binary parses.
fn generate(out: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    let man = out.join("man");
    let completions = out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut command = Cli::command();
    command.build();
    clap_mangen::generate_to(command.clone(), &man)
        .with_context(|| format!("cannot write the man pages in {}", man.display()))?;
    // clap adds a `help` subcommand at each level; a page for each of those
    // says nothing the others do not.
    for entry in std::fs::read_dir(&man)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains("-help") {
            std::fs::remove_file(entry.path())?;
        }
    }
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut command, "gantry", &completions).with_context(
            || {
                format!(
                    "cannot write the {shell} completions in {}",
                    completions.display()
                )
            },
        )?;
    }
    println!("wrote {} and {}", man.display(), completions.display());
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("stopping: open requests are closing");
}
