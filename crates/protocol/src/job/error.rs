//! Why a job file was refused, in words that say where and what to write
//! instead: a syntax error carries its line, column and key path with a
//! hint for that key; a file that parses but cannot be used lists every
//! problem by its key.

/// Why a job file was refused, with what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The text is not valid YAML or JSON, or a key holds the wrong kind of value.
    #[error("{}", syntax_message(.line, .column, .path, .message, .hint))]
    Syntax {
        /// 1-based line of the problem, when the parser knows it.
        line: Option<usize>,
        /// 1-based column of the problem, when the parser knows it.
        column: Option<usize>,
        /// The key path, such as `resources.gpus`, or empty at the top.
        path: String,
        /// The parser's words.
        message: String,
        /// What to write instead.
        hint: Option<String>,
    },
    /// The file parses, but some values cannot be used; each problem names its key.
    #[error("{}", invalid_message(.0))]
    Invalid(Vec<Problem>),
}

/// One problem in a job file that parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, such as `files[2].path`.
    pub path: String,
    /// What is wrong and what to write instead.
    pub message: String,
    /// Whether the job file's JSON Schema (and so the hub's OpenAPI
    /// document) states the rule broken; false for the few it cannot state
    /// whole: a path or a service name given twice, a zero or too small size
    /// or duration (stated for numbers, not for text such as "0s").
    pub stated: bool,
}

impl JobError {
    /// Whether the job breaks a rule its JSON Schema states. The hub answers
    /// such a job 400, and one that breaks only rules no schema can state
    /// 422, so that 400 always means "the document calls this invalid".
    pub fn breaks_schema(&self) -> bool {
        match self {
            JobError::Syntax { .. } => true,
            JobError::Invalid(problems) => problems.iter().any(|p| p.stated),
        }
    }
}

fn syntax_message(
    line: &Option<usize>,
    column: &Option<usize>,
    path: &str,
    message: &str,
    hint: &Option<String>,
) -> String {
    let mut out = String::new();
    if let (Some(line), Some(column)) = (line, column) {
        out.push_str(&format!("line {line}, column {column}: "));
    }
    if !path.is_empty() && path != "." {
        out.push_str(&format!("{path}: "));
    }
    out.push_str(message);
    if let Some(hint) = hint {
        out.push_str(&format!(" ({hint})"));
    }
    out
}

fn invalid_message(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("{}: {}", p.path, p.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The form a key expects, shown after a syntax error at that key.
fn hint_for(path: &str) -> Option<&'static str> {
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let leaf = leaf.split('[').next().unwrap_or(leaf);
    Some(match leaf {
        "command" => "write a list of strings, e.g. command: [\"python\", \"train.py\"]",
        "env" => "write a map of names to values, e.g. env: {EPOCHS: \"10\"}",
        "files" => {
            "write a list of {path, content} or {path, blob}, e.g. files: [{path: run.sh, content: \"echo hi\"}]"
        }
        "inputs" => "write a map of sha256 to path, e.g. inputs: {\"<sha256>\": data/train.csv}",
        "outputs" => "write a list of paths, e.g. outputs: [results/, model.pt]",
        "executor" => "write docker or process",
        "pull" => "write always or missing",
        "gpus" => "write a count (2), all, or a list of indices ([0, 1])",
        "cpus" => "write a number of cores, e.g. 2 or 0.5",
        "memory" | "shm" | "gpu_memory" => "write a size such as 512m or 8GiB",
        "gpu_share" | "executable" => "write true or false",
        "checkpoint" => "write a folder inside the task folder, e.g. checkpoint: ckpt",
        "timeout" => "write seconds or a duration such as 30m or 2h",
        "labels" => "write a list of labels, e.g. labels: [gpu]",
        "epilogue" | "always" | "on_pass" | "on_fail" => {
            "write epilogue: {always: [...], on_pass: [...], on_fail: [...]} with shell commands"
        }
        "services" => "write a list of {name, image, command, env}",
        "resources" => "write resources: {gpus, gpu_memory, gpu_share, cpus, memory, shm}",
        "" | "." => "a job file is a map with at least image and command",
        _ => return None,
    })
}

pub(super) fn syntax_error(
    line: Option<usize>,
    column: Option<usize>,
    path: String,
    message: String,
) -> JobError {
    let hint = hint_for(&path).map(str::to_owned);
    JobError::Syntax {
        line,
        column,
        path,
        message,
        hint,
    }
}

/// Parsers append "at line L column C" to their messages; the error carries
/// those numbers in its own fields, so the suffix is dropped to say it once.
pub(super) fn strip_position(message: &str) -> String {
    let cut = [" at line ", "at line "]
        .iter()
        .filter_map(|marker| message.find(marker))
        .min()
        .unwrap_or(message.len());
    message[..cut].trim_end().trim_end_matches(',').to_owned()
}
