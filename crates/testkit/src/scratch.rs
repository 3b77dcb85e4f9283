//! Named folders for one run, removed however the run ends.

use std::path::{Path, PathBuf};

/// A fresh folder `gantry-<name>-<pid>` in the temp dir, deleted on
/// drop, so that an error or Ctrl-C leaves nothing behind. Unlike a
/// `tempfile::TempDir` its name says whose it is, for a person who finds one
/// left by a killed run.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates the folder, replacing one a killed run with this pid left.
    pub fn named(name: &str) -> std::io::Result<Scratch> {
        let path = std::env::temp_dir().join(format!("gantry-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!("cannot create {}: {error}", path.display()),
            )
        })?;
        Ok(Scratch(path))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
