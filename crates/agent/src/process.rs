//! The `process` executor: the command as a plain subprocess in the task's
//! folder, for machines without Docker (the Prefect agent's subprocess mode).
//!
//! The command gets its own process group, so cancel, pause and timeout reach
//! everything it started: SIGTERM/SIGKILL, SIGSTOP/SIGCONT go to the group.

use std::process::Stdio;

use bytes::Bytes;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::executor::{
    Chunk, Command, Control, Deadline, ExecError, Exit, Finished, LogSink, SECRET_ENV, Stream,
    StreamCounts, sleep_until,
};

/// Runs `command` to its end, sending its output to `sink`.
pub async fn run(
    command: &Command,
    control: &mut Control,
    sink: &LogSink,
) -> Result<Finished, ExecError> {
    let Some((program, args)) = command.argv.split_first() else {
        return Err(ExecError::Spawn(
            "the process executor needs a command: the program and its arguments".into(),
        ));
    };
    let mut child_command = tokio::process::Command::new(program);
    child_command
        .args(args)
        .current_dir(&command.work_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // The agent's own secrets never reach a task.
    for name in SECRET_ENV {
        child_command.env_remove(name);
    }
    child_command.envs(&command.env);
    let mut child = child_command.spawn().map_err(|error| {
        ExecError::Spawn(match error.kind() {
            std::io::ErrorKind::NotFound => {
                format!("\"{program}\" was not found; check the command and PATH")
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("\"{program}\" is not executable; check its permissions")
            }
            _ => format!("cannot start \"{program}\": {error}"),
        })
    })?;
    // `None` once the child was reaped; never 0, which would mean the agent's own group.
    let group = child.id().map(|id| Pid::from_raw(id as i32));
    let readers = [
        tokio::spawn(pump(
            child.stdout.take().expect("stdout is piped"),
            Stream::Stdout,
            sink.clone(),
        )),
        tokio::spawn(pump(
            child.stderr.take().expect("stderr is piped"),
            Stream::Stderr,
            sink.clone(),
        )),
    ];

    let mut deadline = Deadline::new(command.timeout);
    let mut stopping: Option<Exit> = None;
    let mut steerable = true;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = control.cancel.cancelled(), if stopping.is_none() => {
                stopping = Some(Exit::Canceled);
                terminate(group, &mut child, control).await;
            }
            _ = sleep_until(deadline.at()), if stopping.is_none() => {
                stopping = Some(Exit::TimedOut);
                terminate(group, &mut child, control).await;
            }
            changed = control.paused.changed(), if steerable => {
                if changed.is_err() {
                    // Nobody can pause this command any more.
                    steerable = false;
                    continue;
                }
                let pause = *control.paused.borrow_and_update();
                let signal = if pause { Signal::SIGSTOP } else { Signal::SIGCONT };
                if signal_group(group, signal) {
                    if pause { deadline.pause() } else { deadline.resume() }
                    let _ = control.frozen.send(pause);
                }
            }
        }
    };
    // The pipes close when every process of the group has exited or closed them.
    let mut output = StreamCounts::default();
    for (reader, stream) in readers.into_iter().zip([Stream::Stdout, Stream::Stderr]) {
        output.add(stream, reader.await.unwrap_or(0));
    }
    let exit = match stopping {
        Some(exit) => exit,
        None => {
            let status =
                status.map_err(|e| ExecError::Other(format!("lost track of the process: {e}")))?;
            Exit::Code(exit_code(status))
        }
    };
    Ok(Finished {
        exit,
        output,
        note: None,
    })
}

/// SIGTERM to the group, SIGKILL after the grace period. A frozen group is
/// thawed first, or it could not act on SIGTERM.
async fn terminate(group: Option<Pid>, child: &mut tokio::process::Child, control: &Control) {
    signal_group(group, Signal::SIGTERM);
    signal_group(group, Signal::SIGCONT);
    let grace = *control.grace.borrow();
    let _ = tokio::time::timeout(grace, child.wait()).await;
    // After the grace period, or after the leader exited: anything left in the group goes.
    signal_group(group, Signal::SIGKILL);
}

/// Signals the command's process group; `false` if there is none any more.
fn signal_group(group: Option<Pid>, signal: Signal) -> bool {
    group.is_some_and(|group| killpg(group, signal).is_ok())
}

fn exit_code(status: std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(signal)) => 128 + i64::from(signal),
        (None, None) => 1,
    }
}

/// Copies one stream to the sink in the sizes it arrives, never splitting
/// or joining lines, so binary output and huge lines pass unchanged.
/// Returns the bytes passed on.
async fn pump(mut pipe: impl AsyncRead + Unpin, stream: Stream, sink: LogSink) -> u64 {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut passed = 0;
    loop {
        match pipe.read(&mut buffer).await {
            Ok(0) | Err(_) => return passed,
            Ok(n) => {
                let chunk = Chunk {
                    stream,
                    bytes: Bytes::copy_from_slice(&buffer[..n]),
                };
                if sink.send(chunk).await.is_err() {
                    return passed;
                }
                passed += n as u64;
            }
        }
    }
}
