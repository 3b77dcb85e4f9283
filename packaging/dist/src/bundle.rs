//! The .deb and the .rpm, written by the Tauri bundler from the app's own
//! `tauri.conf.json`, with the `gantry` CLI, its man pages and its shell
//! completions added beside the app, and the Python client's package in the
//! documentation.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use tauri_bundler::{
    AppCategory, BundleBinary, BundleSettings, DebianSettings, PackageSettings, PackageType,
    RpmSettings, SettingsBuilder,
};

/// What the packages take from `src-tauri/tauri.conf.json`: the app's name,
/// version, identifier, descriptions and icons are kept there only.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppConfig {
    pub product_name: String,
    pub main_binary_name: String,
    pub version: String,
    pub identifier: String,
    pub bundle: BundleConfig,
    /// The folder the config is in; its relative paths start there.
    #[serde(skip)]
    dir: PathBuf,
}

/// The `bundle` section of `tauri.conf.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleConfig {
    pub short_description: String,
    pub long_description: String,
    pub icon: Vec<String>,
}

impl AppConfig {
    /// Reads `tauri.conf.json`.
    pub fn read(path: &Path) -> Result<AppConfig> {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut config: AppConfig = serde_json::from_str(&text)
            .with_context(|| format!("{} is not the app's Tauri config", path.display()))?;
        config.dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(config)
    }
}

/// The CLI's binary name, installed on PATH beside the app.
pub const CLI: &str = "gantry";

/// Where each generated file goes in the packages, by packaging family:
/// zsh looks in a different folder on Debian and on Fedora.
fn generated_files(generated: &Path, rpm: bool) -> Result<HashMap<PathBuf, PathBuf>> {
    let mut files = HashMap::new();
    // Man pages are installed gzipped, as Debian policy asks and every man
    // reads. The CLI's come from clap; the app's is written by hand.
    let man = generated.join("man");
    fs::create_dir_all(&man)?;
    fs::write(man.join("gantry-desktop.1"), DESKTOP_MAN_PAGE)?;
    let gzipped = generated.join("man-gz");
    fs::create_dir_all(&gzipped)?;
    let mut pages = 0;
    for entry in fs::read_dir(&man).with_context(|| {
        format!(
            "no man pages in {} (`gantry generate --out` writes them)",
            man.display()
        )
    })? {
        let page = entry?.path();
        if page.extension().is_none_or(|e| e != "1") {
            continue;
        }
        let name = format!(
            "{}.gz",
            page.file_name().context("a page's name")?.to_string_lossy()
        );
        let target = gzipped.join(&name);
        gzip(&page, &target)?;
        files.insert(Path::new("/usr/share/man/man1").join(&name), target);
        pages += 1;
    }
    if pages == 0 {
        bail!("no man pages in {}", man.display());
    }
    let completions = generated.join("completions");
    let zsh = if rpm {
        "/usr/share/zsh/site-functions/_gantry"
    } else {
        "/usr/share/zsh/vendor-completions/_gantry"
    };
    for (source, dest) in [
        (
            "gantry.bash",
            "/usr/share/bash-completion/completions/gantry",
        ),
        ("_gantry", zsh),
        (
            "gantry.fish",
            "/usr/share/fish/vendor_completions.d/gantry.fish",
        ),
    ] {
        let path = completions.join(source);
        if !path.is_file() {
            bail!(
                "{} is missing (`gantry generate --out` writes it)",
                path.display()
            );
        }
        files.insert(PathBuf::from(dest), path);
    }
    files.extend(python_client_files(&python_client_dir())?);
    let copyright = generated.join("copyright");
    fs::write(&copyright, COPYRIGHT)?;
    files.insert(
        PathBuf::from(format!("/usr/share/doc/{PACKAGE}/copyright")),
        copyright,
    );
    Ok(files)
}

/// Where the Python client's package is in this checkout.
fn python_client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../clients/python")
}

/// The Python client's package (`clients/python`: `pyproject.toml`, its
/// README and every module of `gantry_client/`, not its tests), placed under
/// `/usr/share/doc/gantry/python-client/` so that a copy of that folder
/// installs with `pip install`.
fn python_client_files(package: &Path) -> Result<HashMap<PathBuf, PathBuf>> {
    let doc = Path::new("/usr/share/doc")
        .join(PACKAGE)
        .join("python-client");
    let mut files = HashMap::new();
    for name in ["pyproject.toml", "README.md"] {
        files.insert(doc.join(name), package.join(name));
    }
    let modules = package.join("gantry_client");
    for entry in fs::read_dir(&modules)
        .with_context(|| format!("the Python client is missing: {}", modules.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "py") {
            let name = path.file_name().context("a module's name")?;
            files.insert(doc.join("gantry_client").join(name), path);
        }
    }
    if let Some((_, missing)) = files.iter().find(|(_, source)| !source.is_file()) {
        bail!("the Python client is missing {}", missing.display());
    }
    Ok(files)
}

