//! Gantry's agent core: connects to a hub with a node token, takes tasks and
//! runs them.
//!
//! # Layout
//!
//! - [`hub`]: the client of the hub's `/v1` API, for agent calls and people's
//!   commands alike.
//!
//! The executors, the log spool and shipper, local storage and the system
//! monitor arrive with issue 3.
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
