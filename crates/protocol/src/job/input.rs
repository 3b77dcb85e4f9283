//! What an `inputs` key names: a blob on the hub, a folder on the hub (a
//! tree manifest), or a file or folder on the submitting person's disk.
//!
//! The three forms share one map so the sha256 form written before folders
//! existed keeps working: a bare sha256 is a blob, `tree:<sha256>` is a
//! folder whose manifest ([`crate::tree::TreeManifest`]) is that blob, and a
//! key starting with `./`, `../`, `/` or `~/` is a local path that
//! `gantry task submit` uploads and rewrites to one of the other two. The hub
//! only ever accepts the hub forms; a local path must not reach it.

use crate::is_sha256_hex;

/// The prefix of a folder input's key: `tree:<sha256 of the manifest>`.
pub const TREE_PREFIX: &str = "tree:";

/// What one `inputs` key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRef<'a> {
    /// A blob on the hub, placed as one file.
    Blob(&'a str),
    /// A folder on the hub: the sha256 of its manifest blob.
    Tree(&'a str),
    /// A file or folder on the submitter's disk, relative to the job file's folder.
    Local(&'a str),
    /// None of these; the job check names it.
    Unknown(&'a str),
}

impl<'a> InputRef<'a> {
    /// Reads an `inputs` key.
    pub fn of(key: &'a str) -> InputRef<'a> {
        if is_sha256_hex(key) {
            InputRef::Blob(key)
        } else if let Some(sha256) = key.strip_prefix(TREE_PREFIX) {
            if is_sha256_hex(sha256) {
                InputRef::Tree(sha256)
            } else {
                InputRef::Unknown(key)
            }
        } else if ["./", "../", "/", "~/"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
            || key == "."
            || key == ".."
        {
            InputRef::Local(key)
        } else {
            InputRef::Unknown(key)
        }
    }

    /// The sha256 of the blob the hub must hold, for the hub forms.
    pub fn hub_blob(&self) -> Option<&'a str> {
        match self {
            InputRef::Blob(sha256) | InputRef::Tree(sha256) => Some(sha256),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let sha = "a".repeat(64);
        assert_eq!(InputRef::of(&sha), InputRef::Blob(&sha));
        let tree = format!("tree:{sha}");
        assert_eq!(InputRef::of(&tree), InputRef::Tree(&sha));
        for local in ["./data", "../x", "/abs/y", "~/z", "."] {
            assert_eq!(InputRef::of(local), InputRef::Local(local));
        }
        for bad in ["data", "tree:abc", &sha.to_uppercase()] {
            assert_eq!(InputRef::of(bad), InputRef::Unknown(bad));
        }
    }
}
