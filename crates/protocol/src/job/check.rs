//! The checks a job file's values must pass once it parses. Every problem
//! is collected, not only the first, so a person fixes a file in one go;
//! each names its key path and says what to write instead.

use std::collections::BTreeSet;

use super::{Executor, Gpus, InputRef, JobError, JobSpec, Problem};
use crate::is_sha256_hex;
use crate::units::{ByteSize, Seconds};

/// The problems found so far.
#[derive(Debug, Default)]
struct Problems(Vec<Problem>);

impl Problems {
    /// A problem with a rule the JSON Schema states too.
    fn add(&mut self, path: String, message: String) {
        self.0.push(Problem {
            path,
            message,
            stated: true,
        });
    }

    /// A problem with a rule the JSON Schema cannot state whole: something
    /// given twice, or a size or duration written as text that is too small
    /// (the schema states the least number, not the least text).
    fn add_unstated(&mut self, path: String, message: String) {
        self.0.push(Problem {
            path,
            message,
            stated: false,
        });
    }
}

impl JobSpec {
    /// Checks the values of a parsed job; [`JobSpec::parse`] calls it, and the
    /// hub calls it on every job it receives as JSON.
    pub fn validate(&self) -> Result<(), JobError> {
        let mut problems = Problems::default();
        check_program(self, &mut problems);
        check_env(self, &mut problems);
        check_paths(self, &mut problems);
        check_resources(self, &mut problems);
        check_labels_and_epilogue(self, &mut problems);
        check_services(self, &mut problems);
        if problems.0.is_empty() {
            Ok(())
        } else {
            Err(JobError::Invalid(problems.0))
        }
    }
}

/// The name, the image or program the executor needs, and the command.
fn check_program(spec: &JobSpec, problems: &mut Problems) {
    if let Some(name) = &spec.name
        && name.chars().count() > 200
    {
        problems.add(
            "name".into(),
            "is longer than 200 characters; shorten it".into(),
        );
    }
    if let Some(image) = &spec.image
        && let Some(message) = image_problem(image)
    {
        problems.add("image".into(), message);
    }
    match spec.executor {
        Executor::Docker => {
            if spec.image.is_none() {
                problems.add(
                    "image".into(),
                    "is required for the docker executor; add e.g. image: busybox:latest".into(),
                );
            }
        }
        Executor::Process => {
            if spec.command.is_empty() {
                problems.add(
                    "command".into(),
                    "is required for the process executor: the program and its arguments".into(),
                );
            }
            if !spec.services.is_empty() {
                problems.add(
                    "services".into(),
                    "need the docker executor; remove them or set executor: docker".into(),
                );
            }
            if spec.resources.shm.is_some() {
                problems.add(
                    "resources.shm".into(),
                    "shm needs the docker executor; remove it or set executor: docker".into(),
                );
            }
        }
    }
    if spec.command.iter().any(|arg| arg.contains('\0')) {
        problems.add(
            "command".into(),
            "an argument contains a NUL byte; remove it".into(),
        );
    }
}

/// Environment names and values.
fn check_env(spec: &JobSpec, problems: &mut Problems) {
    for (key, value) in &spec.env {
        if let Some(message) = env_name_problem(key) {
            problems.add(format!("env.{key}"), message);
        }
        if value.contains('\0') {
            problems.add(
                format!("env.{key}"),
                "the value contains a NUL byte; remove it".into(),
            );
        }
    }
}

