//! The control socket, `<host dir>/agent.sock`: whether an agent runs with
//! this host dir and answers on it ([`crate::control`]).

use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

use super::Check;
use crate::control::{self, Request};

/// The `control-socket` check.
pub async fn check(host_dir: &Path) -> Check {
    const NAME: &str = "control-socket";
    let path = host_dir.join("agent.sock");
    let shown = path.display();
    let start =
        "start it with `gantry agent start` (or the desktop app, or `gantry service install`)";
    match tokio::net::UnixStream::connect(&path).await {
        Ok(_) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Check::warning(
                NAME,
                format!(
                    "no agent is running with the host dir {}",
                    host_dir.display()
                ),
                start,
            );
        }
        Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
            return Check::warning(
                NAME,
                format!("{shown} is left from an agent that stopped; no agent answers on it"),
                format!("{start}; it replaces the old socket"),
            );
        }
        Err(error) if error.kind() == ErrorKind::PermissionDenied => {
            return Check::failure(
                NAME,
                format!("{shown} may not be opened by this user: the agent runs as another user"),
                "run gantry doctor (and gantry agent commands) as the user the agent runs as",
            );
        }
        Err(error) => {
            return Check::failure(
                NAME,
                format!("{shown} cannot be opened: {error}"),
                "stop any agent using this host dir, remove the socket, and start the agent again",
            );
        }
    }
    let asked = tokio::time::timeout(
        Duration::from_secs(5),
        control::request(host_dir, &Request::Status),
    )
    .await;
    match asked {
        Ok(Ok(answer)) => match answer.status {
            Some(status) if status.connected => Check::ok(
                NAME,
                format!(
                    "the agent {} answers on {shown}: connected to the hub, {} task{} held",
                    status.name,
                    status.tasks.len(),
                    if status.tasks.len() == 1 { "" } else { "s" }
                ),
            ),
            Some(status) => Check::warning(
                NAME,
                format!(
                    "the agent {} answers on {shown}, but its last call to the hub failed",
                    status.name
                ),
                "see the hub check above, and the agent's log in the host dir's logs folder",
            ),
            None => Check::failure(
                NAME,
                format!("something answers on {shown}, but not with an agent's status"),
                "stop the program holding the socket and start the agent again",
            ),
        },
        Ok(Err(error)) => Check::failure(
            NAME,
            format!("the agent on {shown} did not answer properly: {error}"),
            "restart the agent (an agent of another Gantry version may speak differently)",
        ),
        Err(_) => Check::failure(
            NAME,
            format!("the agent on {shown} did not answer within 5 s"),
            "restart the agent; if it stays stuck, look at its log in the host dir's logs folder",
        ),
    }
}
