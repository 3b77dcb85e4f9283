//! GnuPG in a home folder of its own, so that signing neither reads nor
//! changes the person's keyrings, and the imported secret key is gone (with
//! its agent) when the signer is dropped.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::keys::OpenPgpKey;

/// A gpg home holding one secret key.
#[derive(Debug)]
pub struct Gpg {
    home: tempfile::TempDir,
    /// A file holding the key's passphrase (0600, inside `home`), so it is
    /// never on a command line.
    passphrase_file: Option<PathBuf>,
}

impl Gpg {
    /// Makes a new RSA 3072 signing key with no passphrase and returns it
    /// ASCII-armored. RSA because every rpm and gpg in use checks it.
    pub fn generate_key(user_id: &str) -> Result<String> {
        let gpg = Gpg::empty()?;
        gpg.run(
            gpg.command()
                .args(["--pinentry-mode", "loopback", "--passphrase", ""])
                .args(["--quick-gen-key", user_id, "rsa3072", "sign", "never"]),
        )?;
        let armored = gpg.run(gpg.command().args(["--armor", "--export-secret-keys"]))?;
        String::from_utf8(armored).context("gpg exported a key that is not text")
    }

    /// A home with `key` imported.
    pub fn with_key(key: &OpenPgpKey) -> Result<Gpg> {
        let mut gpg = Gpg::empty()?;
        let mut import = gpg
            .command()
            .arg("--import")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot run gpg; install GnuPG (Debian: gnupg)")?;
        import
            .stdin
            .take()
            .context("gpg's stdin")?
            .write_all(key.armored.as_bytes())
            .context("cannot hand the key to gpg")?;
        let out = import.wait_with_output().context("gpg --import")?;
        if !out.status.success() {
            bail!(
                "gpg could not import the OpenPGP key (is it an ASCII-armored secret key?): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if let Some(passphrase) = &key.passphrase {
            let path = gpg.home.path().join("passphrase");
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .context("cannot keep the passphrase for gpg")?;
            file.write_all(passphrase.as_bytes())?;
            gpg.passphrase_file = Some(path);
        }
        Ok(gpg)
    }

    /// The public half, ASCII-armored: what users import to check.
    pub fn public_key(&self) -> Result<String> {
        let armored = self.run(self.command().args(["--armor", "--export"]))?;
        String::from_utf8(armored).context("gpg exported a key that is not text")
    }

    /// Writes `<file>.asc`, an armored detached signature of `file`.
    pub fn sign_detached(&self, file: &Path) -> Result<PathBuf> {
        let mut signature = file.as_os_str().to_owned();
        signature.push(".asc");
        let signature = PathBuf::from(signature);
        let mut command = self.command();
        command.args(["--pinentry-mode", "loopback"]);
        match &self.passphrase_file {
            Some(path) => command.arg("--passphrase-file").arg(path),
            None => command.args(["--passphrase", ""]),
        };
        command
            .args(["--yes", "--armor", "--detach-sign", "--output"])
            .arg(&signature)
            .arg(file);
        self.run(&mut command)
            .with_context(|| format!("cannot sign {}", file.display()))?;
        Ok(signature)
    }

    fn empty() -> Result<Gpg> {
        // gpg-agent's socket lives in the home; a short path keeps it under
        // the 108 bytes a Unix socket's path may have.
        let home = tempfile::Builder::new()
            .prefix("gantry-gpg-")
            .tempdir_in(std::env::temp_dir())
            .context("cannot make a home for gpg")?;
        fs::set_permissions(
            home.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )?;
        Ok(Gpg {
            home,
            passphrase_file: None,
        })
    }

    fn command(&self) -> Command {
        let mut command = Command::new("gpg");
        command
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty", "--quiet"]);
        command
    }

    fn run(&self, command: &mut Command) -> Result<Vec<u8>> {
        let out = command
            .stdin(Stdio::null())
            .output()
            .context("cannot run gpg; install GnuPG (Debian: gnupg)")?;
        if !out.status.success() {
            bail!(
                "gpg failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // The agent gpg started for this home would outlive it otherwise.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
