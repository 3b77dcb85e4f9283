//! Settings' "Task isolation": how the desktop's own agent hardens its task
//! containers, the same settings the headless agent takes as
//! `--task-network`, `--task-network-allow`, `--read-only-root` and
//! `--task-pids-limit` (see [`gantry_agent::docker::hardening`]).
//!
//! `desktop.json` keeps them under the agent.toml keys' names; they fill the
//! agent's `hardening` where the environment and agent.toml leave the
//! default (a field either sets locks the whole section, as for the image
//! policy). The checks are the agent's, said in the screen's words.

use gantry_agent::docker::hardening::{DEFAULT_PIDS_LIMIT, Hardening, TaskNetwork};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The fewest processes a limit may leave: an image's entrypoint, a shell
/// and a few children need that many (the agent refuses fewer too).
const FEWEST_PIDS: u64 = 16;

/// What task containers may reach, as `--task-network` says it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkChoice {
    /// Everything this computer reaches (Docker's bridge).
    #[default]
    Full,
    /// The internet, but not this computer's private networks (except the
    /// hub's host and the ranges allowed).
    NoPrivate,
    /// No network at all.
    None,
}

impl From<TaskNetwork> for NetworkChoice {
    fn from(network: TaskNetwork) -> NetworkChoice {
        match network {
            TaskNetwork::Full => NetworkChoice::Full,
            TaskNetwork::NoPrivate => NetworkChoice::NoPrivate,
            TaskNetwork::None => NetworkChoice::None,
        }
    }
}

impl From<NetworkChoice> for TaskNetwork {
    fn from(choice: NetworkChoice) -> TaskNetwork {
        match choice {
            NetworkChoice::Full => TaskNetwork::Full,
            NetworkChoice::NoPrivate => TaskNetwork::NoPrivate,
            NetworkChoice::None => TaskNetwork::None,
        }
    }
}

/// The person's choice, as Settings edits it and `desktop.json` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
pub struct TaskIsolation {
    /// `--task-network`.
    pub task_network: NetworkChoice,
    /// `--task-network-allow`: private IPv4 ranges (CIDR) tasks may still
    /// reach under `no-private`.
    pub task_network_allow: Vec<String>,
    /// `--read-only-root`: the task's root file system read-only (`/tmp`
    /// and the task folder stay writable).
    pub read_only_root: bool,
    /// `--task-pids-limit`: at most this many processes in a task's
    /// container; 0: no limit.
    #[ts(type = "number")]
    pub task_pids_limit: u64,
}

impl Default for TaskIsolation {
    fn default() -> TaskIsolation {
        TaskIsolation::of(&Hardening::default())
    }
}

impl TaskIsolation {
    /// The choice the agent runs with now.
    pub fn of(hardening: &Hardening) -> TaskIsolation {
        TaskIsolation {
            task_network: hardening.network.into(),
            task_network_allow: hardening.network_allow.clone(),
            read_only_root: hardening.read_only_root,
            task_pids_limit: hardening.pids_limit,
        }
    }

    /// The agent's hardening for this choice.
    pub fn hardening(&self) -> Hardening {
        Hardening {
            pids_limit: self.task_pids_limit,
            read_only_root: self.read_only_root,
            network: self.task_network.into(),
            network_allow: self.task_network_allow.clone(),
        }
    }

    /// The choice as kept (allowed ranges trimmed, blank ones dropped), or
    /// a sentence saying what to fix.
    pub fn checked(self) -> Result<TaskIsolation, String> {
        if (1..FEWEST_PIDS).contains(&self.task_pids_limit) {
            return Err(format!(
                "At most {} processes is too few for a task's programs to start; give \
                 {FEWEST_PIDS} or more (Gantry's default is {DEFAULT_PIDS_LIMIT}), or 0 for no limit",
                self.task_pids_limit
            ));
        }
        let allow: Vec<String> = self
            .task_network_allow
            .iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        if let Some(bad) = allow.iter().find(|r| !is_ipv4_range(r)) {
            return Err(format!(
                "\"{bad}\" is not an IPv4 address or range; write e.g. 192.168.1.0/24 or 10.0.0.5"
            ));
        }
        if !allow.is_empty() && self.task_network != NetworkChoice::NoPrivate {
            return Err(
                "Private ranges tasks may still reach only apply to \"The internet, not my \
                 private networks\": choose it, or empty the list"
                    .into(),
            );
        }
        Ok(TaskIsolation {
            task_network_allow: allow,
            ..self
        })
    }
}

/// `a.b.c.d` or `a.b.c.d/n` (n up to 32), as the agent reads them.
fn is_ipv4_range(text: &str) -> bool {
    let (address, prefix) = text.split_once('/').unwrap_or((text, "32"));
    address.parse::<std::net::Ipv4Addr>().is_ok() && prefix.parse::<u8>().is_ok_and(|n| n <= 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_agents_and_a_choice_goes_there_and_back() {
        assert_eq!(TaskIsolation::default().hardening(), Hardening::default());
        let choice = TaskIsolation {
            task_network: NetworkChoice::NoPrivate,
            task_network_allow: vec![" 192.168.1.0/24 ".into(), "".into(), "10.0.0.5".into()],
            read_only_root: true,
            task_pids_limit: 0,
        }
        .checked()
        .unwrap();
        assert_eq!(choice.task_network_allow, ["192.168.1.0/24", "10.0.0.5"]);
        let hardening = choice.hardening();
        assert_eq!(hardening.network, TaskNetwork::NoPrivate);
        assert!(hardening.read_only_root);
        assert_eq!(hardening.pids_limit, 0, "0 is no limit");
        assert_eq!(TaskIsolation::of(&hardening), choice);
    }

    #[test]
    fn the_network_is_written_as_the_flag_writes_it() {
        for (choice, text) in [
            (NetworkChoice::Full, "full"),
            (NetworkChoice::NoPrivate, "no-private"),
            (NetworkChoice::None, "none"),
        ] {
            assert_eq!(serde_json::to_value(choice).unwrap(), text);
            assert_eq!(TaskNetwork::from(choice).as_str(), text);
        }
        // desktop.json as an older app wrote it (no section) reads as the default.
        let kept: TaskIsolation = serde_json::from_str("{\"read_only_root\": true}").unwrap();
        assert_eq!(kept.task_network, NetworkChoice::Full);
        assert_eq!(kept.task_pids_limit, DEFAULT_PIDS_LIMIT);
    }

    #[test]
    fn bad_choices_say_what_to_fix() {
        let few = TaskIsolation {
            task_pids_limit: 3,
            ..TaskIsolation::default()
        };
        assert!(few.checked().unwrap_err().contains("give 16 or more"));
        let bad_range = TaskIsolation {
            task_network: NetworkChoice::NoPrivate,
            task_network_allow: vec!["10.0.0.0/33".into()],
            ..TaskIsolation::default()
        };
        let said = bad_range.checked().unwrap_err();
        assert!(said.contains("\"10.0.0.0/33\" is not an IPv4"), "{said}");
        let allow_without_no_private = TaskIsolation {
            task_network: NetworkChoice::None,
            task_network_allow: vec!["192.168.1.0/24".into()],
            ..TaskIsolation::default()
        };
        let said = allow_without_no_private.checked().unwrap_err();
        assert!(said.contains("choose it, or empty the list"), "{said}");
        // Blank entries are not ranges: none is fine under any network.
        let blank = TaskIsolation {
            task_network: NetworkChoice::None,
            task_network_allow: vec![" ".into()],
            ..TaskIsolation::default()
        };
        assert!(blank.checked().unwrap().task_network_allow.is_empty());
    }
}
