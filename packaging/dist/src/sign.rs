//! Signing what the bundler wrote, and the files that describe a release:
//! `SHA256SUMS` and the updater's `latest.json`.

use std::fs;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use rpm::signature::pgp::Signer;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::keys::{OpenPgpKey, UpdaterKey};

/// Signs the .rpm in place with the OpenPGP key (a header and payload
/// signature, what `rpm -K` checks against an imported key).
pub fn sign_rpm(path: &Path, key: &OpenPgpKey) -> Result<()> {
    let mut signer = Signer::from_asc(&key.armored)
        .context("the OpenPGP key cannot sign rpms (the rpm crate could not read it)")?;
    if let Some(passphrase) = &key.passphrase {
        signer = signer.with_key_passphrase(passphrase.clone());
    }
    let mut package =
        rpm::Package::open(path).with_context(|| format!("cannot read {} back", path.display()))?;
    package
        .sign(signer)
        .with_context(|| format!("cannot sign {} (a wrong passphrase?)", path.display()))?;
    package
        .write_file(path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `<file>.sig`, the updater's signature, and returns its content.
pub fn sign_for_updater(path: &Path, key: &UpdaterKey) -> Result<String> {
    let name = file_name(path)?;
    let file = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let signature = key.sign(file, &name)?;
    let mut sig = path.as_os_str().to_owned();
    sig.push(".sig");
    fs::write(&sig, &signature).with_context(|| format!("cannot write {name}.sig"))?;
    Ok(signature)
}

/// One package in the updater's manifest.
#[derive(Debug)]
pub struct UpdaterEntry {
    /// The manifest's key, `{os}-{arch}-{bundle type}`.
    pub platform: String,
    pub file_name: String,
    pub signature: String,
}

/// The Tauri updater's static manifest: the version, its notes and date,
/// and per platform the package's URL and signature.
pub fn manifest(
    version: &str,
    notes: &str,
    release_url: &str,
    entries: &[UpdaterEntry],
) -> serde_json::Value {
    let base = release_url.trim_end_matches('/');
    let platforms: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|e| {
            (
                e.platform.clone(),
                json!({ "url": format!("{base}/{}", e.file_name), "signature": e.signature }),
            )
        })
        .collect();
    json!({
        "version": version,
        "notes": notes,
        "pub_date": rfc3339(release_time()),
        "platforms": platforms,
    })
}

/// `SHA256SUMS` in the format `sha256sum -c` reads: hash, two spaces, name.
pub fn checksums(dir: &Path, names: &[String]) -> Result<String> {
    let mut sums = String::new();
    for name in names {
        let mut file =
            fs::File::open(dir.join(name)).with_context(|| format!("cannot read {name}"))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 1 << 20];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
        sums.push_str(&format!("{}  {name}\n", hex::encode(hasher.finalize())));
    }
    Ok(sums)
}

pub fn file_name(path: &Path) -> Result<String> {
    Ok(path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned())
}

/// Seconds since the epoch: SOURCE_DATE_EPOCH when set (reproducible
/// builds' convention), else now.
fn release_time() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        })
}

/// `2026-11-23T10:04:05Z` for a count of seconds since the epoch (the
/// civil-from-days conversion; UTC has no leap seconds to count here).
fn rfc3339(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest / 60 % 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_435_445), "2026-11-23T12:04:05Z");
    }

    #[test]
    fn manifest_names_each_platform_with_url_and_signature() {
        let entries = [UpdaterEntry {
            platform: "linux-x86_64-deb".into(),
            file_name: "Gantry_1.2.3_amd64.deb".into(),
            signature: "c2ln".into(),
        }];
        let manifest = manifest("1.2.3", "notes", "https://example.invalid/r/", &entries);
        assert_eq!(manifest["version"], "1.2.3");
        assert_eq!(
            manifest["platforms"]["linux-x86_64-deb"]["url"],
            "https://example.invalid/r/Gantry_1.2.3_amd64.deb"
        );
        assert_eq!(
            manifest["platforms"]["linux-x86_64-deb"]["signature"],
            "c2ln"
        );
    }
}

/// Signing with a real, passphrase-protected OpenPGP key, checked by the
/// tools users have (rpm, gpgv).
#[cfg(test)]
mod with_openpgp {
    use std::process::Command;

    use super::*;
    use crate::gpg::Gpg;

