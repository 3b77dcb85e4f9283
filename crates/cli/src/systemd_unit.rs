//! `gantry service install | uninstall | status`: the headless agent as a
//! systemd user service, started at login (or at boot with lingering).
//!
//! The unit names the token's file, never the token: the token is kept in a
//! file only its owner can read (`~/.config/gantry/node-token`, 0600) unless
//! the person names one of their own with `--token-file`.
//!
//! Every other option of `gantry agent start` the person gives goes into the
//! unit's command line ([`AgentOptions`], which both commands flatten), checked
//! first by the agent's own resolution so a bad value fails here.
//!
//! `install --print` writes the unit to stdout and changes nothing (no token
//! is asked for or kept, systemd is not asked); `--supervisor` prints the same
//! command as a supervisord program section instead
//! ([`crate::supervisor_program`]), as `prefect agent install` prints a
//! supervisord.conf.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use gantry_agent::config::{AgentConfig, Flags, default_config_file};

use crate::agent_args::AgentOptions;

/// The unit's name.
pub const UNIT: &str = "gantry-agent.service";

/// Arguments of `gantry service install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The hub's address [env: GANTRY_SERVER, SERVER_ADDRESS; or agent.toml].
    #[arg(long)]
    server: Option<String>,
    /// A file holding the node token, readable only by you (chmod 600). Without
    /// it, the token comes from GANTRY_TOKEN or is read from stdin, and is kept
    /// in ~/.config/gantry/node-token (0600).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Every other option of `gantry agent start`, written into the unit's
    /// command line as given.
    #[command(flatten)]
    pub(crate) options: AgentOptions,
    /// Write and enable the unit but do not start it now.
    #[arg(long, conflicts_with = "print")]
    no_start: bool,
    /// Print the unit to stdout instead of installing it: nothing is written,
    /// no token is asked for, systemd is not asked. The unit reads the token from
    /// --token-file, else ~/.config/gantry/node-token (put it there, chmod 600).
    #[arg(long)]
    print: bool,
    /// With --print: print a supervisord [program:gantry-agent] section
    /// instead of the systemd unit, for supervisord's conf.d.
    #[arg(long, requires = "print")]
    supervisor: bool,
}

/// Where the unit and the token file go.
#[derive(Debug, Clone)]
struct Places {
    /// `$XDG_CONFIG_HOME/systemd/user/gantry-agent.service`.
    unit: PathBuf,
    /// `$XDG_CONFIG_HOME/gantry/node-token`.
    token: PathBuf,
}

impl Places {
    fn from_env() -> anyhow::Result<Places> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .context("neither XDG_CONFIG_HOME nor HOME is set: cannot tell where user units go")?;
        Ok(Places {
            unit: config.join("systemd/user").join(UNIT),
            token: config.join("gantry/node-token"),
        })
    }
}

/// The settings the unit's command line carries.
#[derive(Debug, Clone, PartialEq)]
struct Service {
    gantry: PathBuf,
    server: String,
    token_file: PathBuf,
    /// The agent's other options, as command-line words ([`AgentOptions::words`]).
    options: Vec<String>,
}

/// Quotes one word of a unit's command line as systemd reads it.
fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,@+".contains(c));
    if plain {
        word.to_owned()
    } else {
        // systemd takes C-style escapes inside double quotes; `%` and `$`
        // would be specifiers and variables.
        let escaped = word
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('%', "%%")
            .replace('$', "$$");
        format!("\"{escaped}\"")
    }
}

impl Service {
    /// The agent's command line, word by word.
    fn command(&self) -> Vec<String> {
        let mut command = vec![
            self.gantry.display().to_string(),
            "agent".into(),
            "start".into(),
            "--server".into(),
            self.server.clone(),
            "--token-file".into(),
            self.token_file.display().to_string(),
        ];
        command.extend(self.options.iter().cloned());
        command
    }

