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
    fn add(&mut self, path: String, message: String) {
        self.0.push(Problem { path, message });
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
    match spec.executor {
        Executor::Docker => match &spec.image {
            None => problems.add(
                "image".into(),
                "is required for the docker executor; add e.g. image: busybox:latest".into(),
            ),
            Some(image) if image.trim().is_empty() || image.contains(char::is_whitespace) => {
                problems.add(
                    "image".into(),
                    format!("\"{image}\" is not an image reference; write e.g. ubuntu:24.04"),
                )
            }
            Some(_) => {}
        },
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
            if spec.resources.gpus.is_some() || spec.resources.shm.is_some() {
                problems.add(
                    "resources".into(),
                    "gpus and shm need the docker executor; remove them or set executor: docker"
                        .into(),
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
            problems.add(
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
            problems.add(
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
    for (key, size) in [
        ("memory", spec.resources.memory),
        ("shm", spec.resources.shm),
    ] {
        if size == Some(ByteSize(0)) {
            problems.add(
                format!("resources.{key}"),
                "0 bytes: remove the key for no limit, or write e.g. 4GiB".into(),
            );
        }
    }
    if spec.resources.memory.is_some_and(|m| m.0 < 6 << 20) {
        problems.add(
            "resources.memory".into(),
            "Docker needs at least 6MiB; write e.g. 512m".into(),
        );
    }
    if spec.timeout == Some(Seconds(0)) {
        problems.add(
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
            problems.add(
                format!("services[{i}].name"),
                format!("\"{}\" is used twice; names must differ", service.name),
            );
        }
        if service.image.trim().is_empty() {
            problems.add(
                format!("services[{i}].image"),
                "is empty; write e.g. postgres:16".into(),
            );
        }
        for key in service.env.keys() {
            if let Some(message) = env_name_problem(key) {
                problems.add(format!("services[{i}].env.{key}"), message);
            }
        }
    }
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
