//! `gantry node …` and `gantry hub token list|revoke`: an admin's calls on
//! the hub's nodes and tokens, over HTTP with an admin token.
//!
//! What scripts read goes to stdout (a rotated token alone, JSON with
//! `--json`); what people read goes to stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use gantry_agent::clock::now_ms;
use gantry_protocol::admin::{NodeChange, NodeState, utc_minute};
use gantry_protocol::wire::Node;

use crate::Remote;
use crate::task::client;

/// `gantry node …`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// List nodes: name, state (online, offline, paused, draining, or
    /// "yielding: <why>" while a node steps aside for its person), tasks held, labels, GPUs.
    List {
        /// Print JSON instead of a table: {"nodes": [{id, name, labels, state, yield_reason, ...}]}.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one node: its state, labels (given at the hub and reported by its agent) and machine.
    Show {
        /// The node's name or id.
        node: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Rename a node; its agent shows the new name after its next heartbeat.
    Rename {
        /// The node's name or id.
        node: String,
        /// The new name, unused by any other node.
        new: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// Add or remove labels given at the hub; its agent has them after its next heartbeat.
    Label {
        /// The node's name or id.
        node: String,
        /// A label to add (repeatable).
        #[arg(long = "add", value_name = "L")]
        add: Vec<String>,
        /// A label to remove (repeatable); labels the agent reports itself stay.
        #[arg(long = "remove", value_name = "L")]
        remove: Vec<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Remove a node: queued tasks meant for it (job key node:) fail, the tasks
    /// it holds are canceled, and its agent is refused and stops (exit 3).
    Remove {
        /// The node's name or id.
        node: String,
        /// Do not ask; needed when stdin is not a terminal.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Give a node a new token, printed alone on stdout this once; the old one
    /// is refused at once, and its agent stops (exit 3) until given the new one.
    Token {
        /// The node's name or id.
        node: String,
        /// Make the new token (the only thing this command does; required so it is never done by accident).
        #[arg(long, required = true)]
        rotate: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// What the tasks that ended on the nodes used: wall, CPU and GPU hours,
    /// GPU energy (kWh), GB pulled, uploaded and downloaded; a table by node,
    /// or by day (UTC) for one node.
    Usage {
        /// Only this node (name or id), day by day.
        node: Option<String>,
        /// Count tasks that ended at or after this date (2026-12-01, midnight
        /// UTC) or RFC 3339 time [default: the last 7 days].
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Print CSV for spreadsheets: a header line, then one row per node
        /// (or day) in seconds, watt-hours and bytes.
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a `gantry node` command.
pub async fn run(command: NodeCommand) -> anyhow::Result<ExitCode> {
    match command {
        NodeCommand::List { json, remote } => list(json, &remote).await,
        NodeCommand::Show { node, json, remote } => {
            let node = client(&remote)?.node(&node).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&node)?);
            } else {
                print_node(&node);
            }
            Ok(ExitCode::SUCCESS)
        }
        NodeCommand::Rename { node, new, remote } => {
            let change = NodeChange {
                name: Some(new),
                ..NodeChange::default()
            };
            let renamed = client(&remote)?.change_node(&node, &change).await?;
            eprintln!(
                "node {node} is now named {}; its agent shows the new name after its next heartbeat",
                renamed.name
            );
            Ok(ExitCode::SUCCESS)
        }
        NodeCommand::Label {
            node,
            add,
            remove,
            remote,
        } => {
            if add.is_empty() && remove.is_empty() {
                bail!("say what to change: --add LABEL and/or --remove LABEL (each repeatable)");
            }
            let change = NodeChange {
                name: None,
                add_labels: add,
                remove_labels: remove,
            };
            let changed = client(&remote)?.change_node(&node, &change).await?;
            eprintln!(
                "node {}'s labels are now: {}",
                changed.name,
                or_none(&changed.labels.join(", "))
            );
            Ok(ExitCode::SUCCESS)
        }
        NodeCommand::Remove { node, yes, remote } => remove(&node, yes, &remote).await,
        NodeCommand::Usage {
            node,
            since,
            csv,
            remote,
        } => crate::node_usage::run(node, since, csv, &remote).await,
        NodeCommand::Token { node, remote, .. } => {
            let rotated = client(&remote)?.rotate_node_token(&node).await?;
            println!("{}", rotated.token);
            eprintln!(
                "Node {}'s new token is shown only once: give it to its agent (GANTRY_TOKEN). \
                 The old token is refused from now on; an agent still using it stops with exit code 3.",
                rotated.node.name
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `gantry node list`: a table, or the hub's JSON with `--json`.
async fn list(json: bool, remote: &Remote) -> anyhow::Result<ExitCode> {
    let list = client(remote)?.nodes().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let states: Vec<String> = list.nodes.iter().map(state_text).collect();
    let width = states
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    println!(
        "{:<20} {:<width$} {:>5} {:<24} GPUS",
        "NAME", "STATE", "TASKS", "LABELS"
    );
    for (node, state) in list.nodes.iter().zip(states) {
        println!(
            "{:<20} {state:<width$} {:>5} {:<24} {}",
            node.name,
            node.tasks_held,
            node.labels.join(","),
            gpus_text(node)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A node's state as the list shows it: `yielding: <why>` while it steps aside.
fn state_text(node: &Node) -> String {
    match (&node.state, &node.yield_reason) {
        (NodeState::Yielding, Some(why)) => format!("yielding: {why}"),
        (state, _) => state.as_str().to_owned(),
    }
}

/// A node's GPUs: how many, and how many of them are free now when its agent
/// says (`2 (1 free)`); `-` when its machine is not known yet.
fn gpus_text(node: &Node) -> String {
    let Some(system) = &node.system else {
        return "-".to_owned();
    };
    match &node.capacity {
        Some(capacity) => format!(
            "{} ({} free)",
            system.gpus.len(),
            capacity
                .gpus
                .iter()
                .filter(|g| !g.reserved && g.holders == 0)
                .count()
        ),
        None => system.gpus.len().to_string(),
    }
}

/// `gantry node remove`: says what happens to the node's tasks, asks on a
/// terminal unless `--yes`, and requires `--yes` elsewhere.
async fn remove(node: &str, yes: bool, remote: &Remote) -> anyhow::Result<ExitCode> {
    let client = client(remote)?;
    let shown = client.node(node).await?;
    let warning = format!(
        "Removing node {} cancels the {} task(s) it holds, fails the queued tasks meant for it (job key node:), \
         and its agent is refused and stops.",
        shown.name, shown.tasks_held
    );
    if !yes {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            bail!(
                "{warning} Pass --yes to remove it without a question (stdin is not a terminal)."
            );
        }
        eprint!("{warning} Remove it? [y/N] ");
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        stdin.lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("not removed");
            return Ok(ExitCode::FAILURE);
        }
    }
    let removed = client.remove_node(&shown.id).await?;
    eprintln!(
        "node {} removed: {} task(s) canceled, {} queued task(s) meant for it failed",
        removed.name,
        removed.canceled.len(),
        removed.failed.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn print_node(node: &Node) {
    println!("id:           {}", node.id);
    println!("name:         {}", node.name);
    println!("state:        {}", state_text(node));
    println!(
        "last seen:    {}",
        node.last_seen.map_or_else(|| "never".into(), utc_minute)
    );
    println!("labels:       {}", or_none(&node.labels.join(", ")));
    println!("  given here: {}", or_none(&node.given_labels.join(", ")));
    println!("  by agent:   {}", or_none(&node.agent_labels.join(", ")));
    println!(
        "only labeled: {}",
        if node.only_labeled {
            "yes (takes only tasks that carry one of its labels)"
        } else {
            "no"
        }
    );
    println!(
        "images:       {}",
        node.image_policy.clone().unwrap_or_default().summary()
    );
    println!("tasks held:   {}", node.tasks_held);
    for task in &node.running {
        println!("  {}  {}  ({})", task.id, task.name, task.state.as_str());
    }
    println!("version:      {}", node.version.as_deref().unwrap_or("-"));
    if let Some(system) = &node.system {
        println!("gpus:         {}", system.gpus.len());
    }
}

fn or_none(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

/// `gantry hub token list`.
pub async fn list_tokens(json: bool, remote: &Remote) -> anyhow::Result<ExitCode> {
    let tokens = client(remote)?.admin_tokens().await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "tokens": tokens }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let now = now_ms();
    println!("{:<24} {:<22} LAST USED", "NAME", "CREATED");
    for token in tokens {
        println!(
            "{:<24} {:<22} {}",
            token.name,
            utc_minute(token.created_at),
            token.last_used.map_or_else(
                || "never".to_owned(),
                |used| if now - used < 120_000 {
                    "just now".to_owned()
                } else {
                    utc_minute(used)
                }
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `gantry hub token revoke NAME`.
pub async fn revoke_token(name: &str, remote: &Remote) -> anyhow::Result<ExitCode> {
    let revoked = client(remote)?.revoke_admin_tokens(name).await?;
    eprintln!(
        "{} admin token(s) named {} revoked; they are refused from now on",
        revoked.revoked, revoked.name
    );
    Ok(ExitCode::SUCCESS)
}