/// The app's man page and the packages' copyright file (Debian's DEP-5),
/// kept in packaging/ beside the guide.
const DESKTOP_MAN_PAGE: &str = include_str!("../../gantry-desktop.1");
const COPYRIGHT: &str = include_str!("../../copyright");

/// The packages' name, as the bundler derives it from the product name.
const PACKAGE: &str = "gantry";

/// Copies the release binaries into `stage` and strips them there: the
/// packages need no debug symbols (a third of the size), and the bundler
/// marks its copy of the app with the package kind, which must not touch
/// the build's own binary.
fn stage_binaries(binaries: &Path, stage: &Path, names: &[&str]) -> Result<()> {
    if stage.exists() {
        fs::remove_dir_all(stage)?;
    }
    fs::create_dir_all(stage)?;
    for name in names {
        let target = stage.join(name);
        fs::copy(binaries.join(name), &target)
            .with_context(|| format!("cannot copy {name} to {}", stage.display()))?;
        let status = Command::new("strip")
            .arg(&target)
            .status()
            .context("cannot run strip; install binutils")?;
        if !status.success() {
            bail!("strip {} failed ({status})", target.display());
        }
    }
    Ok(())
}

/// The newest glibc symbol version any of `binaries` asks for, such as
/// "2.34": the .deb's libc6 dependency, which dpkg-shlibdeps would work
/// out in a Debian build.
fn glibc_needed(binaries: &[PathBuf]) -> Result<String> {
    let mut newest = (0u32, 0u32, 0u32);
    for path in binaries {
        let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let marker = b"GLIBC_2.";
        let mut at = 0;
        while let Some(found) = bytes[at..].windows(marker.len()).position(|w| w == marker) {
            let start = at + found + marker.len();
            let digits: String = bytes[start..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'.')
                .map(|b| *b as char)
                .collect();
            let mut parts = digits.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
            let version = (2, parts.next().unwrap_or(0), parts.next().unwrap_or(0));
            newest = newest.max(version);
            at = start;
        }
    }
    if newest.0 == 0 {
        bail!("the binaries name no glibc version; are they dynamically linked Linux binaries?");
    }
    Ok(match newest {
        (major, minor, 0) => format!("{major}.{minor}"),
        (major, minor, patch) => format!("{major}.{minor}.{patch}"),
    })
}

/// gzip with no name and no time in the header, so the same page gives the
/// same bytes (lintian's "-n").
fn gzip(source: &Path, target: &Path) -> Result<()> {
    let text = fs::read(source).with_context(|| format!("cannot read {}", source.display()))?;
    let file =
        fs::File::create(target).with_context(|| format!("cannot write {}", target.display()))?;
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(file, flate2::Compression::best());
    encoder.write_all(&text)?;
    encoder.finish()?;
    Ok(())
}

