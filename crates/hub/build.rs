//! Compresses the web console (`ui/dist-console`, built by `npm run build`
//! in ui/) into the hub: every file gzip-compressed at the best level into
//! OUT_DIR, and a table (`console_files.rs`) of its path, media type, the
//! compressed bytes (`include_bytes!`) and an ETag from the sha256 of its
//! bytes, which `src/console.rs` serves.
//!
//! Without `ui/dist-console` (a machine without Node.js: `cargo check`, the
//! fuzz crate, clippy) the build still succeeds with an empty table and a
//! warning; such a hub answers its console's address with a sentence saying
//! how to build it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    let ui = manifest.join("../../ui");
    let source = ui.join("dist-console");
    let built = source.join("console.html").is_file();
    // A folder is watched whole: any file in it changing reruns this script.
    // Without the console, the desktop's ui/dist is watched instead when it
    // exists: `npm run build` rewrites it along with ui/dist-console, so the
    // console is picked up when it is built. (A path that does not exist
    // reruns this script, and rebuilds the hub, at every build; ui/ itself
    // would too often, as its node_modules caches change with every test run.)
    let desktop = ui.join("dist");
    let watched = if built || !desktop.is_dir() {
        &source
    } else {
        &desktop
    };
    println!("cargo:rerun-if-changed={}", watched.display());
    let files_dir = out.join("console");
    if files_dir.exists() {
        std::fs::remove_dir_all(&files_dir).expect("clear OUT_DIR/console");
    }
    std::fs::create_dir_all(&files_dir).expect("create OUT_DIR/console");
    let mut table = String::from("&[\n");
    if built {
        let mut files = Vec::new();
        walk(&source, &mut files);
        files.sort();
        for (index, path) in files.iter().enumerate() {
            let relative = path
                .strip_prefix(&source)
                .expect("walked under source")
                .to_str()
                .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
                .replace('\\', "/");
            let bytes = std::fs::read(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let etag = format!("W/\"{}\"", hex::encode(&Sha256::digest(&bytes)[..16]));
            let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
            gzip.write_all(&bytes).expect("compress in memory");
            let gzip = gzip.finish().expect("compress in memory");
            let name = format!("{index}.gz");
            std::fs::write(files_dir.join(&name), &gzip).expect("write OUT_DIR/console");
            writeln!(
                table,
                "    ConsoleFile {{ path: {relative:?}, media: {media:?}, length: {length}, \
                 gzip: include_bytes!(concat!(env!(\"OUT_DIR\"), \"/console/{name}\")), etag: {etag:?} }},",
                media = media_type(&relative),
                length = bytes.len(),
            )
            .expect("write to a string");
        }
    } else {
        println!(
            "cargo:warning=ui/dist-console is missing: this gantry is built without its web console \
             (build it with `npm ci && npm run build` in ui/, or `cargo xtask run`, then rebuild)"
        );
    }
    table.push_str("]\n");
    std::fs::write(out.join("console_files.rs"), table).expect("write OUT_DIR/console_files.rs");
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// The media type a file is served as, by its extension.
fn media_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}
