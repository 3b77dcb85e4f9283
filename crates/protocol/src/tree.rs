//! A folder stored on the hub: a manifest blob listing every file of the
//! folder (its relative path, sha256, size and executable bit), each file
//! itself a blob. A job names the folder by the manifest's sha256
//! (`inputs: {tree:<sha256>: path}`), so a folder of 10,000 files costs the
//! job body one key, and files the hub already holds are not sent again.
//!
//! The manifest is read by the hub (to check every file is there and to
//! record which blobs the task may read) and by the agent (to fetch and place
//! the files), so both check it here, the same way: a path that would leave
//! the folder is refused before anything is written.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::is_sha256_hex;
use crate::job::relative_path_problem;

/// The format marker a manifest carries, so another blob is not read as one.
pub const TREE_FORMAT: &str = "gantry-tree/1";

/// The largest manifest read, in bytes (about a million files).
pub const MAX_TREE_BYTES: u64 = 256 << 20;

/// A folder's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeManifest {
    /// Always [`TREE_FORMAT`].
    pub format: String,
    /// Every file, sorted by path.
    pub files: Vec<TreeFile>,
}

/// One file of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TreeFile {
    /// Its path inside the folder, with `/` between parts.
    pub path: String,
    /// The sha256 of its bytes (a blob on the hub).
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether it may be executed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
}

/// Why a blob is not a usable manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// Not JSON of the manifest's shape.
    #[error("it is not a folder manifest ({0})")]
    Shape(String),
    /// A file's path or sha256 is wrong.
    #[error("files[{index}]: {message}")]
    File {
        /// Which file.
        index: usize,
        /// What is wrong, in words.
        message: String,
    },
}

impl TreeManifest {
    /// A manifest of `files`, sorted by path.
    pub fn new(mut files: Vec<TreeFile>) -> TreeManifest {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        TreeManifest {
            format: TREE_FORMAT.into(),
            files,
        }
    }

    /// Reads and checks a manifest's bytes.
    pub fn parse(bytes: &[u8]) -> Result<TreeManifest, TreeError> {
        let manifest: TreeManifest =
            serde_json::from_slice(bytes).map_err(|e| TreeError::Shape(e.to_string()))?;
        if manifest.format != TREE_FORMAT {
            return Err(TreeError::Shape(format!(
                "format is \"{}\", not \"{TREE_FORMAT}\"",
                manifest.format
            )));
        }
        let mut seen = BTreeSet::new();
        for (index, file) in manifest.files.iter().enumerate() {
            let problem = if let Some(problem) = relative_path_problem(&file.path) {
                Some(format!("path {problem}"))
            } else if file.path.contains('\\') {
                Some(format!(
                    "path \"{}\" contains '\\'; separate parts with '/'",
                    file.path
                ))
            } else if !is_sha256_hex(&file.sha256) {
                Some(format!("\"{}\" is not a sha256", file.sha256))
            } else if !seen.insert(file.path.trim_start_matches("./")) {
                Some(format!("path \"{}\" is listed twice", file.path))
            } else {
                None
            };
            if let Some(message) = problem {
                return Err(TreeError::File { index, message });
            }
        }
        Ok(manifest)
    }

    /// The manifest's bytes, as stored in its blob.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest serializes")
    }

    /// The bytes of every file together.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> TreeFile {
        TreeFile {
            path: path.into(),
            sha256: "b".repeat(64),
            size: 1,
            executable: false,
        }
    }

    #[test]
    fn round_trip_and_escapes() {
        let manifest = TreeManifest::new(vec![file("b/c.txt"), file("a.txt")]);
        assert_eq!(manifest.files[0].path, "a.txt");
        assert_eq!(TreeManifest::parse(&manifest.to_bytes()).unwrap(), manifest);
        for (bad, needle) in [
            ("../etc/passwd", "leaves the task folder"),
            ("/etc/passwd", "is absolute"),
            ("a/../../x", "leaves the task folder"),
        ] {
            let manifest = TreeManifest::new(vec![file(bad)]);
            let error = TreeManifest::parse(&manifest.to_bytes()).unwrap_err();
            assert!(error.to_string().contains(needle), "{error}");
        }
        let twice = TreeManifest::new(vec![file("a"), file("a")]);
        assert!(
            TreeManifest::parse(&twice.to_bytes())
                .unwrap_err()
                .to_string()
                .contains("listed twice")
        );
        assert!(TreeManifest::parse(b"{\"x\":1}").is_err());
    }
}
