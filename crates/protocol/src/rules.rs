//! The rules a value must pass, written once as JSON Schema patterns and
//! ranges for the OpenAPI document, beside the checks that enforce them.
//!
//! Why here: the hub's document promises what the hub accepts. A client
//! generated from it must never send what the hub then refuses, and the hub
//! must never accept what the document calls invalid. Keeping each pattern
//! next to its check (and a test that runs both over the same strings) is
//! what keeps the two from drifting apart.
//!
//! The patterns avoid `\s` and look-arounds: ECMAScript, Python and Rust
//! disagree on what `\s` matches, and fuzzers cannot generate look-arounds.
//! They name the characters instead.

use schemars::{Schema, SchemaGenerator, json_schema};

/// A sha256 as Gantry writes it: 64 lowercase hex digits.
pub const SHA256: &str = "^[0-9a-f]{64}$";

/// A node or task label: 1 to 100 characters, none of them white space,
/// control characters or commas ([`crate::job::label_problem`]).
pub const LABEL: &str =
    r"^[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000,]{1,100}$";

/// A container image reference: printable ASCII without spaces.
pub const IMAGE: &str = "^[!-~]+$";

/// Text without a NUL byte (command arguments, env values).
pub const NO_NUL: &str = r"^[^\u0000]*$";

/// Text with at least one character that is not white space (epilogue commands).
pub const NOT_BLANK: &str =
    r"[^\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// An environment variable's name: no `=` and no NUL, not empty.
pub const ENV_NAME: &str = r"^[^=\u0000]+$";

/// A service's host name: a DNS label (lowercase letters, digits, inner `-`).
pub const DNS_LABEL: &str = "^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$";

/// A path inside the task folder ([`crate::job::relative_path_problem`]):
/// parts joined by `/`, none empty, `.` or `..`, no `\` or NUL, not
/// absolute (no leading `/`, no drive letter `C:`), an optional trailing `/`.
pub const RELATIVE_PATH: &str = concat!(
    r"^(?:[^/\\\u0000.]|[^/\\\u0000.][^/\\\u0000:][^/\\\u0000]*|\.[^/\\\u0000.:][^/\\\u0000]*|\.\.[^/\\\u0000]+)",
    r"(?:/(?:[^/\\\u0000.][^/\\\u0000]*|\.[^/\\\u0000.][^/\\\u0000]*|\.\.[^/\\\u0000]+))*/?$"
);

/// An input's key as the hub takes it: a blob's sha256, or `tree:` and the
/// sha256 of a folder's manifest ([`crate::job::InputRef`] reads it).
pub const INPUT_KEY: &str = "^(tree:)?[0-9a-f]{64}$";

/// A folder on the hub: `tree:` and the sha256 of its manifest blob.
pub const TREE: &str = "^tree:[0-9a-f]{64}$";

/// A node's name: printable text (no control characters) that neither
/// starts nor ends with white space, 1 to 100 characters;
/// [`crate::admin::node_name_problem`] is the check.
pub const NODE_NAME: &str = r"^[^\s\u0000-\u001f\u007f-\u009f](?:[^\u0000-\u001f\u007f-\u009f]{0,98}[^\s\u0000-\u001f\u007f-\u009f])?$";

/// A task id as agents report it: 1 to 128 characters, none a control
/// character (the ids the hub makes are UUIDs; PostgreSQL refuses NUL).
pub const TASK_ID: &str = r"^[^\u0000-\u001f\u007f-\u009f]{1,128}$";

/// Whether `id` can be a task id ([`TASK_ID`]).
pub fn is_task_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= 128 && !id.chars().any(char::is_control)
}

/// The longest task name, in characters.
pub const NAME_MAX_CHARS: usize = 200;

/// The smallest memory limit Docker takes, in bytes.
pub const MEMORY_MIN_BYTES: u64 = 6 << 20;

