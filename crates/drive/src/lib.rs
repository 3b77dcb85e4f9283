//! `gantry drive`: jobs made by the user's own code, submitted to a hub,
//! followed, and watched on a small page: Borgy's process agent for Gantry.
//!
//! The user's code is a program the driver starts and speaks to over a
//! JSON-lines protocol ([`protocol`]; `python3 -m gantry_client.drive` runs
//! a Python file's `user_create` and `user_update` over it). The driver
//! ([`driver`]) asks it for jobs, submits them, reads their state changes
//! from the hub and hands every one back, in order; it marks its jobs so
//! that a restarted driver adopts them instead of submitting them twice
//! ([`tracking`]). The [`monitor`] serves the page and `/kill`.
//!
//! Why a crate of its own: the CLI stays glue, and the loop is tested on its
//! own terms. It talks to the hub only through `gantry-client` and serves
//! its page without axum (the hub's alone).

#![deny(missing_docs)]

pub mod board;
pub mod driver;
pub mod monitor;
pub mod news;
pub mod outcome;
pub mod program;
pub mod protocol;
pub mod python;
pub mod tracking;

pub use board::Board;
pub use driver::{Driver, Settings};
pub use monitor::Monitor;
pub use outcome::{OnError, Outcome};

use sha2::{Digest, Sha256};

/// The name a driver gets without `--name`: the user code's file stem (or
/// the program's name) and a short hash of what identifies it (the file's
/// absolute path, or the program and its arguments), so the same code run
/// again finds its jobs and two different ones never share a name.
pub fn default_name(stem: &str, identity: &str) -> String {
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let hash = hex::encode(&Sha256::digest(identity.as_bytes())[..4]);
    format!("{}-{hash}", if stem.is_empty() { "drive" } else { &stem })
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_names_are_stable_and_distinct() {
        let a = super::default_name("usercode", "/home/r/usercode.py");
        assert_eq!(a, super::default_name("usercode", "/home/r/usercode.py"));
        assert!(a.starts_with("usercode-"));
        assert_ne!(a, super::default_name("usercode", "/home/s/usercode.py"));
        assert!(super::default_name("my file", "x").starts_with("my-file-"));
    }
}
