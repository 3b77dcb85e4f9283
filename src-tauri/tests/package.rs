//! The packages `cargo xtask dist` wrote, taken as a person gets them: every
//! signature checked with the tools users have (gpgv, sha256sum, rpm,
//! minisign) and a tampered copy refused by each, the packages' metadata
//! read back, the .deb installed with dpkg, the installed CLI and app run
//! (the app under Xvfb through tauri-driver, its updater finding a newer
//! release on a loopback server and refusing a download that does not match
//! its signature), then the package removed with nothing left behind but
//! the user's data.
//!
//! It runs when GANTRY_DIST_DIR names the packages' folder, which
//! `cargo xtask test --dist` sets after building them; without it the test
//! says it skipped. Installing needs root (dpkg), as CI has.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gantry_testkit::desktop::Desktop;
use support::{Driver, choose_local_mode, open_screen};

/// The Debian package's name, from the product name.
const PACKAGE: &str = "gantry";
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Every file the .deb must install, beyond the icons.
const INSTALLED: &[&str] = &[
    "/usr/bin/gantry-desktop",
    "/usr/bin/gantry",
    "/usr/share/applications/Gantry.desktop",
    "/usr/share/man/man1/gantry.1.gz",
    "/usr/share/man/man1/gantry-service-install.1.gz",
    "/usr/share/man/man1/gantry-desktop.1.gz",
    "/usr/share/doc/gantry/copyright",
    "/usr/share/bash-completion/completions/gantry",
    "/usr/share/zsh/vendor-completions/_gantry",
    "/usr/share/fish/vendor_completions.d/gantry.fish",
    "/usr/share/icons/hicolor/128x128/apps/gantry-desktop.png",
];

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs and expects success; returns stdout.
fn ok(command: &mut Command) -> String {
    let out = run(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs and expects failure; returns stdout and stderr together.
fn refused(command: &mut Command) -> String {
    let out = run(command);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{command:?} accepted it:\n{text}");
    text
}

/// The one file in `dir` whose name ends with `suffix`.
fn one(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one *{suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// A copy of `file` in `dir` with one byte changed in its last quarter,
/// where the payload is (an early byte could hit a header field that makes
/// the tool stop before it checks anything).
fn tampered(file: &Path, dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() - bytes.len() / 4;
    bytes[at] ^= 0x55;
    let copy = dir.join(file.file_name().unwrap());
    std::fs::write(&copy, bytes).unwrap();
    copy
}

/// Whether dpkg has `package` installed.
fn installed(package: &str) -> bool {
    run(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .stdout
        .ends_with(b"install ok installed")
}

/// Purges the package when the test ends, however it ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_packages_verify_install_run_and_remove() {
    let Some(dist) = std::env::var_os("GANTRY_DIST_DIR").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: no GANTRY_DIST_DIR; `cargo xtask test --dist` builds the packages and runs this"
        );
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let deb = one(&dist, ".deb");
    let rpm = one(&dist, ".rpm");

    // SHA256SUMS covers every file and is signed; the release key verifies
    // it and the .deb's detached signature, and refuses a changed .deb.
    let sums = std::fs::read_to_string(dist.join("SHA256SUMS")).unwrap();
    for name in ["latest.json", "gantry-release-key.asc", "updater-key.pub"] {
        assert!(
            sums.contains(&format!("  {name}\n")),
            "{name} in SHA256SUMS:\n{sums}"
        );
    }
    for file in [&deb, &rpm] {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            sums.contains(&format!("  {name}\n")),
            "{name} in SHA256SUMS"
        );
    }
    ok(Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(&dist));
    let keyring = scratch.path().join("release.gpg");
    ok(Command::new("gpg")
        .args(["--batch", "--yes", "--dearmor", "--output"])
        .arg(&keyring)
        .arg(dist.join("gantry-release-key.asc")));
    let gpgv = || {
        let mut command = Command::new("gpgv");
        command.arg("--keyring").arg(&keyring);
        command
    };
    ok(gpgv()
        .arg(dist.join("SHA256SUMS.asc"))
        .arg(dist.join("SHA256SUMS")));
    let deb_signature = PathBuf::from(format!("{}.asc", deb.display()));
    ok(gpgv().arg(&deb_signature).arg(&deb));
    let bad = scratch.path().join("tampered");
    std::fs::create_dir(&bad).unwrap();
    let bad_deb = tampered(&deb, &bad);
    let said = refused(gpgv().arg(&deb_signature).arg(&bad_deb));
    assert!(
        said.contains("BAD signature"),
        "gpgv on a changed .deb: {said}"
    );
    std::fs::copy(dist.join("SHA256SUMS"), bad.join("SHA256SUMS")).unwrap();
    let said = refused(
        Command::new("sha256sum")
            .args(["-c", "--ignore-missing", "SHA256SUMS"])
            .current_dir(&bad),
    );
    assert!(
        said.contains("FAILED"),
        "sha256sum on a changed .deb: {said}"
    );
    // Without the release key in the keyring, gpgv accepts nothing.
    let stranger = scratch.path().join("stranger.gpg");
    std::fs::write(&stranger, b"").unwrap();
    refused(
        Command::new("gpgv")
            .arg("--keyring")
            .arg(&stranger)
            .arg(&deb_signature)
            .arg(&deb),
    );

    // The .rpm carries its signature inside: rpm checks it against the
    // imported release key, fails without the key, and fails on a change.
    let rpmdb = scratch.path().join("rpmdb");
    std::fs::create_dir(&rpmdb).unwrap();
    let rpm_cmd = || {
        let mut command = Command::new("rpm");
        command.arg("--dbpath").arg(&rpmdb);
        command
    };
    ok(rpm_cmd().arg("--initdb"));
    let said = refused(rpm_cmd().arg("-K").arg(&rpm));
    assert!(
        said.to_lowercase().contains("signatures not ok")
            || said.contains("NOKEY")
            || said.contains("MISSING KEYS"),
        "rpm -K with no key: {said}"
    );
    ok(rpm_cmd()
        .arg("--import")
        .arg(dist.join("gantry-release-key.asc")));
    let said = ok(rpm_cmd().arg("-K").arg(&rpm));
    assert!(said.contains("digests signatures OK"), "rpm -K: {said}");
    let bad_rpm = tampered(&rpm, &bad);
    let said = refused(rpm_cmd().arg("-K").arg(&bad_rpm));
    assert!(said.contains("NOT OK"), "rpm -K on a changed .rpm: {said}");

    // The .rpm's metadata.
    let info = ok(rpm_cmd()
        .args([
            "-qp",
            "--queryformat",
            "%{NAME}|%{VERSION}|%{SUMMARY}|%{LICENSE}\\n",
        ])
        .arg(&rpm));
    let fields: Vec<&str> = info.trim().split('|').collect();
    assert_eq!(fields[0], PACKAGE, "rpm name: {info}");
    assert_eq!(fields[1], VERSION, "rpm version: {info}");
    assert!(fields[2].contains("Gantry hub"), "rpm summary: {info}");
    let requires = ok(rpm_cmd().arg("-qpR").arg(&rpm));
    assert!(
        requires.contains("webkit2gtk4.1"),
        "rpm requires: {requires}"
    );
    let files = ok(rpm_cmd().arg("-qpl").arg(&rpm));
    for path in INSTALLED
        .iter()
        .map(|p| p.replace("zsh/vendor-completions", "zsh/site-functions"))
    {
        assert!(
            files.lines().any(|l| l == path),
            "{path} in the .rpm:\n{files}"
        );
    }

    // The updater's signatures: the manifest's and the .sig files' agree,
    // and the reference minisign verifies each package with the public key
    // and refuses a changed one.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dist.join("latest.json")).unwrap()).unwrap();
    assert_eq!(manifest["version"], VERSION);
    for (platform, file) in [("deb", &deb), ("rpm", &rpm)] {
        let entry = &manifest["platforms"][format!("linux-{}-{platform}", std::env::consts::ARCH)];
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            entry["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{name}")),
            "{platform} url: {entry}"
        );
        let sig_file = PathBuf::from(format!("{}.sig", file.display()));
        let signature = std::fs::read_to_string(&sig_file).unwrap();
        assert_eq!(entry["signature"].as_str().unwrap(), signature.trim());
        // Tauri's .sig is base64 of minisign's signature file.
        let minisig = scratch.path().join(format!("{name}.minisig"));
        let decoded = ok(Command::new("base64").arg("-d").arg(&sig_file));
        std::fs::write(&minisig, decoded).unwrap();
        let verify = |artifact: &Path| {
            let mut command = Command::new("minisign");
            command
                .arg("-V")
                .arg("-p")
                .arg(dist.join("updater-key.pub"))
                .arg("-x")
                .arg(&minisig)
                .arg("-m")
                .arg(artifact);
            command
        };
        let said = ok(&mut verify(file));
        assert!(
            said.contains("Signature and comment signature verified"),
            "{said}"
        );
        let changed = if platform == "deb" {
            bad_deb.clone()
        } else {
            bad_rpm.clone()
        };
        refused(&mut verify(&changed));
    }

    // The .deb's metadata and contents.
    let field = |name: &str| {
        ok(Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg(name))
            .trim()
            .to_owned()
    };
    assert_eq!(field("Package"), PACKAGE);
    assert_eq!(field("Version"), VERSION);
    assert_eq!(field("Architecture"), "amd64");
    let depends = field("Depends");
    for needed in [
        "libc6 (>= 2.",
        "libwebkit2gtk-4.1-0",
        "libgtk-3-0",
        "libayatana-appindicator3-1",
    ] {
        assert!(depends.contains(needed), "Depends: {depends}");
    }
    assert!(field("Recommends").contains("docker.io"));
    let description = field("Description");
    assert!(
        description.starts_with("Runs tasks from a Gantry hub")
            && description.contains("Docker container"),
        "Description: {description}"
    );
    assert!(!field("Maintainer").is_empty());
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    // `dpkg-deb -c` lists `mode owner size date time path`; the paths may
    // start with `./` or not. Folders are left out: other packages share them.
    let contents: Vec<String> = listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| format!("/{}", p.trim_start_matches("./")))
        .collect();
    for path in INSTALLED {
        assert!(
            contents.iter().any(|c| c == path),
            "{path} in the .deb:\n{listing}"
        );
    }
    let unpacked = scratch.path().join("unpacked");
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked));
    let entry = unpacked.join("usr/share/applications/Gantry.desktop");
    ok(Command::new("desktop-file-validate").arg(&entry));
    let entry_text = std::fs::read_to_string(&entry).unwrap();
    for line in ["Exec=gantry-desktop", "Icon=gantry-desktop", "Name=Gantry"] {
        assert!(
            entry_text.lines().any(|l| l == line),
            "{line} in:\n{entry_text}"
        );
    }
    // The icon the entry names is a real PNG at the size its folder says.
    let icon =
        std::fs::read(unpacked.join("usr/share/icons/hicolor/128x128/apps/gantry-desktop.png"))
            .unwrap();
    assert_eq!(&icon[1..4], b"PNG");
    assert_eq!(u32::from_be_bytes(icon[16..20].try_into().unwrap()), 128);

    // Installing: only onto a machine without Gantry, never over a copy a
    // person installed.
    assert!(
        gantry_testkit::procfs::running_as_root(),
        "the package test installs with dpkg and needs root; unset GANTRY_DIST_DIR to skip it"
    );
    assert!(
        !installed(PACKAGE) && !Path::new("/usr/bin/gantry-desktop").exists(),
        "Gantry is already installed here; the package test will not replace it"
    );
    let guard = Installed;
    ok(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(installed(PACKAGE));

    // The installed binaries carry no symbol table (stripped for the
    // package; the build's own copies keep theirs).
    for binary in ["/usr/bin/gantry", "/usr/bin/gantry-desktop"] {
        let sections = ok(Command::new("readelf").args(["-S", "-W", binary]));
        assert!(!sections.contains(".symtab"), "{binary} is not stripped");
    }

    // The installed CLI, its man page and its completion.
    let version = ok(Command::new("/usr/bin/gantry").arg("version"));
    assert!(version.contains(VERSION), "gantry version: {version}");
    let page =
        ok(Command::new("sh").args(["-c", "zcat /usr/share/man/man1/gantry.1.gz | head -c 4000"]));
    assert!(page.contains(".TH gantry"), "man page: {page}");
    let completion = ok(Command::new("bash").args([
        "-c",
        "source /usr/share/bash-completion/completions/gantry && complete -p gantry",
    ]));
    assert!(completion.contains("gantry"), "{completion}");

    // An update server on loopback offering "99.0.0": the manifest signs
    // the real .deb's bytes (the signature dist wrote) but serves the
    // changed copy, so the installed app must find the update and then
    // refuse the download before installing anything.
    let deb_signature_for_updater =
        std::fs::read_to_string(format!("{}.sig", deb.display())).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let offered = serde_json::json!({
        "version": "99.0.0",
        "notes": "A release from the package test",
        "pub_date": "2026-11-23T12:00:00Z",
        "platforms": {
            format!("linux-{}-deb", std::env::consts::ARCH): {
                "url": format!("http://127.0.0.1:{port}/update.deb"),
                "signature": deb_signature_for_updater.trim(),
            }
        }
    });
    let changed = std::fs::read(&bad_deb).unwrap();
    let server = axum::Router::new()
        .route(
            "/latest.json",
            axum::routing::get(move || async move { axum::Json(offered) }),
        )
        .route(
            "/update.deb",
            axum::routing::get(move || async move { changed }),
        );
    let server = tokio::spawn(async move { axum::serve(listener, server).await });

    // The installed app, under Xvfb through tauri-driver: its window comes
    // up with the embedded UI, and local mode starts the agent.
    let desktop = Desktop::start().await;
    let endpoint = format!("http://127.0.0.1:{port}/latest.json");
    let driver = Driver::start_app(
        &desktop,
        Path::new("/usr/bin/gantry-desktop"),
        &[],
        &[("GANTRY_UPDATE_ENDPOINT", endpoint.as_str())],
    )
    .await;
    choose_local_mode(&driver).await;
    // The packaged app was built with the updater's key (a developer build
    // says it has none), reads the packaged kind (the manifest offers only
    // the .deb entry), and checks the download's signature.
    open_screen(&driver, "settings").await;
    driver.wait("[data-testid=settings-updates]", 30).await;
    assert!(
        driver.find("[data-testid=update-no-key]").await.is_none(),
        "the packaged app says it has no update key"
    );
    let check = driver.wait("[data-testid=update-check]", 30).await;
    driver.click(&check).await;
    driver
        .wait_text("[data-testid=update-available-version]", 60, |t| {
            t.contains("99.0.0")
        })
        .await;
    let install = driver.wait("[data-testid=update-install]", 30).await;
    driver.click(&install).await;
    let said = driver
        .wait_text("[data-testid=update-install-error]", 120, |t| !t.is_empty())
        .await;
    assert!(
        said.contains("not signed with Gantry's update key"),
        "installing a changed download: {said}"
    );
    server.abort();
    driver.quit().await;
    assert!(
        installed(PACKAGE) && ok(Command::new("/usr/bin/gantry").arg("version")).contains(VERSION),
        "the refused update changed the installed package"
    );
    let version = ok(Command::new("/usr/bin/gantry-desktop").arg("--version"));
    assert!(
        version.contains(VERSION),
        "gantry-desktop --version: {version}"
    );
    // The app's own data, which removing the package must leave.
    let user_data = desktop.host_dir();
    assert!(user_data.join("logs").is_dir(), "the app wrote its logs");

    // Removing: every file the package installed is gone, dpkg forgets it,
    // and the user's data stays.
    ok(Command::new("dpkg").args(["--purge", PACKAGE]));
    drop(guard);
    assert!(!installed(PACKAGE));
    let status = run(Command::new("dpkg-query").args(["-W", PACKAGE]));
    assert!(!status.status.success(), "dpkg still knows {PACKAGE}");
    let left: Vec<&String> = contents
        .iter()
        .filter(|p| Path::new(p.as_str()).exists())
        .collect();
    assert!(left.is_empty(), "left behind after removal: {left:?}");
    assert!(user_data.join("logs").is_dir(), "the user's data stays");
    drop(desktop);
}
