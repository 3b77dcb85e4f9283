//! The .deb and the .rpm, written by the Tauri bundler from the app's own
//! `tauri.conf.json`, with the `gantry` CLI, its man pages and its shell
//! completions added beside the app.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

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
    // reads.
    let man = generated.join("man");
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
    Ok(files)
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

/// Runs the Tauri bundler over the release binaries in `binaries` and
/// returns the .deb and the .rpm it wrote (under `binaries/bundle/`).
pub fn bundle(config: &AppConfig, binaries: &Path, generated: &Path) -> Result<(PathBuf, PathBuf)> {
    for name in [config.main_binary_name.as_str(), CLI] {
        let path = binaries.join(name);
        if !path.is_file() {
            bail!(
                "{} is missing: build it first (cargo build --release -p gantry-desktop -p gantry-cli)",
                path.display()
            );
        }
    }
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
            depends: Some(strings(&[
                "libwebkit2gtk-4.1-0",
                "libgtk-3-0",
                "libdbus-1-3",
                "libayatana-appindicator3-1 | libappindicator3-1",
            ])),
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
        .project_out_directory(binaries)
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