/// Files, inputs and outputs: each a relative path inside the task folder, none placed twice.
fn check_paths(spec: &JobSpec, problems: &mut Problems) {
    let mut placed = BTreeSet::new();
    for (i, file) in spec.files.iter().enumerate() {
        if let Some(message) = relative_path_problem(&file.path) {
            problems.add(format!("files[{i}].path"), message);
        } else if !placed.insert(normalize(&file.path)) {
            problems.add_unstated(
                format!("files[{i}].path"),
                format!("\"{}\" is given twice; keep one", file.path),
            );
        }
        match (&file.content, &file.blob) {
            (Some(_), Some(_)) => problems.add(
                format!("files[{i}]"),
                "has both content and blob; keep one".into(),
            ),
            (None, None) => problems.add(
                format!("files[{i}]"),
                "needs content (the text) or blob (a sha256 on the hub)".into(),
            ),
            (None, Some(blob)) if !is_sha256_hex(blob) => problems.add(
                format!("files[{i}].blob"),
                format!(
                    "\"{blob}\" is not a sha256; write the 64 lowercase hex digits of the blob's hash"
                ),
            ),
            _ => {}
        }
    }
    for (sha256, path) in &spec.inputs {
        if let InputRef::Unknown(key) = InputRef::of(sha256) {
            problems.add(
                format!("inputs.{key}"),
                "the key is neither a sha256 (64 lowercase hex digits), tree:<sha256> (a folder \
                 on the hub), nor a local path; start a local file or folder with ./"
                    .into(),
            );
        }
        if let Some(message) = relative_path_problem(path) {
            problems.add(format!("inputs.{sha256}"), message);
        } else if !placed.insert(normalize(path)) {
            problems.add_unstated(
                format!("inputs.{sha256}"),
                format!("\"{path}\" is already used by another file or input"),
            );
        }
    }
    for (i, path) in spec.outputs.iter().enumerate() {
        if let Some(message) = relative_path_problem(path) {
            problems.add(format!("outputs[{i}]"), message);
        }
    }
    if let Some(path) = &spec.checkpoint
        && let Some(message) = relative_path_problem(path)
    {
        problems.add("checkpoint".into(), message);
    }
}

/// GPUs, CPUs, memory, shared memory and the timeout.
fn check_resources(spec: &JobSpec, problems: &mut Problems) {
    if let Some(gpus) = &spec.resources.gpus {
        match gpus {
            Gpus::Count(0) => problems.add(
                "resources.gpus".into(),
                "0 GPUs: remove the key to run without GPUs".into(),
            ),
            Gpus::Indices(list) if list.is_empty() => problems.add(
                "resources.gpus".into(),
                "the list is empty: remove the key to run without GPUs".into(),
            ),
            Gpus::Indices(list) if list.iter().collect::<BTreeSet<_>>().len() != list.len() => {
                problems.add(
                    "resources.gpus".into(),
                    "an index is listed twice; list each GPU once".into(),
                )
            }
            _ => {}
        }
    }
    if let Some(cpus) = spec.resources.cpus
        && !(cpus.is_finite() && cpus > 0.0)
    {
        problems.add(
            "resources.cpus".into(),
            format!("{cpus} is not a number of cores; write e.g. 2 or 0.5"),
        );
    }
    if spec.resources.gpus.is_none() {
        if spec.resources.gpu_memory.is_some() {
            problems.add_unstated(
                "resources.gpu_memory".into(),
                "needs gpus: say how many GPUs, e.g. gpus: 1".into(),
            );
        }
        if spec.resources.gpu_share {
            problems.add_unstated(
                "resources.gpu_share".into(),
                "needs gpus: say how many GPUs, e.g. gpus: 1".into(),
            );
        }
    }
    for (key, size) in [
        ("memory", spec.resources.memory),
        ("shm", spec.resources.shm),
        ("gpu_memory", spec.resources.gpu_memory),
    ] {
        if size == Some(ByteSize(0)) {
            problems.add_unstated(
                format!("resources.{key}"),
                "0 bytes: remove the key for no limit, or write e.g. 4GiB".into(),
            );
        }
    }
    if spec.resources.memory.is_some_and(|m| m.0 < 6 << 20) {
        problems.add_unstated(
            "resources.memory".into(),
            "Docker needs at least 6MiB; write e.g. 512m".into(),
        );
    }
    if spec.timeout == Some(Seconds(0)) {
        problems.add_unstated(
            "timeout".into(),
            "0 seconds: remove the key for no timeout, or write e.g. 2h".into(),
        );
    }
}

