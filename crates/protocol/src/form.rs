//! The New task form: a job written as a few lines of text (a command line,
//! `NAME=value` lines, a GPU request) rather than as a job file.
//!
//! The form's words are read here, beside the job file's rules, and the job
//! they make goes through [`JobSpec::parse`]: a task made with the form is
//! checked exactly like the same task written as a file, and the desktop app
//! (its local mode's New task screen) holds no rules of its own.

use std::collections::BTreeMap;

use crate::job::{Format, Gpus, JobError, JobSpec};

/// The New task form as the person filled it in.
#[derive(Debug, Clone, Copy)]
pub struct TaskForm<'a> {
    /// A name; the image's when empty.
    pub name: &'a str,
    /// The image.
    pub image: &'a str,
    /// The command line, split by [`split_command`]; the image's own command
    /// when empty.
    pub command: &'a str,
    /// Environment variables, `NAME=value` each; empty lines are skipped.
    pub env: &'a [String],
    /// The GPUs, read by [`gpus`].
    pub gpus: &'a str,
}

/// Why the form does not make a job. Each message is a sentence for the
/// person, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// No image was given.
    #[error("Enter an image, e.g. python:3.12-slim")]
    NoImage,
    /// The command line's quotes do not close.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// An environment line has no `=`.
    #[error("\"{0}\" is not NAME=value; write one variable per line")]
    EnvLine(String),
    /// The GPU field is none of the forms it takes.
    #[error("GPUs: \"{0}\" is not none, all, a count (2) or device numbers (0,1)")]
    Gpus(String),
    /// The job the form makes breaks a job file's rules.
    #[error(transparent)]
    Job(#[from] JobError),
}

/// Why a command line cannot be split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A `'` is never closed.
    #[error("the command has a ' without its closing '")]
    OpenSingleQuote,
    /// A `"` is never closed.
    #[error("the command has a \" without its closing \"")]
    OpenDoubleQuote,
    /// The line ends on a `\` inside double quotes.
    #[error("the command ends inside a \"…\"")]
    EndsInsideQuotes,
}

impl TaskForm<'_> {
    /// The job the form describes, checked like a job file.
    pub fn to_spec(&self) -> Result<JobSpec, FormError> {
        let image = self.image.trim();
        if image.is_empty() {
            return Err(FormError::NoImage);
        }
        let command = split_command(self.command)?;
        let env = env_lines(self.env)?;
        let gpus = gpus(self.gpus)?;
        let mut job = serde_json::json!({ "image": image, "command": command, "env": env });
        let name = self.name.trim();
        if !name.is_empty() {
            job["name"] = name.into();
        }
        if let Some(gpus) = gpus {
            job["resources"] = serde_json::json!({ "gpus": gpus });
        }
        Ok(JobSpec::parse(&job.to_string(), Format::Json)?)
    }
}

/// Splits a command line as a shell would for words and quotes (no
/// variables, globs or pipes: the command runs without a shell).
pub fn split_command(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(CommandError::OpenSingleQuote),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(CommandError::EndsInsideQuotes),
                        },
                        Some(c) => word.push(c),
                        None => return Err(CommandError::OpenDoubleQuote),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Reads `NAME=value` lines: the line is trimmed, then split at its first
/// `=`; the name is trimmed, the value kept as written. Empty lines are
/// skipped; a later line wins over an earlier one with the same name.
pub fn env_lines(lines: &[String]) -> Result<BTreeMap<String, String>, FormError> {
    let mut env = BTreeMap::new();
    for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once('=') else {
            return Err(FormError::EnvLine(line.to_owned()));
        };
        env.insert(name.trim().to_owned(), value.to_owned());
    }
    Ok(env)
}

