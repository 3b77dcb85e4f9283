//! `gantry task …` and `gantry node list`: people's calls to a hub.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use gantry_agent::clock::now_ms;
use gantry_agent::host::LocalHub;
use gantry_client::{ClientError, HubClient, Token, Trust};
use gantry_protocol::job::Format;
use gantry_protocol::wire::{Millis, Task};
use gantry_protocol::{JobSpec, TaskState};

use crate::{Remote, TaskCommand};

/// The hub to talk to: `--server` (or GANTRY_SERVER) with `--token`; with
/// neither, the desktop app's local hub when its address file is in the host
/// dir; else the default address.
pub(crate) fn client(remote: &Remote) -> anyhow::Result<HubClient> {
    let token = remote
        .token
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(str::to_owned);
    let trust = Trust::with_ca_file(remote.ca_file.clone());
    let server = match (&remote.server, &token) {
        (Some(server), _) => server.clone(),
        (None, Some(_)) => crate::hub_admin::DEFAULT_SERVER.to_owned(),
        (None, None) => {
            let host_dir = crate::agent::local_host_dir(None, None)?;
            match LocalHub::read(&host_dir) {
                Ok(Some(local)) => {
                    return Ok(HubClient::with_trust(
                        &local.server,
                        Token::new(local.admin_token),
                        &trust,
                    )?);
                }
                Ok(None) => crate::hub_admin::DEFAULT_SERVER.to_owned(),
                Err(error) => bail!(
                    "cannot read the local hub's address in {}: {error}",
                    LocalHub::path(&host_dir).display()
                ),
            }
        }
    };
    let Some(token) = token else {
        bail!(
            "no admin token: pass --token or set GANTRY_ADMIN_TOKEN (create one with: gantry hub token create --admin NAME), \
             or start the desktop app in local mode (\"Use this computer only\") on this machine"
        );
    };
    if !remote.allow_insecure_http && gantry_client::in_clear(&server) {
        eprintln!(
            "warning: the admin token goes in clear to {server}: anyone on the network between can read it; \
             use https://, or pass --allow-insecure-http (GANTRY_ALLOW_INSECURE_HTTP=true) if this network is trusted"
        );
    }
    Ok(HubClient::with_trust(&server, Token::new(token), &trust)?)
}

