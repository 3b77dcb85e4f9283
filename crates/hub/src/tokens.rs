//! Node and admin tokens.
//!
//! A token is 32 random bytes written in hex behind a prefix saying what it
//! is for (`gantry_node_…`, `gantry_admin_…`), so a leaked one is easy to
//! recognise and scan for. The hub stores only its sha256: with 256 bits of
//! entropy a plain hash is as safe as a slow one, and lookups stay one index read.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Act as one node: take its tasks and report on them.
    Node,
    /// Act as a person: submit, watch and steer every task.
    Admin,
}

/// Makes a new random token of `kind`.
pub fn new_token(kind: TokenKind) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let prefix = match kind {
        TokenKind::Node => "gantry_node_",
        TokenKind::Admin => "gantry_admin_",
    };
    format!("{prefix}{}", hex::encode(bytes))
}

/// The form a token is stored and looked up in.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_prefixed() {
        let a = new_token(TokenKind::Node);
        let b = new_token(TokenKind::Node);
        assert_ne!(a, b);
        assert!(a.starts_with("gantry_node_") && a.len() == "gantry_node_".len() + 64);
        assert!(new_token(TokenKind::Admin).starts_with("gantry_admin_"));
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }
}
