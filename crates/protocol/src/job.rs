//! The job file: what a person writes to ask for a task.
//!
//! A job file is YAML or JSON with the keys of [`JobSpec`]. Unknown keys are
//! errors, syntax errors carry a line and column, and every error ends with
//! what to write instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::is_sha256_hex;
use crate::units::{ByteSize, Seconds};

/// A task as a person asks for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// A short name shown in lists and notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The container image (executor `docker`), e.g. `pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The command and its arguments, run without a shell. Empty means the image's own command.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Environment variables for the command. Numbers and booleans are written as text.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "env_map"
    )]
    pub env: BTreeMap<String, String>,
    /// Files written into the task folder before the command starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSpec>,
    /// Blobs stored on the hub, by sha256, and the path each is placed at (read-only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, String>,
    /// Paths, relative to the task folder, collected as results when the command ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// How the command is run.
    #[serde(default)]
    pub executor: Executor,
    /// Limits and devices for the command.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// The task fails when its command runs longer than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    /// Only nodes carrying every one of these labels take the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// When to pull the image; the node's setting (PULL_ALWAYS) decides when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullPolicy>,
    /// Shell commands run after the main command, with the task's files.
    #[serde(default, skip_serializing_if = "Epilogue::is_empty")]
    pub epilogue: Epilogue,
    /// Side containers started first on a private network, reachable by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
}

/// A file placed in the task folder: given inline, or a blob stored on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Where the file goes, relative to the task folder.
    pub path: String,
    /// The file's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// The sha256 of a blob on the hub holding the file's bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<String>,
    /// Whether the file may be executed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
}

/// How a task's command is run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Executor {
    /// In a Docker container made from `image`.
    #[default]
    Docker,
    /// As a plain subprocess in the task folder, for machines without Docker.
    Process,
}

/// When the image is pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PullPolicy {
    /// Pull before every task, so a moved tag is followed.
    Always,
    /// Pull only when the image is not on the node yet.
    Missing,
}

/// Limits and devices for a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// NVIDIA GPUs: a count, `all`, or a list of device indices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    /// CPU cores, fractions allowed (`1.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    /// Size of /dev/shm, which data loaders use to share batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm: Option<ByteSize>,
}

impl Resources {
    fn is_empty(&self) -> bool {
        self == &Resources::default()
    }
}

/// Which GPUs a task gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gpus {
    /// Any this many GPUs.
    Count(u32),
    /// Every GPU of the node.
    All,
    /// These device indices.
    Indices(Vec<u32>),
}

/// Shell commands run after the main command; their failure is recorded but
/// does not change the task's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Epilogue {
    /// Run whatever the result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub always: Vec<String>,
    /// Run when the main command succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_pass: Vec<String>,
    /// Run when the main command failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_fail: Vec<String>,
}

impl Epilogue {
    fn is_empty(&self) -> bool {
        self.always.is_empty() && self.on_pass.is_empty() && self.on_fail.is_empty()
    }
}

/// A side container, such as a database the task talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// The host name the task reaches it by.
    pub name: String,
    /// Its image.
    pub image: String,
    /// Its command; empty means the image's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Its environment.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "env_map"
    )]
    pub env: BTreeMap<String, String>,
}

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
        "memory" | "shm" => "write a size such as 512m or 8GiB",
        "timeout" => "write seconds or a duration such as 30m or 2h",
        "labels" => "write a list of labels, e.g. labels: [gpu]",
        "epilogue" | "always" | "on_pass" | "on_fail" => {
            "write epilogue: {always: [...], on_pass: [...], on_fail: [...]} with shell commands"
        }
        "services" => "write a list of {name, image, command, env}",
        "resources" => "write resources: {gpus, cpus, memory, shm}",
        "" | "." => "a job file is a map with at least image and command",
        _ => return None,
    })
}

/// Which syntax a job file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (which also reads most JSON).
    Yaml,
    /// JSON, with JSON's own error positions.
    Json,
}

