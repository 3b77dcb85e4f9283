//! Gantry's agent core: connects to a hub with a node token, takes tasks and
//! runs them.
//!
//! # Layout
//!
//! - [`hub`]: the client of the hub's `/v1` API, for agent calls and people's
//!   commands alike.
//!
//! - [`agent`]: registers, polls and steers; [`task`]: one task's life;
//!   [`record`]: what survives a restart; [`docker`] and [`process`]: the
//!   executors; [`spool`]: the on-disk log and its shipper; [`host`]: local
//!   storage; [`monitor`]: the machine and its GPUs.
//!
//! Architecture invariant: the agent never imports the hub crate; the two
//! share only `gantry-protocol`. reqwest appears in no other crate.

#![deny(missing_docs)]

pub mod agent;
pub mod config;
pub mod control;
pub mod docker;
pub mod executor;
pub mod host;
pub mod hub;
pub mod monitor;
pub mod process;
pub mod record;
pub mod spool;
pub mod statsd;
pub mod task;

pub use hub::{ClientError, HubClient, Next, Token};