/// Reads the GPU field: empty, `none` or `0` ask for none; `all`; a count
/// (`2`); or device numbers (`0,1`).
pub fn gpus(text: &str) -> Result<Option<Gpus>, FormError> {
    let text = text.trim();
    if text.is_empty() || text == "none" || text == "0" {
        return Ok(None);
    }
    if text == "all" {
        return Ok(Some(Gpus::All));
    }
    if let Ok(count) = text.parse::<u32>() {
        return Ok(Some(Gpus::Count(count)));
    }
    text.split(',')
        .map(|i| i.trim().parse())
        .collect::<Result<Vec<u32>, _>>()
        .map(|indices| Some(Gpus::Indices(indices)))
        .map_err(|_| FormError::Gpus(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_like_a_shell_would() {
        assert_eq!(
            split_command(r#"python -c 'print("hi there")' --n=3 "a b" c\ d"#).unwrap(),
            [
                "python",
                "-c",
                r#"print("hi there")"#,
                "--n=3",
                "a b",
                "c d"
            ]
        );
        assert_eq!(split_command("  ").unwrap(), Vec::<String>::new());
        assert_eq!(split_command(r#"echo "" x"#).unwrap(), ["echo", "", "x"]);
        assert_eq!(
            split_command(r#"echo "a\"b\$c\n""#).unwrap(),
            ["echo", r#"a"b$c\n"#]
        );
        assert_eq!(
            split_command("echo 'oops"),
            Err(CommandError::OpenSingleQuote)
        );
        assert_eq!(
            split_command("echo \"oops"),
            Err(CommandError::OpenDoubleQuote)
        );
        assert_eq!(
            split_command("echo \"oops\\"),
            Err(CommandError::EndsInsideQuotes)
        );
    }

    #[test]
    fn env_lines_are_name_equals_value() {
        let lines = ["A=1", "", "  B = x=y ", "A=2"].map(String::from);
        let env = env_lines(&lines).unwrap();
        assert_eq!(
            env.get("A").map(String::as_str),
            Some("2"),
            "the later wins"
        );
        assert_eq!(env.get("B").map(String::as_str), Some(" x=y"));
        assert_eq!(
            env_lines(&["NOEQUALS".into()]),
            Err(FormError::EnvLine("NOEQUALS".into()))
        );
    }

    #[test]
    fn gpus_are_none_all_a_count_or_indices() {
        for none in ["", " ", "none", "0"] {
            assert_eq!(gpus(none).unwrap(), None, "{none:?}");
        }
        assert_eq!(gpus("all").unwrap(), Some(Gpus::All));
        assert_eq!(gpus(" 2 ").unwrap(), Some(Gpus::Count(2)));
        assert_eq!(gpus("0, 1").unwrap(), Some(Gpus::Indices(vec![0, 1])));
        for bad in ["two", "1,x", "-1", "ALL"] {
            assert_eq!(gpus(bad), Err(FormError::Gpus(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn the_new_task_form_makes_a_checked_job() {
        let env = ["A=1".into(), "".into(), "B=x=y".into()];
        let form = |gpus| TaskForm {
            name: "train",
            image: "python:3.12-slim",
            command: "python -c 'print(1)'",
            env: &env,
            gpus,
        };
        let spec = form("2").to_spec().unwrap();
        assert_eq!(spec.name.as_deref(), Some("train"));
        assert_eq!(spec.command, ["python", "-c", "print(1)"]);
        assert_eq!(spec.env.get("B").map(String::as_str), Some("x=y"));
        assert_eq!(spec.resources.gpus, Some(Gpus::Count(2)));
        assert_eq!(
            form("0, 1").to_spec().unwrap().resources.gpus,
            Some(Gpus::Indices(vec![0, 1]))
        );
        assert_eq!(
            form("all").to_spec().unwrap().resources.gpus,
            Some(Gpus::All)
        );
        assert_eq!(form("").to_spec().unwrap().resources.gpus, None);
        let no_equals = ["NOEQUALS".into()];
        for (change, says) in [
            (
                TaskForm {
                    image: " ",
                    ..form("")
                },
                "Enter an image",
            ),
            (
                TaskForm {
                    env: &no_equals,
                    ..form("")
                },
                "NAME=value",
            ),
            (form("two"), "GPUs"),
            (
                TaskForm {
                    command: "echo 'x",
                    ..form("")
                },
                "closing",
            ),
        ] {
            let message = change.to_spec().unwrap_err().to_string();
            assert!(message.contains(says), "{message}");
        }
        // The job file's own rules apply: an empty variable name, say.
        let empty_name = ["=x".into()];
        let error = TaskForm {
            env: &empty_name,
            ..form("")
        }
        .to_spec();
        assert!(matches!(error, Err(FormError::Job(_))), "{error:?}");
    }
}
