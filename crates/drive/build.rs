//! Embeds every module of the Python package `clients/python/gantry_client`
//! (all its `*.py`) so that `gantry drive -c` runs the very files of this
//! commit: a module added to the package is embedded by the next build,
//! with nothing to list by hand (`python::tests` checks that it was).

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let package = manifest.join("../../clients/python/gantry_client");
    println!("cargo:rerun-if-changed={}", package.display());
    let mut names: Vec<String> = std::fs::read_dir(&package)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", package.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".py"))
        .collect();
    names.sort();
    let mut code = String::from(
        "/// The package's modules: file name and text.\npub(crate) const MODULES: &[(&str, &str)] = &[\n",
    );
    for name in &names {
        let path = package.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("python_modules.rs"), code).expect("cannot write python_modules.rs");
}