/// Runs the Tauri bundler over stripped copies of the release binaries in
/// `binaries` and returns the .deb and the .rpm it wrote (under
/// `generated/stage/bundle/`).
pub fn bundle(config: &AppConfig, binaries: &Path, generated: &Path) -> Result<(PathBuf, PathBuf)> {
    let names = [config.main_binary_name.as_str(), CLI];
    for name in names {
        let path = binaries.join(name);
        if !path.is_file() {
            bail!(
                "{} is missing: build it first (cargo build --release -p gantry-desktop -p gantry-cli)",
                path.display()
            );
        }
    }
    let stage = generated.join("stage");
    stage_binaries(binaries, &stage, &names)?;
    let glibc = glibc_needed(&names.map(|name| stage.join(name)))?;
    let icons = config
        .bundle
        .icon
        .iter()
        .map(|icon| config.dir.join(icon).to_string_lossy().into_owned())
        .collect();
    let bundle = BundleSettings {
        identifier: Some(config.identifier.clone()),
        publisher: Some("The Gantry developers".into()),
        homepage: Some(env!("CARGO_PKG_REPOSITORY").into()),
        icon: Some(icons),
        license: Some(env!("CARGO_PKG_LICENSE").into()),
        category: Some(AppCategory::Utility),
        short_description: Some(config.bundle.short_description.clone()),
        long_description: Some(config.bundle.long_description.clone()),
        deb: DebianSettings {
            // What the app links (readelf -d) and loads at run time: the
            // tray icon's library is opened with dlopen, so no linker
            // would find it.
            depends: Some(
                strings(&[
                    "libwebkit2gtk-4.1-0",
                    "libgtk-3-0",
                    "libdbus-1-3",
                    "libayatana-appindicator3-1 | libappindicator3-1",
                ])
                .into_iter()
                .chain([format!("libc6 (>= {glibc})")])
                .collect(),
            ),
            // Tasks run in Docker and the token goes to the Secret Service;
            // the app says what to do when either is missing, so neither is
            // a hard dependency.
            recommends: Some(strings(&[
                "docker.io | docker-ce",
                "gnome-keyring | kwalletmanager",
            ])),
            section: Some("utils".into()),
            files: generated_files(generated, false)?,
            ..DebianSettings::default()
        },
        rpm: RpmSettings {
            depends: Some(strings(&[
                "webkit2gtk4.1",
                "gtk3",
                "dbus-libs",
                "libayatana-appindicator-gtk3",
            ])),
            release: "1".into(),
            files: generated_files(generated, true)?,
            ..RpmSettings::default()
        },
        ..BundleSettings::default()
    };
    let package = PackageSettings {
        product_name: config.product_name.clone(),
        version: config.version.clone(),
        description: config.bundle.short_description.clone(),
        homepage: Some(env!("CARGO_PKG_REPOSITORY").into()),
        authors: Some(vec![
            "The Gantry developers <gantry@example.invalid>".into(),
        ]),
        default_run: Some(config.main_binary_name.clone()),
    };
    let settings = SettingsBuilder::new()
        .project_out_directory(&stage)
        .package_settings(package)
        .bundle_settings(bundle)
        .binaries(vec![
            BundleBinary::new(config.main_binary_name.clone(), true),
            BundleBinary::new(CLI.into(), false),
        ])
        .package_types(vec![PackageType::Deb, PackageType::Rpm])
        .target(format!("{}-unknown-linux-gnu", std::env::consts::ARCH))
        // Marks each package's copy of the app with its kind, which the
        // updater reads to pick the manifest's `linux-x86_64-deb` entry.
        .binary_patching(true)
        .build()
        .context("the bundler refused its settings")?;
    let bundles = tauri_bundler::bundle_project(&settings).context("the Tauri bundler failed")?;
    let find = |kind: PackageType, extension: &str| {
        bundles
            .iter()
            .filter(|b| b.package_type == kind)
            .flat_map(|b| b.bundle_paths.iter())
            .find(|p| p.extension().is_some_and(|e| e == extension))
            .cloned()
            .with_context(|| format!("the bundler wrote no .{extension}"))
    };
    Ok((
        find(PackageType::Deb, "deb")?,
        find(PackageType::Rpm, "rpm")?,
    ))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_glibc_version_named_is_the_dependency() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::write(&a, b"\0GLIBC_2.2.5\0GLIBC_2.17\0").unwrap();
        fs::write(&b, b"xxGLIBC_2.34\0GLIBC_2.3.4\0GLIBC_PRIVATE\0").unwrap();
        assert_eq!(glibc_needed(std::slice::from_ref(&a)).unwrap(), "2.17");
        assert_eq!(glibc_needed(&[a, b]).unwrap(), "2.34");
        let none = dir.path().join("none");
        fs::write(&none, b"static").unwrap();
        assert!(glibc_needed(&[none]).is_err());
    }

    #[test]
    fn the_python_client_goes_into_the_documentation() {
        let files = python_client_files(&python_client_dir()).unwrap();
        let doc = Path::new("/usr/share/doc/gantry/python-client");
        for name in [
            "pyproject.toml",
            "README.md",
            "gantry_client/__init__.py",
            "gantry_client/hub.py",
            "gantry_client/types.py",
        ] {
            let source = &files[&doc.join(name)];
            assert!(source.is_file(), "{}", source.display());
        }
        assert!(
            files
                .keys()
                .all(|dest| !dest.to_string_lossy().contains("tests")),
            "the tests are not shipped: {files:?}"
        );
    }
}