/// Labels and the epilogue's commands.
fn check_labels_and_epilogue(spec: &JobSpec, problems: &mut Problems) {
    for (i, label) in spec.labels.iter().enumerate() {
        if let Some(message) = label_problem(label) {
            problems.add(format!("labels[{i}]"), message);
        }
    }
    if let Some(node) = &spec.node
        && let Some(message) = crate::admin::node_name_problem(node)
    {
        problems.add("node".into(), message);
    }
    for (list, commands) in [
        ("always", &spec.epilogue.always),
        ("on_pass", &spec.epilogue.on_pass),
        ("on_fail", &spec.epilogue.on_fail),
    ] {
        for (i, command) in commands.iter().enumerate() {
            if command.trim().is_empty() {
                problems.add(
                    format!("epilogue.{list}[{i}]"),
                    "is empty; write a shell command or remove it".into(),
                );
            }
        }
    }
}

/// Services: host names, images and their environment.
fn check_services(spec: &JobSpec, problems: &mut Problems) {
    let mut service_names = BTreeSet::new();
    for (i, service) in spec.services.iter().enumerate() {
        if !is_dns_label(&service.name) {
            problems.add(
                format!("services[{i}].name"),
                format!(
                    "\"{}\" is not a host name; use lowercase letters, digits and '-', e.g. postgres",
                    service.name
                ),
            );
        } else if !service_names.insert(service.name.as_str()) {
            problems.add_unstated(
                format!("services[{i}].name"),
                format!("\"{}\" is used twice; names must differ", service.name),
            );
        }
        if let Some(message) = image_problem(&service.image) {
            problems.add(format!("services[{i}].image"), message);
        }
        for (key, value) in &service.env {
            if let Some(message) = env_name_problem(key) {
                problems.add(format!("services[{i}].env.{key}"), message);
            }
            if value.contains('\0') {
                problems.add(
                    format!("services[{i}].env.{key}"),
                    "the value contains a NUL byte; remove it".into(),
                );
            }
        }
        if service.command.iter().any(|arg| arg.contains('\0')) {
            problems.add(
                format!("services[{i}].command"),
                "an argument contains a NUL byte; remove it".into(),
            );
        }
    }
}

fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Why `path` cannot name a place inside a task folder, if it cannot. The
/// rule is [`crate::rules::RELATIVE_PATH`], which the OpenAPI document states:
/// parts joined by `/`, none empty, `.` or `..`, no `\\` or NUL, not absolute.
pub fn relative_path_problem(path: &str) -> Option<String> {
    if path.is_empty() {
        return Some("the path is empty; write a path relative to the task folder".into());
    }
    if path.contains('\0') {
        return Some("the path contains a NUL byte".into());
    }
    if path.starts_with('/') || path.chars().nth(1) == Some(':') {
        return Some(format!(
            "\"{path}\" is absolute; write a path relative to the task folder"
        ));
    }
    if path.contains('\\') {
        return Some(format!(
            "\"{path}\" contains '\\'; separate folders with '/', e.g. data/train.csv"
        ));
    }
    let body = path.strip_suffix('/').unwrap_or(path);
    for part in body.split('/') {
        match part {
            ".." => {
                return Some(format!(
                    "\"{path}\" leaves the task folder through '..'; write a path inside it"
                ));
            }
            "" | "." => {
                return Some(format!(
                    "\"{path}\" has an empty or '.' part; write e.g. data/train.csv"
                ));
            }
            _ => {}
        }
    }
    None
}

/// Why `image` cannot be an image reference ([`crate::rules::IMAGE`]), if it cannot.
fn image_problem(image: &str) -> Option<String> {
    if image.is_empty() || !image.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        Some(format!(
            "\"{image}\" is not an image reference (printable ASCII without spaces); write e.g. ubuntu:24.04"
        ))
    } else {
        None
    }
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

/// Why `label` cannot be a node or task label, if it cannot
/// ([`crate::rules::LABEL`]).
pub fn label_problem(label: &str) -> Option<String> {
    if label.is_empty()
        || label.chars().count() > 100
        || label.chars().any(crate::rules::is_label_excluded)
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
