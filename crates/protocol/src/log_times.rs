//! When the hub received each part of a task's log (`GET
//! /v1/tasks/{id}/log/times`).
//!
//! The log itself is bytes; its times travel apart, as marks at byte
//! offsets, so reading the log stays a plain byte stream and a viewer that
//! wants times asks for them once for what exists and again as it needs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::wire::Millis;

/// The most marks one answer holds; `next` continues past them.
pub const MAX_LOG_MARKS: usize = 100_000;

/// One append the hub stored: where its bytes begin and when they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogMark {
    /// The byte offset of the append's first byte in the log.
    pub offset: u64,
    /// When the hub received it (ms since the epoch, by the hub's clock).
    pub at: Millis,
}

/// `GET /v1/tasks/{id}/log/times`: the marks of the asked bytes, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogTimes {
    /// One per stored append that holds an asked byte and has a time (bytes
    /// stored before the hub kept times have none), by offset. The first may
    /// begin before the asked offset: it is the append that holds that byte.
    pub marks: Vec<LogMark>,
    /// When the answer stopped at [`MAX_LOG_MARKS`]: the `offset` to ask
    /// next for the rest; absent when all is here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}
