//! Gantry's shared vocabulary.
//!
//! # Layout
//!
//! - [`job`]: the job file a person writes (YAML or JSON), its parser and its checks.
//! - [`form`]: the New task form's fields (a command line, `NAME=value` lines, GPUs) read into a job.
//! - [`units`]: durations and byte sizes as people write them (`90s`, `8GiB`).
//! - [`rules`]: the patterns and ranges the OpenAPI document states, beside the checks that enforce them.
//! - [`state`]: the task states and which moves between them are allowed.
//! - [`wire`]: the request and response bodies of the hub's HTTP API under `/v1`.
//! - [`gpu_assign`]: which GPUs a task gets on a node (a pure decision the agent and the hub share).
//! - [`image_policy`]: which images a node runs (patterns, digest pinning), decided alike by agent and hub.
//! - [`admin`]: the bodies of node and token administration (rename, labels, remove, rotate, revoke).
//! - [`log_times`]: when the hub received each part of a task's log.
//! - [`console`]: the web console's sign-in (sessions) and the admin tokens it makes.
//! - [`console_wire`]: the web console's live data (node figures, held tasks, task paging, job checks).
//! - [`exposition`]: the Prometheus text format the hub's and the agent's `/metrics` write.
//!
//! Architecture invariant: this crate does no I/O and knows nothing of HTTP
//! libraries, databases or Docker. It is the only vocabulary the agent and the
//! hub share, so a type that crosses the wire lives here and nowhere else.

#![deny(missing_docs)]

pub mod admin;
pub mod clock_text;
pub mod console;
pub mod console_wire;
pub mod exposition;
pub mod form;
pub mod gpu_assign;
pub mod gpu_use;
pub mod image_policy;
pub mod job;
pub mod log_times;
pub mod rules;
pub mod state;
pub mod tree;
pub mod units;
pub mod usage;
pub mod wire;

pub use job::{JobError, JobSpec};
pub use state::TaskState;

/// The API version prefix every hub route lives under.
pub const API_PREFIX: &str = "/v1";

/// The length of a sha256 digest written in lowercase hex.
pub const SHA256_HEX_LEN: usize = 64;

/// Whether `s` is a sha256 digest as Gantry writes them: 64 lowercase hex digits.
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == SHA256_HEX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
