//! The monitor's token: made at start, kept in a file only its owner can
//! read (so `gantry drive kill ADDR` on the same machine finds it), removed
//! when the driver ends. It guards `POST /kill`; it is not the hub's token.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The token file of a monitor; removed when dropped.
#[derive(Debug)]
pub struct TokenFile {
    path: PathBuf,
    token: String,
}

impl TokenFile {
    /// Makes a token for the monitor at `addr` and writes it (mode 0600)
    /// in `dir`.
    pub fn create(dir: &Path, addr: SocketAddr) -> std::io::Result<TokenFile> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        let token = hex::encode(rand::random::<[u8; 32]>());
        let path = dir.join(file_name(addr));
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(token.as_bytes())?;
        Ok(TokenFile { path, token })
    }

    /// The token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Where it is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The file name for a monitor at `addr`: `drive-127.0.0.1-8666.token`.
pub fn file_name(addr: SocketAddr) -> String {
    format!(
        "drive-{}-{}.token",
        addr.ip().to_string().replace(':', "_"),
        addr.port()
    )
}

/// The token of the monitor at `addr`, read from `dir`: the file of that
/// address, else of a monitor listening on every address at that port.
pub fn find(dir: &Path, addr: SocketAddr) -> Option<String> {
    let every: [SocketAddr; 2] = [
        SocketAddr::from(([0, 0, 0, 0], addr.port())),
        SocketAddr::from(([0u16; 8], addr.port())),
    ];
    std::iter::once(addr)
        .chain(every)
        .find_map(|addr| std::fs::read_to_string(dir.join(file_name(addr))).ok())
        .map(|token| token.trim().to_owned())
}