impl Format {
    /// Picks the format from a file name: `.json` is JSON, anything else YAML.
    pub fn from_file_name(name: &str) -> Format {
        if name.to_ascii_lowercase().ends_with(".json") {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

impl JobSpec {
    /// Parses and checks a job file.
    pub fn parse(text: &str, format: Format) -> Result<JobSpec, JobError> {
        if text.trim().is_empty() {
            return Err(JobError::Syntax {
                line: None,
                column: None,
                path: String::new(),
                message: "the job file is empty".into(),
                hint: Some("a job file is a map with at least image and command, e.g. image: busybox, command: [echo, hi]".into()),
            });
        }
        let spec = match format {
            Format::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize::<_, JobSpec>(&mut de).map_err(|err| {
                    let path = err.path().to_string();
                    let inner = err.into_inner();
                    let (line, column) = (inner.line(), inner.column());
                    syntax_error(
                        Some(line),
                        Some(column),
                        path,
                        strip_position(&inner.to_string()),
                    )
                })?
            }
            Format::Yaml => {
                let de = serde_norway::Deserializer::from_str(text);
                serde_path_to_error::deserialize::<_, JobSpec>(de).map_err(|err| {
                    let path = err.path().to_string();
                    let inner = err.into_inner();
                    let location = inner.location();
                    // serde_norway puts the key path in front of its message; the
                    // error carries the path in its own field, so it is said once.
                    let message = strip_position(&inner.to_string());
                    let message = message
                        .strip_prefix(&format!("{path}: "))
                        .unwrap_or(&message)
                        .to_owned();
                    syntax_error(
                        location.as_ref().map(|l| l.line()),
                        location.as_ref().map(|l| l.column()),
                        path,
                        message,
                    )
                })?
            }
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks the values of a parsed job; [`JobSpec::parse`] calls it, and the
    /// hub calls it on every job it receives as JSON.
    pub fn validate(&self) -> Result<(), JobError> {
        let mut problems = Vec::new();
        let mut problem = |path: String, message: String| problems.push(Problem { path, message });

        if let Some(name) = &self.name
            && name.chars().count() > 200
        {
            problem(
                "name".into(),
                "is longer than 200 characters; shorten it".into(),
            );
        }
        match self.executor {
            Executor::Docker => match &self.image {
                None => problem(
                    "image".into(),
                    "is required for the docker executor; add e.g. image: busybox:latest".into(),
                ),
                Some(image) if image.trim().is_empty() || image.contains(char::is_whitespace) => {
                    problem(
                        "image".into(),
                        format!("\"{image}\" is not an image reference; write e.g. ubuntu:24.04"),
                    )
                }
                Some(_) => {}
            },
            Executor::Process => {
                if self.command.is_empty() {
                    problem(
                        "command".into(),
                        "is required for the process executor: the program and its arguments"
                            .into(),
                    );
                }
                if !self.services.is_empty() {
                    problem(
                        "services".into(),
                        "need the docker executor; remove them or set executor: docker".into(),
                    );
                }
                if self.resources.gpus.is_some() || self.resources.shm.is_some() {
                    problem(
                        "resources".into(),
                        "gpus and shm need the docker executor; remove them or set executor: docker".into(),
                    );
                }
            }
        }
        if self.command.iter().any(|arg| arg.contains('\0')) {
            problem(
                "command".into(),
                "an argument contains a NUL byte; remove it".into(),
            );
        }
        for (key, value) in &self.env {
            if let Some(message) = env_name_problem(key) {
                problem(format!("env.{key}"), message);
            }
            if value.contains('\0') {
                problem(
                    format!("env.{key}"),
                    "the value contains a NUL byte; remove it".into(),
                );
            }
        }
        let mut placed = BTreeSet::new();
        for (i, file) in self.files.iter().enumerate() {
            if let Some(message) = relative_path_problem(&file.path) {
                problem(format!("files[{i}].path"), message);
            } else if !placed.insert(normalize(&file.path)) {
                problem(
                    format!("files[{i}].path"),
                    format!("\"{}\" is given twice; keep one", file.path),
                );
            }
            match (&file.content, &file.blob) {
                (Some(_), Some(_)) => problem(
                    format!("files[{i}]"),
                    "has both content and blob; keep one".into(),
                ),
                (None, None) => problem(
                    format!("files[{i}]"),
                    "needs content (the text) or blob (a sha256 on the hub)".into(),
                ),
                (None, Some(blob)) if !is_sha256_hex(blob) => problem(
                    format!("files[{i}].blob"),
                    format!(
                        "\"{blob}\" is not a sha256; write the 64 lowercase hex digits of the blob's hash"
                    ),
                ),
                _ => {}
            }
        }
        for (sha256, path) in &self.inputs {
            if !is_sha256_hex(sha256) {
                problem(
                    format!("inputs.{sha256}"),
                    "the key is not a sha256; write the 64 lowercase hex digits of the blob's hash"
                        .into(),
                );
            }
            if let Some(message) = relative_path_problem(path) {
                problem(format!("inputs.{sha256}"), message);
            } else if !placed.insert(normalize(path)) {
                problem(
                    format!("inputs.{sha256}"),
                    format!("\"{path}\" is already used by another file or input"),
                );
            }
        }
        for (i, path) in self.outputs.iter().enumerate() {
            if let Some(message) = relative_path_problem(path) {
                problem(format!("outputs[{i}]"), message);
            }
        }
        if let Some(gpus) = &self.resources.gpus {
            match gpus {
                Gpus::Count(0) => problem(
                    "resources.gpus".into(),
                    "0 GPUs: remove the key to run without GPUs".into(),
                ),
                Gpus::Indices(list) if list.is_empty() => problem(
                    "resources.gpus".into(),
                    "the list is empty: remove the key to run without GPUs".into(),
                ),
                Gpus::Indices(list) if list.iter().collect::<BTreeSet<_>>().len() != list.len() => {
                    problem(
                        "resources.gpus".into(),
                        "an index is listed twice; list each GPU once".into(),
                    )
                }
                _ => {}
            }
        }
        if let Some(cpus) = self.resources.cpus
            && !(cpus.is_finite() && cpus > 0.0)
        {
            problem(
                "resources.cpus".into(),
                format!("{cpus} is not a number of cores; write e.g. 2 or 0.5"),
            );
        }
        for (key, size) in [
            ("memory", self.resources.memory),
            ("shm", self.resources.shm),
        ] {
            if size == Some(ByteSize(0)) {
                problem(
                    format!("resources.{key}"),
                    "0 bytes: remove the key for no limit, or write e.g. 4GiB".into(),
                );
            }
        }
        if self.resources.memory.is_some_and(|m| m.0 < 6 << 20) {
            problem(
                "resources.memory".into(),
                "Docker needs at least 6MiB; write e.g. 512m".into(),
            );
        }
        if self.timeout == Some(Seconds(0)) {
            problem(
                "timeout".into(),
                "0 seconds: remove the key for no timeout, or write e.g. 2h".into(),
            );
        }
        for (i, label) in self.labels.iter().enumerate() {
            if let Some(message) = label_problem(label) {
                problem(format!("labels[{i}]"), message);
            }
        }
        for (list, commands) in [
            ("always", &self.epilogue.always),
            ("on_pass", &self.epilogue.on_pass),
            ("on_fail", &self.epilogue.on_fail),
        ] {
            for (i, command) in commands.iter().enumerate() {
                if command.trim().is_empty() {
                    problem(
                        format!("epilogue.{list}[{i}]"),
                        "is empty; write a shell command or remove it".into(),
                    );
                }
            }
        }
        let mut service_names = BTreeSet::new();
        for (i, service) in self.services.iter().enumerate() {
            if !is_dns_label(&service.name) {
                problem(
                    format!("services[{i}].name"),
                    format!(
                        "\"{}\" is not a host name; use lowercase letters, digits and '-', e.g. postgres",
                        service.name
                    ),
                );
            } else if !service_names.insert(service.name.as_str()) {
                problem(
                    format!("services[{i}].name"),
                    format!("\"{}\" is used twice; names must differ", service.name),
                );
            }
            if service.image.trim().is_empty() {
                problem(
                    format!("services[{i}].image"),
                    "is empty; write e.g. postgres:16".into(),
                );
            }
            for key in service.env.keys() {
                if let Some(message) = env_name_problem(key) {
                    problem(format!("services[{i}].env.{key}"), message);
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(JobError::Invalid(problems))
        }
    }

    /// The name to show for the task: its `name`, else its image, else its program.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| self.image.clone())
            .or_else(|| self.command.first().cloned())
            .unwrap_or_else(|| "task".into())
    }
}

fn syntax_error(
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
fn strip_position(message: &str) -> String {
    let cut = [" at line ", "at line "]
        .iter()
        .filter_map(|marker| message.find(marker))
        .min()
        .unwrap_or(message.len());
    message[..cut].trim_end().trim_end_matches(',').to_owned()
}

fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Why `path` cannot name a place inside a task folder, if it cannot.
pub fn relative_path_problem(path: &str) -> Option<String> {
    if path.trim().is_empty() {
        return Some("the path is empty; write a path relative to the task folder".into());
    }
    if path.contains('\0') {
        return Some("the path contains a NUL byte".into());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Some(format!(
            "\"{path}\" is absolute; write a path relative to the task folder"
        ));
    }
    if path.split(['/', '\\']).any(|part| part == "..") {
        return Some(format!(
            "\"{path}\" leaves the task folder through '..'; write a path inside it"
        ));
    }
    if normalize(path).is_empty() {
        return Some(format!(
            "\"{path}\" names the task folder itself; name a file or folder inside it"
        ));
    }
    None
}

fn env_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.contains('=') || name.contains('\0') {
        Some(format!(
            "\"{name}\" is not a variable name; use letters, digits and '_'"
        ))
    } else {
        None
    }
}

/// Why `label` cannot be a node or task label, if it cannot.
pub fn label_problem(label: &str) -> Option<String> {
    if label.is_empty()
        || label.len() > 100
        || label
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c.is_control())
    {
        Some(format!(
            "\"{label}\" is not a label; use up to 100 characters without spaces or commas, e.g. gpu or zone=eu"
        ))
    } else {
        None
    }
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Reads env values written as numbers or booleans as their text, since YAML
/// users write `EPOCHS: 10` and mean the string "10".
fn env_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    struct Scalar(#[serde(deserialize_with = "scalar_text")] String);
    let map = BTreeMap::<String, Scalar>::deserialize(deserializer)?;
    Ok(map.into_iter().map(|(k, Scalar(v))| (k, v)).collect())
}

fn scalar_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, number or boolean")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    deserializer.deserialize_any(V)
}

impl Serialize for Gpus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Gpus::Count(n) => serializer.serialize_u32(*n),
            Gpus::All => serializer.serialize_str("all"),
            Gpus::Indices(list) => list.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Gpus;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count, \"all\", or a list of GPU indices")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Gpus, E> {
                u32::try_from(v)
                    .map(Gpus::Count)
                    .map_err(|_| E::custom("too many GPUs"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Gpus, E> {
                u32::try_from(v)
                    .map(Gpus::Count)
                    .map_err(|_| E::custom("the GPU count must not be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Gpus, E> {
                if v.eq_ignore_ascii_case("all") {
                    Ok(Gpus::All)
                } else if let Ok(n) = v.parse::<u32>() {
                    Ok(Gpus::Count(n))
                } else {
                    Err(E::custom(format!("\"{v}\" is not a GPU request")))
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Gpus, A::Error> {
                let mut list = Vec::new();
                while let Some(index) = seq.next_element::<u32>()? {
                    list.push(index);
                }
                Ok(Gpus::Indices(list))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for Gpus {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Gpus".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A count of GPUs, \"all\", or a list of device indices",
            "oneOf": [
                {"type": "integer", "minimum": 1},
                {"const": "all"},
                {"type": "array", "items": {"type": "integer", "minimum": 0}}
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name: train
image: pytorch/pytorch:2.4.0
command: [python, train.py]
env: {EPOCHS: 10, DEBUG: true, NAME: x}
files:
  - {path: train.py, content: "print('hi')"}
  - {path: data/w.bin, blob: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855}
inputs:
  9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08: data/train.csv
outputs: [results/, model.pt]
executor: docker
resources: {gpus: [0, 1], cpus: 1.5, memory: 8GiB, shm: 2g}
timeout: 2h
labels: [gpu]
pull: missing
epilogue: {always: ["ls -la"], on_pass: ["echo ok"], on_fail: ["echo failed"]}
services:
  - {name: db, image: postgres:16, env: {POSTGRES_PASSWORD: x}}
"#;

    fn yaml_err(text: &str) -> String {
        JobSpec::parse(text, Format::Yaml).unwrap_err().to_string()
    }

    #[test]
    fn full_yaml_parses() {
        let spec = JobSpec::parse(FULL, Format::Yaml).unwrap();
        assert_eq!(spec.command, ["python", "train.py"]);
        assert_eq!(spec.env["EPOCHS"], "10");
        assert_eq!(spec.env["DEBUG"], "true");
        assert_eq!(spec.resources.gpus, Some(Gpus::Indices(vec![0, 1])));
        assert_eq!(spec.resources.memory, Some(ByteSize(8 << 30)));
        assert_eq!(spec.timeout, Some(Seconds(7200)));
        assert_eq!(spec.pull, Some(PullPolicy::Missing));
        assert_eq!(spec.services[0].name, "db");
        // The wire form reads back as the same job.
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(JobSpec::parse(&json, Format::Json).unwrap(), spec);
    }

    #[test]
    fn gpus_forms() {
        for (text, want) in [
            ("2", Gpus::Count(2)),
            ("all", Gpus::All),
            ("[3]", Gpus::Indices(vec![3])),
        ] {
            let spec = JobSpec::parse(
                &format!("image: x\nresources: {{gpus: {text}}}"),
                Format::Yaml,
            )
            .unwrap();
            assert_eq!(spec.resources.gpus, Some(want));
        }
        assert!(yaml_err("image: x\nresources: {gpus: some}").contains("not a GPU request"));
        assert!(yaml_err("image: x\nresources: {gpus: 0}").contains("0 GPUs"));
    }

    #[test]
    fn unknown_key_is_named_with_position() {
        let err = yaml_err("image: busybox\ncommand: [echo]\nimagee: typo\n");
        assert!(err.contains("unknown field `imagee`"), "{err}");
        assert!(err.starts_with("line 3, column 1"), "{err}");
        let err = yaml_err("image: busybox\nresources:\n  gpu: 1\n");
        assert!(err.contains("resources: unknown field `gpu`"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn wrong_type_gives_hint() {
        let err = yaml_err("image: busybox\ncommand: echo hi\n");
        assert!(err.contains("command: invalid type"), "{err}");
        assert!(
            !err.contains("command: command:"),
            "the path is said once: {err}"
        );
        assert!(
            err.contains("e.g. command: [\"python\", \"train.py\"]"),
            "{err}"
        );
        assert!(err.starts_with("line 2, column 10"), "{err}");
    }

    #[test]
    fn yaml_syntax_error_has_position() {
        let err = yaml_err("image: busybox\ncommand: [echo\n");
        assert!(err.starts_with("line "), "{err}");
    }

    #[test]
    fn json_errors_have_position() {
        let err = JobSpec::parse("{\"image\": \"x\",\n \"bogus\": 1}", Format::Json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `bogus`"), "{err}");
        assert!(err.starts_with("line 2"), "{err}");
    }

    #[test]
    fn empty_and_non_map() {
        assert!(yaml_err("").contains("the job file is empty"));
        assert!(yaml_err("- a\n- b\n").contains("invalid type: sequence"));
    }

    #[test]
    fn semantic_problems_are_all_listed() {
        let err = yaml_err(
            "command: [x]\nfiles: [{path: ../etc/passwd, content: x}, {path: /abs, blob: nothex}]\n\
             outputs: [\"\"]\nlabels: [\"a b\"]\nservices: [{name: Bad_Name, image: x}]\ntimeout: 0\n",
        );
        for needle in [
            "image: is required",
            "files[0].path: \"../etc/passwd\" leaves the task folder",
            "files[1].path: \"/abs\" is absolute",
            "files[1].blob: \"nothex\" is not a sha256",
            "outputs[0]: the path is empty",
            "labels[0]: \"a b\" is not a label",
            "services[0].name: \"Bad_Name\" is not a host name",
            "timeout: 0 seconds",
        ] {
            assert!(err.contains(needle), "missing {needle:?} in {err}");
        }
    }

    #[test]
    fn process_executor_rules() {
        let err = yaml_err("executor: process\nservices: [{name: db, image: x}]\n");
        assert!(
            err.contains("command: is required for the process executor"),
            "{err}"
        );
        assert!(err.contains("services: need the docker executor"), "{err}");
        let spec = JobSpec::parse(
            "executor: process\ncommand: [sh, -c, 'echo hi']\n",
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(spec.executor, Executor::Process);
        assert_eq!(spec.display_name(), "sh");
    }

    #[test]
    fn format_from_name() {
        assert_eq!(Format::from_file_name("job.JSON"), Format::Json);
        assert_eq!(Format::from_file_name("job.yml"), Format::Yaml);
    }
}
