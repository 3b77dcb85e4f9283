//! The two signing keys a release needs, from the environment or, for a
//! build that is not a release, made here and kept between runs.
//!
//! - The OpenPGP key signs the .rpm (inside it) and the .deb and
//!   `SHA256SUMS` (detached): `GANTRY_GPG_KEY` holds the ASCII-armored
//!   secret key, `GANTRY_GPG_PASSPHRASE` its passphrase.
//! - The minisign key signs the updater's artifacts: `TAURI_SIGNING_PRIVATE_KEY`
//!   holds the key as `tauri signer generate` writes it (the file's content
//!   or its path), `TAURI_SIGNING_PRIVATE_KEY_PASSWORD` its password. These
//!   are the Tauri CLI's names, so a maintainer's existing secrets work.
//!
//! Throwaway keys are written 0600 in a folder of the build's target dir and
//! never anywhere in the source tree.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::gpg::Gpg;

/// Names of the environment variables that carry the keys.
pub const GPG_KEY: &str = "GANTRY_GPG_KEY";
pub const GPG_PASSPHRASE: &str = "GANTRY_GPG_PASSPHRASE";
pub const UPDATER_KEY: &str = "TAURI_SIGNING_PRIVATE_KEY";
pub const UPDATER_PASSWORD: &str = "TAURI_SIGNING_PRIVATE_KEY_PASSWORD";

/// The throwaway keys' files inside the keys folder.
const THROWAWAY_GPG: &str = "openpgp-secret.asc";
const THROWAWAY_UPDATER: &str = "updater.key";

/// Both keys, and where each came from.
#[derive(Debug)]
pub struct Keys {
    pub openpgp: OpenPgpKey,
    pub updater: UpdaterKey,
}

impl Keys {
    /// The keys from the environment, or throwaway ones from (or made in)
    /// `keys_dir`. With `require`, a missing key is an error instead: a
    /// release must never be signed with a key nobody trusts.
    pub fn find(keys_dir: &Path, require: bool) -> Result<Keys> {
        let openpgp = match non_empty(GPG_KEY) {
            Some(armored) => OpenPgpKey {
                armored,
                passphrase: non_empty(GPG_PASSPHRASE),
                throwaway: false,
            },
            None if require => bail!(
                "{GPG_KEY} is not set: a release's .rpm, .deb and SHA256SUMS are signed with the OpenPGP key it holds (ASCII-armored; see packaging/README.md)"
            ),
            None => OpenPgpKey::throwaway(keys_dir)?,
        };
        let updater = match non_empty(UPDATER_KEY) {
            Some(key) => UpdaterKey::from_tauri(&key, non_empty(UPDATER_PASSWORD))?,
            None if require => bail!(
                "{UPDATER_KEY} is not set: the updater's artifacts are signed with the minisign key it holds (`tauri signer generate` makes one; see packaging/README.md)"
            ),
            None => UpdaterKey::throwaway(keys_dir)?,
        };
        Ok(Keys { openpgp, updater })
    }

    /// Whether either key is a throwaway one.
    pub fn any_throwaway(&self) -> bool {
        self.openpgp.throwaway || self.updater.throwaway
    }
}

/// An OpenPGP secret key, ASCII-armored, with its passphrase if it has one.
pub struct OpenPgpKey {
    pub armored: String,
    pub passphrase: Option<String>,
    pub throwaway: bool,
}

impl fmt::Debug for OpenPgpKey {
    // Never the key or the passphrase, even in a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenPgpKey")
            .field("throwaway", &self.throwaway)
            .finish_non_exhaustive()
    }
}

impl OpenPgpKey {
    /// The throwaway key in `keys_dir`, made there with gpg the first time.
    fn throwaway(keys_dir: &Path) -> Result<OpenPgpKey> {
        let path = keys_dir.join(THROWAWAY_GPG);
        if !path.exists() {
            let armored = Gpg::generate_key(
                "Gantry throwaway signing key (not a release key) <dist@gantry.invalid>",
            )?;
            write_secret(&path, armored.as_bytes())?;
        }
        let armored =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(OpenPgpKey {
            armored,
            passphrase: None,
            throwaway: true,
        })
    }
}

