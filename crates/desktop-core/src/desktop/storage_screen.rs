//! The Storage screen's answers: folders of the host dir listed, deleted or
//! opened, through [`Storage`], which takes the webview's paths as hostile.
//! The tasks held now are passed in, so their folders are not deleted under
//! them.

use std::path::{Path, PathBuf};

use super::Desktop;
use crate::storage::{Storage, StorageError};
use crate::view::{StorageListing, UiError};

impl Desktop {
    /// The storage folder as the Storage screen may touch it now.
    fn storage(&self) -> Storage {
        let held = self
            .status
            .borrow()
            .tasks
            .iter()
            .map(|t| t.id.clone())
            .collect();
        Storage::new(self.host_dir(), held)
    }

    /// A folder of the storage folder.
    pub async fn storage_list(&self, path: String) -> Result<StorageListing, UiError> {
        let storage = self.storage();
        tokio::task::spawn_blocking(move || storage.list(&path))
            .await
            .map_err(|e| UiError::new("io", e.to_string()))?
            .map_err(UiError::from)
    }

    /// Deletes a file or folder of the storage folder.
    pub async fn storage_delete(&self, path: String) -> Result<(), UiError> {
        let storage = self.storage();
        tracing::info!(%path, "deleting from storage at the person's request");
        tokio::task::spawn_blocking(move || storage.delete(&path))
            .await
            .map_err(|e| UiError::new("io", e.to_string()))?
            .map_err(UiError::from)
    }

    /// The full path of a folder of the storage folder (a file's folder for
    /// a file), to open in the file manager.
    pub fn storage_folder(&self, path: &str) -> Result<PathBuf, UiError> {
        let full = self.storage().resolve(path)?;
        match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.is_dir() => Ok(full),
            Ok(_) => Ok(full.parent().map(Path::to_path_buf).unwrap_or(full)),
            Err(_) => Err(StorageError::Missing(path.to_owned()).into()),
        }
    }
}
