//! `gantry service install --print --supervisor`: the headless agent as a
//! supervisord `[program:gantry-agent]` section, as `prefect agent install`
//! prints a supervisord.conf — but naming the token's file, never the token.
//!
//! supervisord reads `command=` in three passes, and each word is written to
//! survive all of them: its config parser cuts inline comments (`;` or `#`
//! after whitespace), it expands `%(name)s`, and it splits the command with
//! Python's `shlex` (POSIX rules). So `%` is doubled, `;`, `#` and `'` are
//! backslash-escaped outside quotes, and the rest of an unusual word goes in
//! single quotes. A line break cannot be written at all and is refused.

use anyhow::bail;

/// The program's name in supervisord (`supervisorctl status gantry-agent`).
pub const PROGRAM: &str = "gantry-agent";

/// Who the program runs as: the person printing it, with their home, since
/// supervisord passes its own `HOME` otherwise (root's, as a system service),
/// and the agent finds agent.toml and its host dir from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// The user name, for `user=`.
    pub user: String,
    /// Their home folder, for `environment=HOME=…`.
    pub home: String,
}

impl Owner {
    /// The user running this command, and `HOME` (else their passwd home).
    pub fn current() -> anyhow::Result<Owner> {
        let uid = nix::unistd::getuid();
        let Some(user) = nix::unistd::User::from_uid(uid)? else {
            bail!(
                "user id {uid} has no name in the passwd database: supervisord's user= needs one"
            );
        };
        let home = std::env::var("HOME")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| user.dir.display().to_string());
        Ok(Owner {
            user: user.name,
            home,
        })
    }
}

/// The section for `command` (the agent's command line, word by word), run
/// by the person printing it, for the hub at `server`.
pub fn section(command: &[String], server: &str) -> anyhow::Result<String> {
    render(command, server, &Owner::current()?)
}

fn render(command: &[String], server: &str, owner: &Owner) -> anyhow::Result<String> {
    let words = command
        .iter()
        .map(|word| quote(word))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let user = &owner.user;
    if user.is_empty()
        || !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        bail!("the user name {user:?} cannot be written as supervisord's user=");
    }
    // `environment=` is split by shlex's non-POSIX rules: a double-quoted
    // value is one token, with no escapes inside.
    if owner.home.contains(['"', ';', '#', '\n', '\r']) {
        bail!(
            "the home folder {:?} cannot be written in supervisord's environment=; \
             print the section with HOME set to a folder without \", ; or #",
            owner.home
        );
    }
    let home = format!("\"{}\"", owner.home.replace('%', "%%"));
    // Comments hold no word of the command: only the server, on a line of its own.
    let server = server.replace(['\n', '\r'], " ");
    Ok(format!(
        "; Written by `gantry service install --print --supervisor`: the Gantry agent for the hub at\n\
         ; {server}, as a supervisord program. Save it in supervisord's include folder\n\
         ; (e.g. /etc/supervisor/conf.d/{PROGRAM}.conf) and run `supervisorctl update`.\n\
         ; The token stays in the file --token-file names (chmod 600); it is never written here.\n\
         [program:{PROGRAM}]\n\
         command={command}\n\
         user={user}\n\
         environment=HOME={home}\n\
         autostart=true\n\
         ; Restarted when it fails; not after a clean stop (0) or a token the hub refused (3).\n\
         autorestart=unexpected\n\
         exitcodes=0,3\n\
         startsecs=10\n\
         startretries=3\n\
         ; SIGTERM lets the agent leave running containers to be picked up at the next start.\n\
         stopsignal=TERM\n\
         stopwaitsecs=60\n\
         ; The agent's own log is on stderr; with --show-task-logs, its tasks' lines are on stdout.\n\
         redirect_stderr=false\n",
        command = words.join(" "),
    ))
}

/// One word as supervisord reads it back whole (see the module's notes).
fn quote(word: &str) -> anyhow::Result<String> {
    if word.contains(['\n', '\r']) {
        bail!(
            "{word:?} has a line break, which supervisord's config file cannot hold; \
             choose a value without one"
        );
    }
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-=:,@+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return Ok(word.to_owned());
    }
    let mut out = String::new();
    let mut quoted = false;
    for c in word.chars() {
        let escaped = matches!(c, ';' | '#' | '\'');
        if escaped == quoted {
            // Leave the quotes for an escaped character; open them for others.
            out.push('\'');
            quoted = !quoted;
        }
        if escaped {
            out.push('\\');
        }
        out.push(c);
    }
    if quoted {
        out.push('\'');
    }
    if out.is_empty() {
        out.push_str("''");
    }
    Ok(out.replace('%', "%%"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_words_are_quoted_for_shlex_and_escaped_for_the_parser() {
        assert_eq!(quote("--label").unwrap(), "--label");
        assert_eq!(quote("").unwrap(), "''");
        assert_eq!(quote("a b").unwrap(), "'a b'");
        assert_eq!(quote("it's").unwrap(), "'it'\\''s'");
        assert_eq!(quote("x ;y #z").unwrap(), "'x '\\;'y '\\#'z'");
        assert_eq!(quote(";").unwrap(), "\\;");
        assert_eq!(quote("50%").unwrap(), "'50%%'");
        assert!(
            quote("a\nb")
                .unwrap_err()
                .to_string()
                .contains("line break")
        );
    }

    #[test]
    fn the_section_names_the_owner_and_the_command() {
        let owner = Owner {
            user: "ana".into(),
            home: "/home/ana".into(),
        };
        let command = ["/usr/bin/gantry", "agent", "start", "--name", "lab 1"].map(String::from);
        let text = render(&command, "https://hub.example.com", &owner).unwrap();
        assert!(text.contains("\n[program:gantry-agent]\n"), "{text}");
        assert!(
            text.contains("\ncommand=/usr/bin/gantry agent start --name 'lab 1'\n"),
            "{text}"
        );
        assert!(text.contains("\nuser=ana\nenvironment=HOME=\"/home/ana\"\n"));
        assert!(text.contains("\nexitcodes=0,3\n"));
    }
}
