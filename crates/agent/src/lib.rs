//! Gantry's agent core: connects to a hub with a node token, takes tasks and
//! runs them.
//!
//! # Layout
//!
//! - [`node`]: this machine as a node of the hub: [`Agent`] registers, polls
//!   and steers the tasks it holds; [`task`]: one task's life, a
//!   walk through its steps; [`record`]: what survives a restart;
//!   [`executor`]: what the executors share, [`docker`] and [`process`]: the
//!   executors; [`spool`]: the on-disk log, its tail reader and its shipper;
//!   [`host`]: local storage; [`log_copy`]: tasks' output copied to stdout
//!   (`--show-task-logs`); [`monitor`]: the machine and its GPUs;
//!   [`gpus`]: which task holds which GPU;
//!   [`backoff`] and [`clock`]: how the agent retries and reads the time;
//!   [`metrics`] and [`statsd`]: what it tells Prometheus and StatsD;
//!   [`config`] and [`timeouts`]: its settings and the timeouts file;
//!   [`yielding`]: when the node steps aside for the computer's person;
//!   [`doctor`]: the checks of `gantry doctor` and the desktop's Health screen.
//!
//! It talks to the hub through `gantry-client`.
//!
//! Architecture invariant: the agent never imports the hub crate; the two
//! share only `gantry-protocol`, and the agent reaches the hub only through
//! `gantry-client`.

#![deny(missing_docs)]

pub mod backoff;
pub mod clock;
pub mod config;
pub mod control;
pub mod disk;
pub mod docker;
pub mod doctor;
pub mod executor;
pub mod gpu_use;
pub mod gpus;
pub mod host;
pub mod log_copy;
pub mod metrics;
pub mod monitor;
pub mod node;
pub mod process;
pub mod record;
pub mod spool;
pub mod statsd;
pub mod task;
pub mod timeouts;
pub mod usage;
pub mod yielding;

pub use node::Agent;
