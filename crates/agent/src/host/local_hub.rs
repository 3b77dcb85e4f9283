//! The record that lets `gantry task …` on this machine reach the hub the
//! desktop app embeds in local mode, with no `--server`.

use std::io;
use std::path::{Path, PathBuf};

use super::{LOCAL_HUB, inside};

/// Where the hub embedded in the desktop app (local mode) answers, and an
/// admin token for it, so that `gantry task …` on this machine reaches it
/// with no `--server`. Written by the app at each start, readable only by its
/// owner, removed when the app stops.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct LocalHub {
    /// The hub's address, on loopback.
    pub server: String,
    /// An admin token of that hub.
    pub admin_token: String,
}

impl std::fmt::Debug for LocalHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalHub")
            .field("server", &self.server)
            .field("admin_token", &"***")
            .finish()
    }
}

impl LocalHub {
    /// The file under a host dir.
    pub fn path(host_dir: &Path) -> PathBuf {
        inside(host_dir, LOCAL_HUB)
    }

    /// Writes the file (0600), replacing it whole.
    pub fn write(&self, host_dir: &Path) -> io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = LocalHub::path(host_dir);
        let tmp = path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(self).map_err(io::Error::other)?)?;
        file.sync_data()?;
        std::fs::rename(&tmp, &path)
    }

    /// Reads the file; `None` when there is none (no local hub runs).
    pub fn read(host_dir: &Path) -> io::Result<Option<LocalHub>> {
        match std::fs::read(LocalHub::path(host_dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Removes the file, if present.
    pub fn remove(host_dir: &Path) {
        let path = LocalHub::path(host_dir);
        if let Err(error) = std::fs::remove_file(&path)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %path.display(), "cannot remove the local hub's address file");
        }
    }
}