/// Runs a `gantry task` command.
pub async fn run(command: TaskCommand) -> anyhow::Result<ExitCode> {
    match command {
        TaskCommand::Submit { file, wait, remote } => {
            let (name, text) = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the job from stdin")?;
                ("stdin".to_owned(), text)
            } else {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read the job file {}", file.display()))?;
                (file.display().to_string(), text)
            };
            let spec = match JobSpec::parse(&text, Format::from_file_name(&name)) {
                Ok(spec) => spec,
                Err(error) => {
                    eprintln!("error: {name}: {error}");
                    return Ok(ExitCode::from(2));
                }
            };
            let client = client(&remote)?;
            let base = match file.parent() {
                Some(parent) if file.as_os_str() != "-" && !parent.as_os_str().is_empty() => {
                    parent.to_owned()
                }
                _ => std::path::PathBuf::from("."),
            };
            let spec = crate::local_inputs::upload(&client, spec, &base).await?;
            let id = client.submit(&spec).await?;
            println!("{id}");
            std::io::stdout().flush().ok();
            if wait {
                wait_for(&client, &id).await
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        TaskCommand::List {
            json,
            state,
            limit,
            remote,
        } => {
            let state = state.map(|s| s.parse::<TaskState>()).transpose()?;
            let tasks = client(&remote)?.tasks(state, Some(limit)).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "tasks": tasks }))?
                );
            } else {
                print_table(&tasks);
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Show { id, json, remote } => {
            let task = client(&remote)?.task(&id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&task)?);
            } else {
                print_task(&task);
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Logs { id, follow, remote } => {
            let client = client(&remote)?;
            let mut stream = Box::pin(client.log(&id, 0, follow).await?);
            let mut stdout = std::io::stdout().lock();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                if let Err(error) = stdout.write_all(&chunk).and_then(|()| stdout.flush()) {
                    // A closed pipe (`| head`) is the reader's choice, not a failure.
                    if error.kind() == std::io::ErrorKind::BrokenPipe {
                        return Ok(ExitCode::SUCCESS);
                    }
                    return Err(error).context("cannot write the log to stdout");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Outputs { id, json, remote } => crate::outputs::list(&id, json, &remote).await,
        TaskCommand::Download {
            id,
            paths,
            out,
            remote,
        } => crate::outputs::download(&id, &paths, out, &remote).await,
        TaskCommand::Cancel { id, remote } => steer(client(&remote)?.cancel(&id).await, "cancel"),
        TaskCommand::Pause { id, remote } => steer(client(&remote)?.pause(&id).await, "pause"),
        TaskCommand::Resume { id, remote } => steer(client(&remote)?.resume(&id).await, "resume"),
    }
}

fn steer(result: Result<Task, ClientError>, what: &str) -> anyhow::Result<ExitCode> {
    let task = result?;
    match task.pending_command {
        Some(_) => eprintln!(
            "{what} requested; task {} is {} until its node acts on it",
            task.id, task.state
        ),
        None => eprintln!("task {} is {}", task.id, task.state),
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits for the task to end and turns its result into an exit code.
///
/// Following the log is the wait: the hub ends that stream when the task
/// ends, so no polling is needed while the connection holds.
async fn wait_for(client: &HubClient, id: &str) -> anyhow::Result<ExitCode> {
    let mut offset = 0u64;
    loop {
        let task = client.task(id).await?;
        if task.state.is_terminal() {
            if task.state != TaskState::Succeeded {
                eprintln!(
                    "task {id} {}: {}",
                    task.state,
                    task.reason.as_deref().unwrap_or("no reason given")
                );
            }
            return Ok(exit_code_for(task.state, task.exit_code));
        }
        match client.log(id, offset, true).await {
            Ok(stream) => {
                let mut stream = Box::pin(stream);
                while let Some(Ok(chunk)) = stream.next().await {
                    offset += chunk.len() as u64;
                }
            }
            Err(error) if error.is_transient() => {}
            Err(error) => return Err(error.into()),
        }
        // The stream ended or broke; a short pause keeps a flapping hub from being hammered.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// 0 when the task succeeded; else its exit code as a process can return it
/// (the low byte, as a shell sees it), or 1 when it has none.
pub fn exit_code_for(state: TaskState, exit_code: Option<i64>) -> ExitCode {
    if state == TaskState::Succeeded {
        return ExitCode::SUCCESS;
    }
    match exit_code.map(|code| (code & 0xff) as u8) {
        Some(code) if code != 0 => ExitCode::from(code),
        _ => ExitCode::FAILURE,
    }
}

/// `gantry node list`.
fn print_table(tasks: &[Task]) {
    println!(
        "{:<36}  {:<24} {:<10} {:<16} {:>4}  AGE",
        "ID", "NAME", "STATE", "NODE", "EXIT"
    );
    let now = now_ms();
    for task in tasks {
        println!(
            "{:<36}  {:<24} {:<10} {:<16} {:>4}  {}",
            task.id,
            truncate(&task.name, 24),
            task.state.as_str(),
            truncate(task.node.as_deref().unwrap_or("-"), 16),
            task.exit_code
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            age(now, task.created_at)
        );
    }
}

fn print_task(task: &Task) {
    println!("id:        {}", task.id);
    println!("name:      {}", task.name);
    println!("state:     {}", task.state);
    println!("node:      {}", task.node.as_deref().unwrap_or("-"));
    if let Some(code) = task.exit_code {
        println!("exit code: {code}");
    }
    if let Some(waiting) = &task.waiting {
        println!("waiting:   {waiting}");
    }
    if let Some(reason) = &task.reason {
        println!("reason:    {reason}");
    }
    if let Some(command) = task.pending_command {
        println!("requested: {} (waiting for the node)", command.as_str());
    }
    if let Some(progress) = task.pull_progress {
        println!("pulling:   {} of {} bytes", progress.done, progress.total);
    }
    println!("log:       {} bytes", task.log_size);
    if let Some(used) = &task.gpu_use {
        // e.g. `gpu use:   1 GPU · memory 3.0 GiB (peak 3.0 GiB) · … (final)`
        let when = if used.ended { "final" } else { "so far" };
        println!("gpu use:   {} ({when})", used.summary());
    }
    if let Some(usage) = &task.usage {
        // e.g. `usage:     wall 12.0 s · CPU 3.4 s · 1 GPU 12 GPU-s · 0.010 Wh`
        println!("usage:     {}", usage.summary());
    }
    if let Some(image) = &task.spec.image {
        println!("image:     {image}");
    }
    if !task.spec.command.is_empty() {
        println!("command:   {}", task.spec.command.join(" "));
    }
    for output in &task.outputs {
        println!(
            "output:    {} ({} bytes, sha256 {})",
            output.path, output.size, output.sha256
        );
    }
    if !task.history.is_empty() {
        println!("history:");
        let first = task.history[0].at;
        for step in &task.history {
            let reason = step
                .reason
                .as_deref()
                .map(|r| format!("  {r}"))
                .unwrap_or_default();
            let line = format!(
                "  +{:>8.1}s  {:<10}{reason}",
                (step.at - first) as f64 / 1000.0,
                step.state.as_str()
            );
            println!("{}", line.trim_end());
        }
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(width - 1).collect();
        out.push('…');
        out
    }
}

fn age(now: Millis, then: Millis) -> String {
    let secs = ((now - then) / 1000).max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86_400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}
