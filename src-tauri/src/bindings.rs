//! The UI's TypeScript declarations, `ui/src/bindings/index.ts`, generated
//! from the core's view types (`gantry_desktop_core::view`): the test fails
//! when the committed file is stale. It lives in the app, beside the UI it
//! builds in, and runs with the app's unit tests.

#[test]
fn bindings_are_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/bindings/index.ts");
    let generated = gantry_desktop_core::view::typescript();
    if std::env::var_os("GANTRY_WRITE_BINDINGS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "ui/src/bindings/index.ts is stale; rewrite it with: GANTRY_WRITE_BINDINGS=1 cargo test -p gantry-desktop bindings"
    );
}