/// A minisign key pair for the Tauri updater.
pub struct UpdaterKey {
    secret: minisign::SecretKey,
    public: minisign::PublicKey,
    pub throwaway: bool,
}

impl fmt::Debug for UpdaterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdaterKey")
            .field("throwaway", &self.throwaway)
            .finish_non_exhaustive()
    }
}

impl UpdaterKey {
    /// Reads a key as `tauri signer generate` writes it: base64 of the
    /// minisign secret key file, given as the content or a path to it. A
    /// bare minisign key file (`minisign -G`) is accepted too.
    fn from_tauri(given: &str, password: Option<String>) -> Result<UpdaterKey> {
        let content = if Path::new(given).is_file() {
            fs::read_to_string(given)
                .with_context(|| format!("cannot read {UPDATER_KEY}'s file"))?
        } else {
            given.to_owned()
        };
        let content = content.trim();
        let text = match BASE64.decode(content) {
            Ok(bytes) => String::from_utf8(bytes)
                .with_context(|| format!("{UPDATER_KEY} is base64 but not of a minisign key"))?,
            Err(_) => content.to_owned(),
        };
        // The crate takes any text as a box and fails only when opening it,
        // which would blame the password for a key that is not there.
        if !text.starts_with("untrusted comment:") || text.lines().count() < 2 {
            bail!(
                "{UPDATER_KEY} does not hold a minisign secret key (give the key `tauri signer generate` wrote, or its path)"
            );
        }
        let secret_box = minisign::SecretKeyBox::from_string(&text)
            .with_context(|| format!("{UPDATER_KEY} does not hold a minisign secret key"))?;
        // An unencrypted key first; otherwise the password, and never a
        // prompt (the crate asks on the terminal when given none).
        let secret = match minisign::SecretKey::from_unencrypted_box(secret_box.clone()) {
            Ok(secret) => secret,
            Err(unencrypted) => {
                minisign::SecretKey::from_box(secret_box, Some(password.unwrap_or_default()))
                    .map_err(|e| {
                        if e.to_string().contains("not encrypted") {
                            // The reference minisign's `-W` keys carry no
                            // checksum, which the minisign crate requires.
                            anyhow::anyhow!(
                                "cannot open the unencrypted minisign key in {UPDATER_KEY} ({unencrypted}); use a key with a password, as `tauri signer generate` or `minisign -G` without -W make"
                            )
                        } else {
                            anyhow::anyhow!(
                                "cannot open the minisign key in {UPDATER_KEY}: {e}; set {UPDATER_PASSWORD} to its password"
                            )
                        }
                    })?
            }
        };
        Self::from_secret(secret, false)
    }

    /// The throwaway key in `keys_dir`, made the first time (unencrypted: it
    /// protects nothing).
    fn throwaway(keys_dir: &Path) -> Result<UpdaterKey> {
        let path = keys_dir.join(THROWAWAY_UPDATER);
        if !path.exists() {
            let pair = minisign::KeyPair::generate_unencrypted_keypair()
                .context("cannot make a minisign key")?;
            let text = pair
                .sk
                .to_box(Some("Gantry throwaway updater key (not a release key)"))
                .context("cannot write the minisign key")?
                .into_string();
            write_secret(&path, text.as_bytes())?;
        }
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let secret = minisign::SecretKeyBox::from_string(&text)
            .and_then(minisign::SecretKey::from_unencrypted_box)
            .with_context(|| format!("{} is not a minisign key; delete it", path.display()))?;
        Self::from_secret(secret, true)
    }

    fn from_secret(secret: minisign::SecretKey, throwaway: bool) -> Result<UpdaterKey> {
        let public = minisign::PublicKey::from_secret_key(&secret)
            .context("cannot derive the updater's public key")?;
        Ok(UpdaterKey {
            secret,
            public,
            throwaway,
        })
    }

    /// The public key as minisign's `.pub` file holds it.
    pub fn public_file(&self) -> Result<String> {
        Ok(self
            .public
            .to_box()
            .context("cannot write the updater's public key")?
            .into_string())
    }

    /// The public key as Tauri's `plugins.updater.pubkey` (and the app's
    /// `GANTRY_UPDATER_PUBKEY`) takes it: base64 of the `.pub` file.
    pub fn public_tauri(&self) -> Result<String> {
        Ok(BASE64.encode(self.public_file()?))
    }

