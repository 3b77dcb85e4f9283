//! The rules ARCHITECTURE.md states about where things live and how big
//! they grow, checked the way tidy checks rust-lang/rust: by reading the
//! manifests and the source.
//! A rule broken here is either a mistake in the change or a sentence in
//! ARCHITECTURE.md that must change with it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

/// Every workspace member's name and its normal (not dev, not build)
/// dependencies, read from the manifests.
fn members() -> BTreeMap<String, (PathBuf, Vec<String>)> {
    let workspace: toml::Table = read_toml(&root().join("Cargo.toml"));
    let paths = workspace["workspace"]["members"].as_array().unwrap();
    paths
        .iter()
        .map(|path| {
            let dir = root().join(path.as_str().unwrap());
            let manifest = read_toml(&dir.join("Cargo.toml"));
            let name = manifest["package"]["name"].as_str().unwrap().to_owned();
            let deps = manifest
                .get("dependencies")
                .and_then(|d| d.as_table())
                .map(|d| d.keys().cloned().collect())
                .unwrap_or_default();
            (name, (dir, deps))
        })
        .collect()
}

fn read_toml(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path).unwrap();
    text.parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each foreign library lives in one product crate's library code. The test
/// kit and the benchmarks may also speak raw HTTP (to send what no client
/// would) and set up PostgreSQL databases, and the kit may close a window
/// over X as a window manager does (x11rb).
#[test]
fn each_foreign_library_has_one_home() {
    let homes: &[(&str, &[&str])] = &[
        (
            "reqwest",
            &["gantry-client", "gantry-testkit", "gantry-bench"],
        ),
        ("bollard", &["gantry-agent"]),
        ("nvml-wrapper", &["gantry-agent"]),
        ("x11rb", &["gantry-agent", "gantry-testkit"]),
        ("axum", &["gantry-hub"]),
        ("tokio-rustls", &["gantry-hub"]),
        ("hyper-util", &["gantry-hub"]),
        ("rustls", &["gantry-hub", "gantry-client"]),
        ("rcgen", &["gantry-testkit"]),
        ("sqlx", &["gantry-hub", "gantry-testkit"]),
        ("tauri", &["gantry-desktop"]),
        ("tracing-subscriber", &["gantry-logging"]),
        ("tracing-appender", &["gantry-logging"]),
        ("tauri-bundler", &["gantry-dist"]),
        ("rpm", &["gantry-dist"]),
        ("minisign", &["gantry-dist"]),
        ("httparse", &["gantry-drive", "gantry-agent"]),
    ];
    let mut wrong = Vec::new();
    for (name, (_, deps)) in members() {
        for (library, allowed) in homes {
            if deps.iter().any(|d| d == library) && !allowed.contains(&name.as_str()) {
                wrong.push(format!(
                    "{name} depends on {library} (its home: {allowed:?})"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// The protocol crate is vocabulary: serde and its formats, schemars,
/// thiserror, and nothing that does I/O.
#[test]
fn the_protocol_crate_depends_on_vocabulary_only() {
    let members = members();
    let (_, deps) = &members["gantry-protocol"];
    let allowed = [
        "serde",
        "serde_json",
        "serde_norway",
        "serde_path_to_error",
        "schemars",
        "thiserror",
    ];
    let extra: Vec<_> = deps
        .iter()
        .filter(|d| !allowed.contains(&d.as_str()))
        .collect();
    assert!(
        extra.is_empty(),
        "gantry-protocol also depends on {extra:?}"
    );
}

/// xtask installs, starts, builds and runs: it speaks no Gantry protocol
/// and no HTTP.
#[test]
fn xtask_stays_lean() {
    let members = members();
    let (_, deps) = &members["xtask"];
    let heavy: Vec<_> = deps
        .iter()
        .filter(|d| d.starts_with("gantry-") || ["reqwest", "hyper", "ureq"].contains(&d.as_str()))
        .collect();
    assert!(heavy.is_empty(), "xtask depends on {heavy:?}");
}

/// `gantry drive` reaches the hub through the client only: it links
/// neither the hub nor the agent (nor axum or reqwest, checked above).
#[test]
fn the_driver_talks_to_the_hub_through_the_client() {
    let members = members();
    let (_, drive) = &members["gantry-drive"];
    assert!(drive.iter().any(|d| d == "gantry-client"), "{drive:?}");
    assert!(
        !drive
            .iter()
            .any(|d| ["gantry-hub", "gantry-agent", "axum", "reqwest"].contains(&d.as_str())),
        "{drive:?}"
    );
}

/// The agent and the hub share only the protocol: neither links the other,
/// and the hub does not link the client either.
#[test]
fn the_agent_and_the_hub_do_not_know_each_other() {
    let members = members();
    let (_, agent) = &members["gantry-agent"];
    let (_, hub) = &members["gantry-hub"];
    assert!(!agent.iter().any(|d| d == "gantry-hub"), "{agent:?}");
    assert!(
        !hub.iter()
            .any(|d| ["gantry-agent", "gantry-client"].contains(&d.as_str())),
        "{hub:?}"
    );
}

/// Inside the agent, bollard is named only under `docker/`, NVML only
/// in `monitor.rs`, x11rb only in `yielding/x11.rs`, zbus only in
/// `yielding/bus.rs` and httparse only in `metrics/http.rs`; inside the client, reqwest is named only in its library.
#[test]
fn libraries_stay_in_their_modules() {
    let agent = root().join("crates/agent/src");
    let mut wrong = Vec::new();
    for file in rust_files(&agent) {
        let text = std::fs::read_to_string(&file).unwrap();
        let relative = file.strip_prefix(&agent).unwrap();
        if text.contains("bollard::") && !relative.starts_with("docker") {
            wrong.push(format!("{} names bollard", relative.display()));
        }
        if text.contains("nvml_wrapper") && relative != Path::new("monitor.rs") {
            wrong.push(format!("{} names NVML", relative.display()));
        }
        if text.contains("x11rb::") && relative != Path::new("yielding/x11.rs") {
            wrong.push(format!("{} names x11rb", relative.display()));
        }
        if text.contains("zbus::") && relative != Path::new("yielding/bus.rs") {
            wrong.push(format!("{} names zbus", relative.display()));
        }
        if text.contains("httparse::") && relative != Path::new("metrics/http.rs") {
            wrong.push(format!("{} names httparse", relative.display()));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The library and app sources whose size the house rules bound: every
/// crate's `src` and the desktop app's.
fn sources() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = members()
        .into_values()
        .map(|(dir, _)| dir.join("src"))
        .filter(|dir| dir.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().flat_map(|dir| rust_files(dir)).collect()
}

/// No source file passes 900 lines, but the hub's route table.
#[test]
fn files_stay_short() {
    let exempt = [root().join("crates/hub/src/api/mod.rs")];
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|file| !exempt.contains(file))
        .filter_map(|file| {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            (lines > 900).then(|| format!("{}: {lines} lines", relative(&file)))
        })
        .collect();
    assert!(long.is_empty(), "over 900 lines: {long:#?}");
}

/// No function outside tests passes 120 lines.
#[test]
fn functions_fit_on_a_screen() {
    let mut long = Vec::new();
    for file in sources() {
        if file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (name, line, lines) in functions(&text) {
            if lines > 120 {
                long.push(format!(
                    "{}:{line} fn {name}: {lines} lines",
                    relative(&file)
                ));
            }
        }
    }
    assert!(long.is_empty(), "over 120 lines: {long:#?}");
}

fn relative(file: &Path) -> String {
    file.strip_prefix(root()).unwrap().display().to_string()
}

/// Each function's name, first line and length in `text`, outside
/// `#[cfg(test)]` modules. A small scanner that knows comments, strings,
/// raw strings and char literals, enough to match braces in this code base.
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let code = blank_literals(text);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    let mut depth = 0usize;
    // (name, first line, depth at which its body opened)
    let mut open: Vec<(String, usize, usize)> = Vec::new();
    let mut skip_below: Option<usize> = None;
    let mut pending: Option<(String, usize)> = None;
    let mut test_attribute = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            test_attribute = true;
        }
        if skip_below.is_none()
            && let Some(name) = fn_name(trimmed)
        {
            pending = Some((name, index + 1));
        }
        for c in line.chars() {
            match c {
                '{' => {
                    if test_attribute && skip_below.is_none() {
                        skip_below = Some(depth);
                        test_attribute = false;
                    }
                    if let Some((name, first)) = pending.take() {
                        open.push((name, first, depth));
                    }
                    depth += 1;
                }
                '}' => {
                    depth = depth.saturating_sub(1);
                    if skip_below == Some(depth) {
                        skip_below = None;
                    }
                    if open.last().is_some_and(|(_, _, d)| *d == depth) {
                        let (name, first, _) = open.pop().unwrap();
                        found.push((name, first, index + 2 - first));
                    }
                }
                // A declaration without a body (a trait's).
                ';' if open.last().is_none_or(|(_, _, d)| *d < depth) => pending = None,
                _ => {}
            }
        }
        if test_attribute
            && !trimmed.starts_with("#[")
            && !trimmed.is_empty()
            && !line.contains('{')
        {
            // `#[cfg(test)] use …;` or a one-line item: not a module.
            test_attribute = trimmed.starts_with("mod ") || trimmed.starts_with("pub mod ");
        }
    }
    found
}

/// The name after `fn` when `line` starts a function item.
fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(word) = words.next() {
        match word {
            "pub" | "async" | "const" | "unsafe" | "extern" | "default" => {}
            w if w.starts_with("pub(") => {}
            w if w.starts_with('"') => {} // extern "C"
            "fn" => {
                let name = words.next()?;
                let end = name
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(name.len());
                return Some(name[..end].to_owned());
            }
            _ => return None,
        }
    }
    None
}

/// `text` with every comment, string and char literal's contents replaced
/// by spaces (newlines kept), so braces inside them do not count.
fn blank_literals(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                blank(&mut out, chars[i]);
                i += 1;
            }
            i += 2;
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !chars
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match chars.get(j) {
                    None => break,
                    Some('"') if (0..hashes).all(|k| chars.get(j + 1 + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(&other) => blank(&mut out, other),
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    blank(&mut out, chars[i]);
                }
                i += 1;
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = if next == Some('\\') {
                (i + 2..chars.len().min(i + 12)).find(|&k| chars[k] == '\'')
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

#[test]
fn the_scanner_measures_functions() {
    let text = r##"
fn one() {
    let s = "{ not a brace";
    let c = '{';
}

#[cfg(test)]
mod tests {
    fn hidden() {
    }
}

pub(crate) async fn two<'a>(x: &'a str) -> &'a str {
    // }
    /* { */
    let r = r#"}"#;
    x
}
"##;
    let found = functions(text);
    assert_eq!(
        found,
        vec![("one".to_owned(), 2, 4), ("two".to_owned(), 13, 6)]
    );
}
