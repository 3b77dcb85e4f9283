//! `gantry-dist`: the packaging half of `cargo xtask dist`, which builds the
//! binaries and then runs this. Glue over four modules: [`keys`] finds the
//! signing keys (or makes throwaway ones), [`bundle`] has the Tauri bundler
//! write the .deb and the .rpm, [`gpg`] and [`sign`] sign them and describe
//! the release.

mod bundle;
mod gpg;
mod keys;
mod sign;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::bundle::AppConfig;
use crate::gpg::Gpg;
use crate::keys::Keys;
use crate::sign::UpdaterEntry;

#[derive(Debug, Parser)]
#[command(
    name = "gantry-dist",
    about = "Bundles and signs Gantry's Linux packages (run by `cargo xtask dist`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the updater's public key, as GANTRY_UPDATER_PUBKEY takes it,
    /// alone on stdout (the app is built with it).
    Keys(KeyArgs),
    /// Bundle the release binaries into a .deb and an .rpm, sign them, and
    /// write SHA256SUMS, the public keys and the updater's latest.json.
    Bundle(BundleArgs),
}

#[derive(Debug, Args)]
struct KeyArgs {
    /// Where throwaway keys are kept from one run to the next.
    #[arg(long)]
    keys_dir: PathBuf,
    /// Fail unless the environment gives both keys (a real release).
    #[arg(long)]
    require_keys: bool,
}

#[derive(Debug, Args)]
struct BundleArgs {
    #[command(flatten)]
    keys: KeyArgs,
    /// The app's tauri.conf.json.
    #[arg(long)]
    config: PathBuf,
    /// The folder holding the release binaries (gantry-desktop, gantry).
    #[arg(long)]
    binaries: PathBuf,
    /// The folder `gantry generate --out` wrote (man/, completions/).
    #[arg(long)]
    generated: PathBuf,
    /// Where the packages and their signatures go.
    #[arg(long)]
    out: PathBuf,
    /// The address the release's files will be published under, for the
    /// updater's manifest.
    #[arg(long, env = "GANTRY_RELEASE_URL")]
    release_url: Option<String>,
    /// The release notes the updater shows.
    #[arg(long, env = "GANTRY_RELEASE_NOTES")]
    notes: Option<String>,
}

/// The public OpenPGP key's file in the output.
const RELEASE_KEY: &str = "gantry-release-key.asc";
/// The updater's public key (minisign's .pub format) in the output.
const UPDATER_KEY: &str = "updater-key.pub";

fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("gantry-dist: error: {error:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keys(args) => {
            let keys = Keys::find(&args.keys_dir, args.require_keys)?;
            say_where_keys_came_from(&keys, &args.keys_dir);
            println!("{}", keys.updater.public_tauri()?);
            Ok(())
        }
        Command::Bundle(args) => bundle(args),
    }
}

fn bundle(args: BundleArgs) -> Result<()> {
    let keys = Keys::find(&args.keys.keys_dir, args.keys.require_keys)?;
    say_where_keys_came_from(&keys, &args.keys.keys_dir);
    let config = AppConfig::read(&args.config)?;

    let (deb, rpm) = bundle::bundle(&config, &args.binaries, &args.generated)?;

    // A fresh folder: a file from an earlier version left there would be
    // summed and signed as part of this release.
    if args.out.exists() {
        fs::remove_dir_all(&args.out)
            .with_context(|| format!("cannot empty {}", args.out.display()))?;
    }
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let deb = copy_into(&deb, &args.out)?;
    let rpm = copy_into(&rpm, &args.out)?;

    sign::sign_rpm(&rpm, &keys.openpgp)?;
    let gpg = Gpg::with_key(&keys.openpgp)?;
    gpg.sign_detached(&deb)?;
    fs::write(args.out.join(RELEASE_KEY), gpg.public_key()?)?;

    let arch = std::env::consts::ARCH;
    let mut entries = Vec::new();
    for (path, kind) in [(&deb, "deb"), (&rpm, "rpm")] {
        entries.push(UpdaterEntry {
            platform: format!("linux-{arch}-{kind}"),
            file_name: sign::file_name(path)?,
            signature: sign::sign_for_updater(path, &keys.updater)?,
        });
    }
    fs::write(args.out.join(UPDATER_KEY), keys.updater.public_file()?)?;
    let release_url = args.release_url.unwrap_or_else(|| {
        format!(
            "{}/releases/download/v{}",
            env!("CARGO_PKG_REPOSITORY"),
            config.version
        )
    });
    let notes = args
        .notes
        .unwrap_or_else(|| format!("{} {}", config.product_name, config.version));
    let manifest = sign::manifest(&config.version, &notes, &release_url, &entries);
    fs::write(
        args.out.join("latest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;

    // Last, so that it covers every other file.
    let mut names: Vec<String> = fs::read_dir(&args.out)?
        .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_>>()?;
    names.sort();
    let sums = args.out.join("SHA256SUMS");
    fs::write(&sums, sign::checksums(&args.out, &names)?)?;
    gpg.sign_detached(&sums)?;

    eprintln!("gantry-dist: wrote to {}:", args.out.display());
    let mut written: Vec<_> = fs::read_dir(&args.out)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    for name in written {
        eprintln!("  {name}");
    }
    eprintln!("gantry-dist: the updater's manifest points at {release_url}/");
    if keys.any_throwaway() {
        eprintln!(
            "gantry-dist: SIGNED WITH THROWAWAY KEYS: fine for testing, never publish these packages"
        );
    }
    Ok(())
}

fn copy_into(file: &Path, dir: &Path) -> Result<PathBuf> {
    let target = dir.join(file.file_name().context("a package's name")?);
    fs::copy(file, &target)
        .with_context(|| format!("cannot copy {} to {}", file.display(), dir.display()))?;
    Ok(target)
}

fn say_where_keys_came_from(keys: &Keys, keys_dir: &Path) {
    let origin = |throwaway: bool, variable: &str| {
        if throwaway {
            format!("a throwaway key in {}", keys_dir.display())
        } else {
            variable.to_owned()
        }
    };
    eprintln!(
        "gantry-dist: OpenPGP key: {}; updater key: {}",
        origin(keys.openpgp.throwaway, keys::GPG_KEY),
        origin(keys.updater.throwaway, keys::UPDATER_KEY)
    );
}
