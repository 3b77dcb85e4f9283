//! The job file: what a person writes to ask for a task.
//!
//! A job file is YAML or JSON with the keys of [`JobSpec`]. Unknown keys are
//! errors, syntax errors carry a line and column, and every error ends with
//! what to write instead.

mod check;
mod error;
mod gpus;
mod input;
mod text;

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::rules::schema;
use crate::units::{ByteSize, Seconds};

pub use check::{label_problem, relative_path_problem};
pub use error::{JobError, Problem};
use error::{strip_position, syntax_error};
pub use gpus::Gpus;
pub use input::{InputRef, TREE_PREFIX};

/// A task as a person asks for it.
///
/// Every rule [`JobSpec::validate`] enforces that JSON Schema can state is in
/// its schema too (`crate::rules`), so the hub's OpenAPI document refuses
/// what the hub refuses; what it cannot state (a path given twice, a blob
/// missing on the hub) is said in the descriptions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = executor_rules)]
pub struct JobSpec {
    /// A short name shown in lists and notifications.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text::optional_text"
    )]
    #[schemars(schema_with = "schema::name")]
    pub name: Option<String>,
    /// The container image (executor `docker`), e.g. `pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text::optional_text"
    )]
    #[schemars(schema_with = "schema::image")]
    pub image: Option<String>,
    /// The command and its arguments, run without a shell. Empty means the image's own command.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "text::texts"
    )]
    #[schemars(schema_with = "schema::command")]
    pub command: Vec<String>,
    /// Environment variables for the command. Numbers and booleans are written as text.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "env_map"
    )]
    #[schemars(schema_with = "schema::env")]
    pub env: BTreeMap<String, String>,
    /// Files written into the task folder before the command starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileSpec>,
    /// Inputs and the path in the task folder each is placed at (read-only).
    /// A key is one of: the sha256 of a blob on the hub (one file);
    /// `tree:<sha256>`, a folder on the hub named by its manifest blob
    /// (see `gantry_protocol::tree`); or a local path starting with `./`,
    /// `../`, `/` or `~/`, a file or folder relative to the job file's
    /// folder, which `gantry task submit` uploads and rewrites to one of the
    /// first two. The hub refuses local paths.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "text::text_values"
    )]
    #[schemars(schema_with = "schema::inputs")]
    pub inputs: BTreeMap<String, String>,
    /// Paths, relative to the task folder, collected as results when the command ends.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "text::texts"
    )]
    #[schemars(schema_with = "schema::outputs")]
    pub outputs: Vec<String>,
    /// How the command is run.
    #[serde(default)]
    pub executor: Executor,
    /// Limits and devices for the command.
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// The task fails when its command runs longer than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::timeout")]
    pub timeout: Option<Seconds>,
    /// Only nodes carrying every one of these labels take the task.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "text::texts"
    )]
    #[schemars(schema_with = "schema::labels")]
    pub labels: Vec<String>,
    /// Only the node of this name takes the task; the hub refuses a name it does not know.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text::optional_text"
    )]
    #[schemars(schema_with = "schema::optional_node_name")]
    pub node: Option<String>,
    /// When to pull the image; the node's setting (PULL_ALWAYS) decides when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<PullPolicy>,
    /// Shell commands run after the main command, with the task's files.
    #[serde(default, skip_serializing_if = "Epilogue::is_empty")]
    pub epilogue: Epilogue,
    /// Side containers started first on a private network, reachable by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
    /// A folder, relative to the task folder, where the task keeps what it
    /// needs to continue. When the node steps aside for its person with
    /// `release`, the task gets SIGTERM and the node's grace period to write
    /// it, is stopped and goes back to the queue; the folder is kept (on the
    /// node, and through the hub for another node) and placed back, writable,
    /// when the task runs again. The task finds its path in `GANTRY_CHECKPOINT`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text::optional_text"
    )]
    #[schemars(schema_with = "schema::optional_relative_path")]
    pub checkpoint: Option<String>,
}

/// A file placed in the task folder: given inline, or a blob stored on the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["content"]}, {"required": ["blob"]}]))]
pub struct FileSpec {
    /// Where the file goes, relative to the task folder.
    #[serde(deserialize_with = "text::text")]
    #[schemars(schema_with = "schema::relative_path")]
    pub path: String,
    /// The file's text.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text::given_text"
    )]
    #[schemars(with = "String")]
    pub content: Option<String>,
    /// The sha256 of a blob on the hub holding the file's bytes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text::given_text"
    )]
    #[schemars(schema_with = "schema::blob")]
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
    /// NVIDIA GPUs: a count (the free ones with the most free memory), `all`,
    /// or a list of device indices (a MIG device counts as its GPU's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    /// The free memory the task needs on each of its GPUs; a GPU with less
    /// is not given, and the task waits for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::gpu_memory")]
    pub gpu_memory: Option<ByteSize>,
    /// Whether the task may run on a GPU another task holds (one that may
    /// share too). Without it a task waits for GPUs no other task holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gpu_share: bool,
    /// CPU cores, fractions allowed (`1.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::cpus")]
    pub cpus: Option<f64>,
    /// Memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::memory")]
    pub memory: Option<ByteSize>,
    /// Size of /dev/shm, which data loaders use to share batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::shm")]
    pub shm: Option<ByteSize>,
}

