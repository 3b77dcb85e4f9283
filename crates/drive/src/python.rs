//! The Python package `gantry_client`, embedded in the binary, and where it
//! is written out for `python3 -m gantry_client.drive`.
//!
//! Why embedded: `gantry drive -c usercode.py` must work on a machine where
//! nobody ran `pip install`, and must run the shim of the same commit as the
//! driver that speaks to it. The files go to a folder named by the hash of
//! their contents, so two versions of `gantry` never share one and a folder,
//! once complete, is never written again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/python_modules.rs"));

/// The embedded modules: file name (e.g. `drive.py`) and text.
pub fn modules() -> &'static [(&'static str, &'static str)] {
    MODULES
}

/// Writes the package under `cache` (once per version) and returns the
/// folder to put first on `PYTHONPATH`: it holds `gantry_client/`.
pub fn unpack(cache: &Path) -> std::io::Result<PathBuf> {
    let mut hash = Sha256::new();
    for (name, text) in MODULES {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    let version = hex::encode(&hash.finalize()[..8]);
    let root = cache.join(format!("python-{version}"));
    if root.join("gantry_client").join(".complete").exists() {
        return Ok(root);
    }
    private_dir(cache)?;
    // Written beside, then renamed: a driver starting at the same time
    // never sees half a package.
    let staging = tempfile_dir(cache)?;
    let package = staging.join("gantry_client");
    std::fs::create_dir(&package)?;
    for (name, text) in MODULES {
        std::fs::write(package.join(name), text)?;
    }
    std::fs::write(package.join(".complete"), "")?;
    match std::fs::rename(&staging, &root) {
        Ok(()) => Ok(root),
        Err(_) if root.join("gantry_client").join(".complete").exists() => {
            let _ = std::fs::remove_dir_all(&staging);
            Ok(root)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn tempfile_dir(cache: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = cache.join(format!(
        ".staging-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `*.py` of the package in the source tree is embedded, with the
    /// text it has now: a module added and not embedded fails here.
    #[test]
    fn every_module_of_the_package_is_embedded() {
        let package =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/python/gantry_client");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&package)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".py"))
            .map(|name| {
                let text = std::fs::read_to_string(package.join(&name)).unwrap();
                (name, text)
            })
            .collect();
        on_disk.sort();
        let embedded: Vec<(String, String)> = modules()
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect();
        assert!(on_disk.iter().any(|(name, _)| name == "drive.py"));
        assert!(on_disk.iter().any(|(name, _)| name == "__init__.py"));
        assert_eq!(
            on_disk.iter().map(|m| &m.0).collect::<Vec<_>>(),
            embedded.iter().map(|m| &m.0).collect::<Vec<_>>()
        );
        assert!(
            on_disk == embedded,
            "an embedded module differs from its file"
        );
    }

    #[test]
    fn unpacks_once_into_a_private_folder() {
        use std::os::unix::fs::PermissionsExt;
        let cache = tempfile::tempdir().unwrap();
        let dir = cache.path().join("drive");
        let root = unpack(&dir).unwrap();
        assert_eq!(root, unpack(&dir).unwrap());
        for (name, text) in modules() {
            assert_eq!(
                &std::fs::read_to_string(root.join("gantry_client").join(name)).unwrap(),
                text
            );
        }
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
}