/// Whether `c` is one of the characters [`LABEL`] refuses.
pub fn is_label_excluded(c: char) -> bool {
    c.is_whitespace() || c.is_control() || c == ','
}

/// Schemas for the job file's fields, used through `#[schemars(schema_with)]`.
pub(crate) mod schema {
    use super::*;

    /// An optional task name of at most 200 characters.
    pub fn name(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "null"],
            "maxLength": NAME_MAX_CHARS,
            "description": "A short name shown in lists and notifications, at most 200 characters"
        })
    }

    /// An optional image reference.
    pub fn image(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["string", "null"],
            "pattern": IMAGE,
            "description": "The container image (required by executor docker), e.g. pytorch/pytorch:2.4.0-cuda12.4-cudnn9-runtime: printable ASCII without spaces. Write it as text; YAML's true, false and numbers are refused"
        })
    }

    /// A required image reference (a service's).
    pub fn service_image(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": IMAGE, "description": "Its image, e.g. postgres:16"})
    }

    /// A list of arguments without NUL bytes.
    pub fn command(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": {"type": "string", "pattern": NO_NUL},
            "description": "The program and its arguments, as strings, run without a shell (write numbers in quotes in YAML). Empty means the image's own command"
        })
    }

    /// Environment variables; numbers and booleans are taken as their text.
    pub fn env(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": {"pattern": ENV_NAME},
            "additionalProperties": {"anyOf": [
                {"type": "string", "pattern": NO_NUL},
                {"type": "number"},
                {"type": "boolean"}
            ]},
            "description": "Environment variables. Values are text; numbers and booleans are taken as their text (EPOCHS: 10 is \"10\")"
        })
    }

    /// A path inside the task folder.
    pub fn relative_path(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": RELATIVE_PATH,
            "description": "A path relative to the task folder, parts joined by /, without . or .. parts"})
    }

    /// A sha256.
    pub fn sha256(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": SHA256, "description": "A sha256 in lowercase hex"})
    }

    /// A task id as agents report it.
    pub fn task_id(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": TASK_ID, "description": "The task's id"})
    }

    /// A file's blob: may be left out, but not null.
    pub fn blob(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": SHA256,
            "description": "The sha256 of a blob on the hub holding the file's bytes"})
    }

    /// A map of sha256 to a path inside the task folder.
    pub fn inputs(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "propertyNames": {"pattern": INPUT_KEY},
            "additionalProperties": {"type": "string", "pattern": RELATIVE_PATH},
            "description": "Inputs on the hub and the path each is placed at (read-only): a blob's sha256 (one file) or tree:<sha256> (a folder, named by its manifest blob). In a job file given to `gantry task submit`, a key may also be a local path (./, ../, / or ~/), which the command uploads and rewrites; the hub refuses local paths"
        })
    }

    /// An optional folder on the hub (`tree:<sha256>`).
    pub fn optional_tree(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "null"], "pattern": TREE,
            "description": "A folder on the hub: tree: and the sha256 of its manifest blob"})
    }

    /// An optional path inside the task folder.
    pub fn optional_relative_path(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "null"], "pattern": RELATIVE_PATH,
            "description": "A path relative to the task folder, parts joined by /, without . or .. parts"})
    }

    /// The free GPU memory a task needs on each GPU.
    pub fn gpu_memory(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Free memory needed on each GPU: bytes, or a size such as 10GiB",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": u64::MAX},
                {"type": "string", "pattern": SIZE},
                {"type": "null"}
            ]
        })
    }

    /// A list of paths inside the task folder.
    pub fn outputs(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": {"type": "string", "pattern": RELATIVE_PATH},
            "description": "Paths, relative to the task folder, collected as results when the command ends"
        })
    }

    /// Text without NUL characters (which no database column keeps).
    pub fn text_without_nul(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": NO_NUL})
    }

    /// A node's name.
    pub fn node_name(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": NODE_NAME,
            "description": "A node's name: 1 to 100 printable characters, not starting or ending with a space"})
    }

    /// An optional node's name.
    pub fn optional_node_name(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "null"], "pattern": NODE_NAME,
            "description": "A node's name: 1 to 100 printable characters, not starting or ending with a space"})
    }

    /// A list of labels for a node.
    pub fn node_labels(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": {"type": "string", "pattern": LABEL},
            "description": "Labels, each 1 to 100 characters without spaces or commas"
        })
    }

    /// A list of labels.
    pub fn labels(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "array",
            "items": {"type": "string", "pattern": LABEL},
            "description": "Only nodes carrying every one of these labels take the task: each 1 to 100 characters without spaces or commas"
        })
    }

    /// A list of shell commands that are not blank.
    pub fn shell_commands(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "array", "items": {"type": "string", "pattern": NOT_BLANK}})
    }

    /// A service's host name.
    pub fn dns_label(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": DNS_LABEL,
            "description": "The host name the task reaches it by: lowercase letters, digits and inner '-', at most 63"})
    }

    /// CPU cores, more than zero.
    pub fn cpus(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["number", "null"], "exclusiveMinimum": 0,
            "description": "CPU cores, fractions allowed (1.5)"})
    }

    /// A duration of at least one second.
    pub fn timeout(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The task fails when its command runs longer than this: seconds, or a duration such as 90s, 30m, 2h or 1h30m",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": u64::MAX},
                {"type": "string", "pattern": DURATION},
                {"type": "null"}
            ]
        })
    }

    /// A memory limit of at least 6 MiB.
    pub fn memory(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Memory limit: bytes (at least 6291456, Docker's least), or a size such as 512m or 8GiB",
            "anyOf": [
                {"type": "integer", "minimum": MEMORY_MIN_BYTES, "maximum": u64::MAX},
                {"type": "string", "pattern": SIZE},
                {"type": "null"}
            ]
        })
    }

    /// A size of at least one byte.
    pub fn shm(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Size of /dev/shm: bytes, or a size such as 512m or 2g",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": u64::MAX},
                {"type": "string", "pattern": SIZE},
                {"type": "null"}
            ]
        })
    }
}