    fn tools_here() -> bool {
        let found = ["gpg", "gpgv", "rpm"].iter().all(|tool| {
            Command::new(tool)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
        assert!(
            found || std::env::var_os("GANTRY_REQUIRE_SERVICES").is_none(),
            "gpg, gpgv and rpm are needed (cargo xtask test installs them)"
        );
        if !found {
            eprintln!("SKIPPED: gpg, gpgv and rpm are needed");
        }
        found
    }

    /// A new RSA key protected by `passphrase`, ASCII-armored.
    fn protected_key(passphrase: &str) -> String {
        let home = tempfile::tempdir().unwrap();
        let gpg = || {
            let mut command = Command::new("gpg");
            command
                .arg("--homedir")
                .arg(home.path())
                .args(["--batch", "--quiet", "--pinentry-mode", "loopback"])
                .args(["--passphrase", passphrase]);
            command
        };
        assert!(
            gpg()
                .args([
                    "--quick-gen-key",
                    "Test <test@gantry.invalid>",
                    "rsa2048",
                    "sign",
                    "never"
                ])
                .status()
                .unwrap()
                .success()
        );
        let out = gpg()
            .args(["--armor", "--export-secret-keys"])
            .output()
            .unwrap();
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(home.path())
            .args(["--kill", "all"])
            .status();
        String::from_utf8(out.stdout).unwrap()
    }

    fn key(armored: &str, passphrase: &str) -> OpenPgpKey {
        OpenPgpKey {
            armored: armored.to_owned(),
            passphrase: Some(passphrase.to_owned()),
            throwaway: false,
        }
    }

    #[test]
    fn a_protected_key_signs_the_rpm_and_detached_files_and_a_wrong_passphrase_is_said() {
        if !tools_here() {
            return;
        }
        let armored = protected_key("s3cret passphrase");
        let dir = tempfile::tempdir().unwrap();
        let rpm_path = dir.path().join("t-1.0-1.noarch.rpm");
        rpm::PackageBuilder::new("t", "1.0", "MIT", "noarch", "a test package")
            .with_file_contents(
                b"hello\n".to_vec(),
                rpm::FileOptions::new("/usr/share/t/hello"),
            )
            .unwrap()
            .build()
            .unwrap()
            .write_file(&rpm_path)
            .unwrap();

        let error = sign_rpm(&rpm_path, &key(&armored, "wrong")).unwrap_err();
        assert!(format!("{error:#}").contains("passphrase"), "{error:#}");

        let right = key(&armored, "s3cret passphrase");
        sign_rpm(&rpm_path, &right).unwrap();
        let gpg = Gpg::with_key(&right).unwrap();
        let public = dir.path().join("key.asc");
        fs::write(&public, gpg.public_key().unwrap()).unwrap();
        let db = dir.path().join("rpmdb");
        fs::create_dir(&db).unwrap();
        let rpm = |args: &[&std::ffi::OsStr]| {
            Command::new("rpm")
                .arg("--dbpath")
                .arg(&db)
                .args(args)
                .output()
                .unwrap()
        };
        assert!(rpm(&["--initdb".as_ref()]).status.success());
        assert!(
            rpm(&["--import".as_ref(), public.as_os_str()])
                .status
                .success()
        );
        let checked = rpm(&["-K".as_ref(), rpm_path.as_os_str()]);
        let said = String::from_utf8_lossy(&checked.stdout);
        assert!(
            checked.status.success() && said.contains("digests signatures OK"),
            "{said}"
        );

        let file = dir.path().join("SHA256SUMS");
        fs::write(&file, "0000  x\n").unwrap();
        let signature = gpg.sign_detached(&file).unwrap();
        let keyring = dir.path().join("key.gpg");
        assert!(
            Command::new("gpg")
                .args(["--batch", "--yes", "--dearmor", "--output"])
                .arg(&keyring)
                .arg(&public)
                .status()
                .unwrap()
                .success()
        );
        let gpgv = |file: &Path| {
            Command::new("gpgv")
                .arg("--keyring")
                .arg(&keyring)
                .arg(&signature)
                .arg(file)
                .output()
                .unwrap()
                .status
                .success()
        };
        assert!(gpgv(&file));
        fs::write(&file, "0001  x\n").unwrap();
        assert!(!gpgv(&file));
    }
}