    /// The unit file's text.
    fn unit(&self) -> String {
        let exec: Vec<String> = self.command().iter().map(|w| quote(w)).collect();
        format!(
            "# Written by `gantry service install`; `gantry service uninstall` removes it.\n\
             [Unit]\n\
             Description=Gantry agent: runs tasks from the hub at {server}\n\
             After=network-online.target\n\
             Wants=network-online.target\n\
             \n\
             [Service]\n\
             Type=simple\n\
             ExecStart={exec}\n\
             # SIGTERM lets the agent leave running containers to be picked up at the next start.\n\
             KillSignal=SIGTERM\n\
             TimeoutStopSec=60\n\
             Restart=on-failure\n\
             RestartSec=5\n\
             # A refused token (exit 3) will not get better by restarting.\n\
             RestartPreventExitStatus=3\n\
             \n\
             [Install]\n\
             WantedBy=default.target\n",
            server = self.server.replace('%', "%%"),
            exec = exec.join(" "),
        )
    }
}

/// Runs `systemctl --user ARGS`; the program can be replaced with
/// GANTRY_SYSTEMCTL (tests, other service managers' shims).
fn systemctl(args: &[&str]) -> anyhow::Result<std::process::Output> {
    let program = std::env::var_os("GANTRY_SYSTEMCTL").unwrap_or_else(|| "systemctl".into());
    std::process::Command::new(&program)
        .arg("--user")
        .args(args)
        .output()
        .with_context(|| {
            format!(
                "cannot run {} (is systemd installed?)",
                Path::new(&program).display()
            )
        })
}

