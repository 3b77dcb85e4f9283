//! Keeping the disk within the person's budget.
//!
//! [`budget`] is the arithmetic of the three numbers; what counts against
//! them and what is evicted, least recently used first, comes beside it.

pub mod budget;

pub use budget::{Allowance, DiskBudget, DiskFigures, Tightest};