impl Resources {
    fn is_empty(&self) -> bool {
        self == &Resources::default()
    }
}

/// Shell commands run after the main command; their failure is recorded but
/// does not change the task's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Epilogue {
    /// Run whatever the result.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "text::texts"
    )]
    #[schemars(schema_with = "schema::shell_commands")]
    pub always: Vec<String>,
    /// Run when the main command succeeded.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "text::texts"
    )]
    #[schemars(schema_with = "schema::shell_commands")]
    pub on_pass: Vec<String>,
    /// Run when the main command failed.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "text::texts"
    )]
    #[schemars(schema_with = "schema::shell_commands")]
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
    #[serde(deserialize_with = "text::text")]
    #[schemars(schema_with = "schema::dns_label")]
    pub name: String,
    /// Its image.
    #[serde(deserialize_with = "text::text")]
    #[schemars(schema_with = "schema::service_image")]
    pub image: String,
    /// Its command; empty means the image's own.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "text::texts"
    )]
    #[schemars(schema_with = "schema::command")]
    pub command: Vec<String>,
    /// Its environment.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "env_map"
    )]
    #[schemars(schema_with = "schema::env")]
    pub env: BTreeMap<String, String>,
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

    /// The `inputs` keys that are local paths, which only `gantry task
    /// submit` can resolve; the hub refuses a job that has any.
    pub fn local_inputs(&self) -> Vec<&str> {
        self.inputs
            .keys()
            .filter(|key| matches!(InputRef::of(key), InputRef::Local(_)))
            .map(String::as_str)
            .collect()
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

/// What the executor asks of the rest of the job, in the schema: `process`
/// needs a command and takes no services or shm; `docker` (the default)
/// needs an image.
fn executor_rules(schema: &mut schemars::Schema) {
    schema.insert(
        "anyOf".into(),
        serde_json::json!([
            {
                "required": ["executor", "command"],
                "properties": {
                    "executor": {"const": "process"},
                    "command": {"minItems": 1},
                    "services": {"maxItems": 0},
                    "resources": {"properties": {"shm": {"type": "null"}}}
                }
            },
            {
                "required": ["image"],
                "properties": {"executor": {"const": "docker"}, "image": {"type": "string"}}
            }
        ]),
    );
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
    fn yaml_non_text_is_refused_where_text_is_required() {
        for (job, key) in [
            ("image: false\n", "image"),
            ("image: busybox\nname: 2024\n", "name"),
            ("image: busybox\ncommand: [sleep, 10]\n", "command[1]"),
            ("image: busybox\nlabels: [true]\n", "labels[0]"),
            ("image: busybox\noutputs: [1.5]\n", "outputs[0]"),
            (
                "image: busybox\nfiles: [{path: a, content: null}]\n",
                "files[0].content",
            ),
            (
                "image: busybox\nservices: [{name: db, image: 16}]\n",
                "services[0].image",
            ),
        ] {
            let err = yaml_err(job);
            assert!(
                err.contains(&format!("{key}: invalid type")),
                "{job}: {err}"
            );
            assert!(err.contains("in quotes"), "{job}: {err}");
        }
        // Quoted, the same values are text; env values keep their coercion.
        let spec = JobSpec::parse(
            "image: \"false\"\nname: \"2024\"\ncommand: [sleep, \"10\"]\nenv: {N: 10, B: false}\n",
            Format::Yaml,
        )
        .unwrap();
        assert_eq!(spec.image.as_deref(), Some("false"));
        assert_eq!(spec.command, ["sleep", "10"]);
        assert_eq!(spec.env["B"], "false");
        // JSON was already strict, and says the same.
        let err = JobSpec::parse(r#"{"image": false}"#, Format::Json)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("image: invalid type: boolean `false`"),
            "{err}"
        );
    }

    #[test]
    fn numbers_in_units_are_whole() {
        assert!(yaml_err("image: x\ntimeout: 1.5\n").contains("whole number"));
        let spec = JobSpec::parse(r#"{"image": "x", "timeout": 2.0}"#, Format::Json).unwrap();
        assert_eq!(spec.timeout, Some(Seconds(2)));
        assert!(yaml_err("image: x\ntimeout: \" 5m\"\n").contains("is not a duration"));
    }

    #[test]
    fn format_from_name() {
        assert_eq!(Format::from_file_name("job.JSON"), Format::Json);
        assert_eq!(Format::from_file_name("job.yml"), Format::Yaml);
    }
}