/// Runs `systemctl --user ARGS` and fails with its words when it fails.
fn systemctl_ok(args: &[&str]) -> anyhow::Result<()> {
    let out = systemctl(args)?;
    if !out.status.success() {
        bail!(
            "systemctl --user {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Writes `text` to `path` readable only by its owner.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// The token to keep: GANTRY_TOKEN, else one line from stdin.
fn read_token() -> anyhow::Result<String> {
    if let Some(token) = std::env::var("GANTRY_TOKEN")
        .ok()
        .or_else(|| std::env::var("ACCESS_TOKEN").ok())
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(token.trim().to_owned());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Paste the node token (from `gantry hub node add NAME`) and press Enter: ");
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the token from stdin")?;
    let token = line.trim().to_owned();
    if token.is_empty() {
        bail!(
            "no token: pass --token-file FILE, set GANTRY_TOKEN, or pipe the token in (gantry service install < token-file)"
        );
    }
    Ok(token)
}

/// `gantry service install`.
pub fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let places = Places::from_env()?;
    // The same resolution as `gantry agent start`, so that what the unit will
    // run is checked now: a bad setting fails here, not in the journal.
    let resolved = AgentConfig::resolve(
        args.options.clone().into_flags(Flags {
            server: args.server.clone(),
            token_file: args.token_file.clone(),
            ..Flags::default()
        }),
        &|name| std::env::var(name).ok(),
        default_config_file(),
    )?;
    let Some(server) = resolved.server.clone() else {
        bail!("which hub? pass --server https://hub.example.com (or set GANTRY_SERVER)");
    };
    // The agent would refuse at each start; say it once, here.
    if !resolved.allow_insecure_http && gantry_client::in_clear(&server) {
        bail!("{}", gantry_client::in_clear_refusal(&server));
    }
    let token_file = match args.token_file {
        Some(path) => std::path::absolute(&path)
            .with_context(|| format!("cannot resolve {}", path.display()))?,
        // Printing changes nothing: the token stays wherever it is.
        None if args.print => {
            if !places.token.exists() {
                eprintln!(
                    "note: the service reads the token from {}, which does not exist yet: \
                     put the node token there (chmod 600), or print again with --token-file FILE",
                    places.token.display()
                );
            }
            places.token.clone()
        }
        None => {
            let token = read_token()?;
            write_private(&places.token, &format!("{token}\n"))?;
            eprintln!(
                "kept the token in {} (readable only by you)",
                places.token.display()
            );
            places.token.clone()
        }
    };
    let gantry = std::env::current_exe()
        .context("cannot tell where this gantry binary is")?
        .canonicalize()
        .context("cannot resolve this gantry binary's path")?;
    let service = Service {
        gantry,
        server,
        token_file,
        options: args.options.made_absolute()?.words(),
    };
    if args.print {
        let text = if args.supervisor {
            crate::supervisor_program::section(&service.command(), &service.server)?
        } else {
            service.unit()
        };
        print!("{text}");
        return Ok(ExitCode::SUCCESS);
    }
    write_private(&places.unit, &service.unit())?;
    println!("wrote {}", places.unit.display());
    let manager = systemctl_ok(&["daemon-reload"]).and_then(|()| {
        if args.no_start {
            systemctl_ok(&["enable", UNIT])
        } else {
            systemctl_ok(&["enable", "--now", UNIT])
        }
    });
    if let Err(error) = manager {
        eprintln!(
            "error: the unit is written but systemd did not take it: {error:#}\n\
             With a user session (systemctl --user works), run: systemctl --user daemon-reload && systemctl --user enable --now {UNIT}"
        );
        return Ok(ExitCode::FAILURE);
    }
    println!(
        "{UNIT} is enabled{}; it starts when you log in. To keep it running without a login session: loginctl enable-linger $USER",
        if args.no_start { "" } else { " and started" }
    );
    Ok(ExitCode::SUCCESS)
}

/// `gantry service uninstall`: stops and disables the unit, removes it and the
/// token file `install` wrote. The host dir (tasks, results, logs) stays.
pub fn uninstall() -> anyhow::Result<ExitCode> {
    let places = Places::from_env()?;
    if !places.unit.exists() {
        println!(
            "{UNIT} is not installed ({} does not exist)",
            places.unit.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Err(error) = systemctl_ok(&["disable", "--now", UNIT]) {
        eprintln!("warning: {error:#}; removing the unit anyway");
    }
    std::fs::remove_file(&places.unit)
        .with_context(|| format!("cannot remove {}", places.unit.display()))?;
    println!("removed {}", places.unit.display());
    if places.token.exists() {
        std::fs::remove_file(&places.token)
            .with_context(|| format!("cannot remove {}", places.token.display()))?;
        println!("removed {}", places.token.display());
    }
    let _ = systemctl_ok(&["daemon-reload"]);
    println!(
        "the agent's storage folder is kept; delete it yourself if you no longer need its results"
    );
    Ok(ExitCode::SUCCESS)
}

/// `gantry service status`: whether the unit is installed, enabled and
/// running, as systemd says.
pub fn status() -> anyhow::Result<ExitCode> {
    let places = Places::from_env()?;
    if !places.unit.exists() {
        println!("{UNIT}: not installed (gantry service install sets it up)");
        return Ok(ExitCode::from(3));
    }
    println!("{UNIT}: installed at {}", places.unit.display());
    let word = |args: &[&str]| {
        systemctl(args)
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "unknown (systemctl --user does not answer)".into())
    };
    let enabled = word(&["is-enabled", UNIT]);
    let active = word(&["is-active", UNIT]);
    println!("enabled: {enabled}");
    println!("active: {active}");
    Ok(if active == "active" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    fn service() -> Service {
        Service {
            gantry: PathBuf::from("/usr/bin/gantry"),
            server: "https://hub.example.com".into(),
            token_file: PathBuf::from("/home/ana/.config/gantry/node-token"),
            options: words(&[
                "--host-dir",
                "/data/gantry agent",
                "--name",
                "lab 1",
                "--label",
                "gpu=4090",
                "--label",
                "50%",
                "--max-tasks",
                "2",
            ]),
        }
    }

    #[test]
    fn the_unit_names_the_token_file_and_quotes_what_needs_it() {
        let unit = service().unit();
        let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        assert_eq!(
            exec,
            "ExecStart=/usr/bin/gantry agent start --server https://hub.example.com \
             --token-file /home/ana/.config/gantry/node-token --host-dir \"/data/gantry agent\" \
             --name \"lab 1\" --label gpu=4090 --label \"50%%\" --max-tasks 2"
        );
        assert!(unit.contains("WantedBy=default.target"));
        assert!(unit.contains("KillSignal=SIGTERM"));
        let unit = Service {
            options: words(&[
                "--quiet-hours",
                "mon-fri 09:00-18:00",
                "--allowed-images",
                "registry.example.com/**",
                "--metrics-listen",
                "127.0.0.1:9101",
            ]),
            ..service()
        }
        .unit();
        let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        assert!(
            exec.ends_with(
                "node-token --quiet-hours \"mon-fri 09:00-18:00\" \
                 --allowed-images \"registry.example.com/**\" --metrics-listen 127.0.0.1:9101"
            ),
            "{exec}"
        );
    }

    #[test]
    fn quoting_keeps_specifiers_and_variables_literal() {
        assert_eq!(quote("plain-word_1.0"), "plain-word_1.0");
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("$HOME"), "\"$$HOME\"");
        assert_eq!(quote("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(quote(""), "\"\"");
    }
}
