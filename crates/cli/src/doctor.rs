//! `gantry doctor`: the agent's checks ([`gantry_agent::doctor`]) on this
//! machine, as lines for a person or as JSON for a script, with an exit
//! status by the worst: 0 all ok, 1 warnings, 2 failures.
//!
//! It resolves the agent's settings as `gantry agent start` does (flags,
//! GANTRY_ variables, agent.toml), so it judges the setup the agent would
//! run with. The token is used to ask the hub and never printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use gantry_agent::config::{Flags, default_config_file};
use gantry_agent::doctor::{self, CHECKS, Check, Setup, Status};

/// Arguments of `gantry doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print a JSON array of {name, status, message, fix} (status: ok,
    /// warning or failure) instead of lines.
    #[arg(long)]
    json: bool,
    /// The hub's address [env: GANTRY_SERVER, SERVER_ADDRESS; agent.toml: server].
    #[arg(long)]
    server: Option<String>,
    /// The agent's host dir [env: GANTRY_HOST_DIR, AGENT_HOST_DIR; agent.toml: host_dir].
    #[arg(long)]
    host_dir: Option<PathBuf>,
    /// The agent's TOML config file [env: GANTRY_CONFIG; default: ~/.config/gantry/agent.toml].
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    connection: crate::agent::Connection,
    /// Show only this check (repeatable); the exit status follows the checks shown.
    #[arg(long = "check", value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(CHECKS))]
    only: Vec<String>,
}

/// Runs `gantry doctor`.
pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let setup = Setup::resolve(
        Flags {
            server: args.server,
            host_dir: args.host_dir,
            config_file: args.config,
            ca_file: args.connection.ca_file,
            allow_insecure_http: args.connection.allow_insecure_http,
            ..Flags::default()
        },
        &|name| std::env::var(name).ok(),
        default_config_file(),
    );
    let mut checks = doctor::run(&setup).await;
    if !args.only.is_empty() {
        checks.retain(|check| args.only.contains(&check.name));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        print!("{}", lines(&checks));
    }
    Ok(ExitCode::from(doctor::exit_code(&checks)))
}

/// The checks as a person reads them: one line each, its fix under it,
/// and a count at the end.
fn lines(checks: &[Check]) -> String {
    let width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut text = String::new();
    for check in checks {
        text.push_str(&format!(
            "{:<8} {:<width$}  {}\n",
            check.status.word(),
            check.name,
            check.message
        ));
        if !check.fix.is_empty() {
            text.push_str(&format!("{:<8} {:<width$}  fix: {}\n", "", "", check.fix));
        }
    }
    let count = |status| checks.iter().filter(|c| c.status == status).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    text.push_str(&format!(
        "{}: {} ok, {}, {}\n",
        plural(checks.len(), "check"),
        count(Status::Ok),
        plural(count(Status::Warning), "warning"),
        plural(count(Status::Failure), "failure")
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_is_a_line_with_its_fix_under_it() {
        let text = lines(&[
            Check::ok("docker", "Docker 27.0 answers"),
            Check::failure("tls", "not trusted", "give --ca-file"),
        ]);
        assert_eq!(
            text,
            "ok       docker  Docker 27.0 answers\n\
             failure  tls     not trusted\n\
             \x20                fix: give --ca-file\n\
             2 checks: 1 ok, 0 warnings, 1 failure\n"
        );
    }
}