    /// Signs `data` the way `tauri signer sign` does: the `.sig` file and the
    /// manifest's `signature` hold base64 of minisign's signature file.
    pub fn sign(&self, data: impl std::io::Read, file_name: &str) -> Result<String> {
        let trusted = format!(
            "timestamp:{}\tfile:{file_name}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        );
        let signature = minisign::sign(
            Some(&self.public),
            &self.secret,
            data,
            Some(&trusted),
            Some("signature from the Gantry updater key"),
        )
        .with_context(|| format!("cannot sign {file_name} for the updater"))?;
        Ok(BASE64.encode(signature.to_string()))
    }
}

/// An environment variable's value unless it is unset or empty (CI often
/// sets a missing secret to the empty string).
fn non_empty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Writes a secret readable only by its owner, in a folder only they can
/// open.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        // Only the keys' own folder is private; its parents are made as usual.
        if let Some(parent) = dir.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        if !dir.is_dir() {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A password-protected key as `tauri signer generate` writes it: base64
    /// of minisign's secret key file.
    fn tauri_key(password: &str) -> (String, minisign::PublicKey) {
        let pair = minisign::KeyPair::generate_encrypted_keypair(Some(password.into())).unwrap();
        let text = pair.sk.to_box(None).unwrap().into_string();
        (BASE64.encode(text), pair.pk)
    }

    #[test]
    fn a_tauri_key_is_read_from_its_content_or_its_path_with_its_password() {
        let (key, public) = tauri_key("correct horse");
        let read = UpdaterKey::from_tauri(&key, Some("correct horse".into())).unwrap();
        assert!(!read.throwaway);
        assert_eq!(
            read.public_tauri().unwrap(),
            BASE64.encode(public.to_box().unwrap().into_string())
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("updater.key");
        fs::write(&path, format!("{key}\n")).unwrap();
        UpdaterKey::from_tauri(path.to_str().unwrap(), Some("correct horse".into())).unwrap();

        // A wrong or missing password is said, and never asked for on the
        // terminal (the crate would prompt if given none).
        for password in [Some("wrong".to_owned()), None] {
            let error = UpdaterKey::from_tauri(&key, password).unwrap_err();
            assert!(format!("{error:#}").contains(UPDATER_PASSWORD), "{error:#}");
        }
        let error = UpdaterKey::from_tauri("not a key", None).unwrap_err();
        assert!(format!("{error:#}").contains("does not hold a minisign secret key"));
    }

    #[test]
    fn updater_signatures_verify_with_the_public_key_and_fail_on_changed_bytes() {
        let (key, public) = tauri_key("pw");
        let key = UpdaterKey::from_tauri(&key, Some("pw".into())).unwrap();
        let data = b"the bytes of a package".to_vec();
        let signature = key.sign(&data[..], "Gantry_1.0.0_amd64.deb").unwrap();
        // What the updater does: base64 back to minisign's signature file.
        let text = String::from_utf8(BASE64.decode(signature).unwrap()).unwrap();
        let signature = minisign::SignatureBox::from_string(&text).unwrap();
        assert!(
            signature
                .trusted_comment()
                .unwrap()
                .contains("file:Gantry_1.0.0_amd64.deb")
        );
        minisign::verify(
            &public,
            &signature,
            std::io::Cursor::new(&data),
            true,
            false,
            false,
        )
        .unwrap();
        let mut changed = data.clone();
        changed[3] ^= 1;
        assert!(
            minisign::verify(
                &public,
                &signature,
                std::io::Cursor::new(&changed),
                true,
                false,
                false
            )
            .is_err()
        );
    }

    #[test]
    fn throwaway_keys_are_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("dist/throwaway-keys");
        let first = UpdaterKey::throwaway(&keys).unwrap();
        let again = UpdaterKey::throwaway(&keys).unwrap();
        assert!(first.throwaway);
        assert_eq!(first.public_tauri().unwrap(), again.public_tauri().unwrap());
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&keys), 0o700);
        assert_eq!(mode(&keys.join(THROWAWAY_UPDATER)), 0o600);
        // Only the keys' own folder is private.
        assert_eq!(mode(&dir.path().join("dist")) & 0o055, 0o055);
    }
}