/// A duration as text ([`crate::units::parse_duration`]): whole seconds, or
/// numbers each followed by `s`, `m`, `h` or `d`.
pub const DURATION: &str = "^(?:[0-9]{1,9}|(?:[0-9]{1,9}[smhd]){1,4})$";

/// A size as text ([`crate::units::parse_byte_size`]): a number of at most
/// 6 digits before the point (so 999999 TiB still fits 64 bits) and 6
/// after, then optionally `b`, or `k`, `m`, `g`, `t` with `b` or `ib`, in
/// any case. Larger sizes are written as a number of bytes.
pub const SIZE: &str =
    "^(?:[0-9]{1,6}(?:\\.[0-9]{0,6})?|\\.[0-9]{1,6})(?:[bB]|[kKmMgGtT](?:[bB]|[iI][bB])?)?$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{label_problem, relative_path_problem};

    /// Every string of up to `len` characters over `alphabet`.
    fn strings(alphabet: &[char], len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            let next: Vec<String> = last
                .iter()
                .flat_map(|s| {
                    alphabet.iter().map(move |c| {
                        let mut s = s.clone();
                        s.push(*c);
                        s
                    })
                })
                .collect();
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    fn regex(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).expect("the pattern compiles")
    }

    #[test]
    fn relative_path_pattern_is_the_check() {
        let pattern = regex(RELATIVE_PATH);
        let alphabet = ['a', '.', '/', '\\', ':', ' ', '\0'];
        for path in strings(&alphabet, 5) {
            assert_eq!(
                pattern.is_match(&path),
                relative_path_problem(&path).is_none(),
                "{path:?}: the pattern and the check disagree"
            );
        }
    }

    #[test]
    fn label_pattern_is_the_check() {
        let pattern = regex(LABEL);
        let alphabet = ['g', ',', ' ', '\u{feff}', '\u{85}', '\u{3000}', '\t', 'é'];
        for label in strings(&alphabet, 3) {
            assert_eq!(
                pattern.is_match(&label),
                label_problem(&label).is_none(),
                "{label:?}: the pattern and the check disagree"
            );
        }
        assert!(pattern.is_match(&"é".repeat(100)));
        assert!(!pattern.is_match(&"a".repeat(101)));
        assert!(label_problem(&"é".repeat(100)).is_none());
        assert!(label_problem(&"a".repeat(101)).is_some());
        // Every character the check refuses, the pattern refuses.
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            assert_eq!(
                pattern.is_match(&c.to_string()),
                !is_label_excluded(c),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn not_blank_pattern_is_trim() {
        let pattern = regex(NOT_BLANK);
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            let text = c.to_string();
            assert_eq!(
                pattern.is_match(&text),
                !text.trim().is_empty(),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn node_name_pattern_is_the_check() {
        let pattern = regex(NODE_NAME);
        let alphabet = ['g', ' ', '\u{85}', '\u{3000}', '\t', '\0', 'é'];
        for name in strings(&alphabet, 3) {
            assert_eq!(
                pattern.is_match(&name),
                crate::admin::node_name_problem(&name).is_none(),
                "{name:?}"
            );
        }
        assert!(pattern.is_match(&"n".repeat(100)));
        assert!(!pattern.is_match(&"n".repeat(101)));
        assert!(crate::admin::node_name_problem(&"n".repeat(101)).is_some());
    }

    #[test]
    fn task_id_pattern_is_the_check() {
        let pattern = regex(TASK_ID);
        for id in strings(&['a', '\0', '\u{85}', '\u{9f}', '\u{a0}', '-'], 3) {
            assert_eq!(pattern.is_match(&id), is_task_id(&id), "{id:?}");
        }
        assert!(is_task_id(&"é".repeat(128)) && pattern.is_match(&"é".repeat(128)));
        assert!(!is_task_id(&"a".repeat(129)) && !pattern.is_match(&"a".repeat(129)));
    }

    #[test]
    fn sha256_and_dns_patterns() {
        let sha = regex(SHA256);
        assert!(sha.is_match(&"a".repeat(64)));
        assert!(!sha.is_match(&"A".repeat(64)));
        assert!(!sha.is_match(&"a".repeat(63)));
        let dns = regex(DNS_LABEL);
        for (name, ok) in [
            ("db", true),
            ("a", true),
            ("-a", false),
            ("a-", false),
            ("Ab", false),
            (&"a".repeat(63), true),
            (&"a".repeat(64), false),
        ] {
            assert_eq!(dns.is_match(name), ok, "{name}");
        }
    }

    #[test]
    fn unit_patterns_match_what_parses() {
        let duration = regex(DURATION);
        for text in ["90", "90s", "1h30m", "2d", "1h2m3s4d"] {
            assert!(duration.is_match(text), "{text}");
            assert!(crate::units::parse_duration(text).is_ok(), "{text}");
        }
        for text in ["", "h", "1h30", " 5", "1x", "1234567890"] {
            assert!(!duration.is_match(text), "{text}");
            assert!(crate::units::parse_duration_text(text).is_err(), "{text}");
        }
        let size = regex(SIZE);
        for text in ["512m", "8GiB", "1.5g", "100", ".5k", "7B"] {
            assert!(size.is_match(text), "{text}");
            assert!(crate::units::parse_byte_size_text(text).is_ok(), "{text}");
        }
        for text in [
            "",
            "lots",
            "3 parsecs",
            "1.2.3",
            "5 g",
            "1kk",
            ".",
            "1234567t",
        ] {
            assert!(!size.is_match(text), "{text}");
            assert!(crate::units::parse_byte_size_text(text).is_err(), "{text}");
        }
    }
}
