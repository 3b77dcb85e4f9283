//! The yield rules' flags on the real `gantry` binary: `--help` names each
//! with its variable and agent.toml key, a bad value stops `gantry agent
//! start` with a sentence naming the flag and what to write, and `gantry
//! service install` carries them into the unit it writes.

use std::process::{Command, Output, Stdio};

const GANTRY: &str = env!("CARGO_BIN_EXE_gantry");

/// `gantry ARGS` with none of the agent's variables from this process and
/// a home of the test's own.
fn gantry(home: &std::path::Path, args: &[&str]) -> Output {
    let mut command = Command::new(GANTRY);
    for (name, _) in std::env::vars() {
        if name.starts_with("GANTRY_") {
            command.env_remove(name);
        }
    }
    command
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn help_names_every_yield_flag_with_its_variable_and_key() {
    let home = tempfile::tempdir().unwrap();
    let help = gantry(home.path(), &["agent", "start", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    for (flag, var, key) in [
        ("--quiet-hours <SPEC>", "GANTRY_QUIET_HOURS", "quiet_hours"),
        (
            "--yield-when-active <MINUTES>",
            "GANTRY_YIELD_WHEN_ACTIVE",
            "yield_when_active",
        ),
        (
            "--yield-on-battery",
            "GANTRY_YIELD_ON_BATTERY",
            "yield_on_battery",
        ),
        (
            "--exclusive-app <NAME>",
            "GANTRY_EXCLUSIVE_APP",
            "exclusive_app",
        ),
        (
            "--yield-above-temp <C>",
            "GANTRY_YIELD_ABOVE_TEMP",
            "yield_above_temp",
        ),
        (
            "--yield-action <freeze|release>",
            "GANTRY_YIELD_ACTION",
            "yield_action",
        ),
        ("--yield-grace <SECS>", "GANTRY_YIELD_GRACE", "yield_grace"),
        ("--settle <SECS>", "GANTRY_SETTLE", "settle"),
        ("--reserve-gpu <INDEX>", "GANTRY_RESERVE_GPU", "reserve_gpu"),
        (
            "--ignore-gpu-programs",
            "GANTRY_IGNORE_GPU_PROGRAMS",
            "ignore_gpu_programs",
        ),
    ] {
        let at = help
            .find(flag)
            .unwrap_or_else(|| panic!("{flag} missing:\n{help}"));
        let entry = &help[at..];
        let end = entry[flag.len()..]
            .find("\n  -")
            .map_or(entry.len(), |e| e + flag.len());
        let entry = &entry[..end];
        assert!(entry.contains(var) && entry.contains(key), "{entry}");
    }
}

#[test]
fn a_bad_rule_stops_the_agent_with_what_to_write() {
    let home = tempfile::tempdir().unwrap();
    for (args, says) in [
        (
            vec!["--quiet-hours", "mon-fry 09:00-18:00"],
            "--quiet-hours \"mon-fry 09:00-18:00\": fry is not a day",
        ),
        (
            vec!["--yield-action", "pause"],
            "--yield-action pause is not an action; write freeze",
        ),
        (
            vec!["--yield-above-temp", "500"],
            "--yield-above-temp 500 is more than 120",
        ),
    ] {
        let mut all = vec!["agent", "start", "--server", "http://127.0.0.1:9"];
        all.extend(args);
        let output = gantry(home.path(), &all);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{all:?} started");
        assert!(stderr.contains(says), "{all:?}: {stderr}");
    }
}

#[test]
fn service_install_writes_the_rules_into_the_unit() {
    let home = tempfile::tempdir().unwrap();
    let token = home.path().join("token");
    std::fs::write(&token, "t0k\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut command = Command::new(GANTRY);
    for (name, _) in std::env::vars() {
        if name.starts_with("GANTRY_") {
            command.env_remove(name);
        }
    }
    let output = command
        .args([
            "service",
            "install",
            "--server",
            "http://127.0.0.1:9",
            "--token-file",
        ])
        .arg(&token)
        .args([
            "--no-start",
            "--quiet-hours",
            "sat,sun 00:00-24:00",
            "--exclusive-app",
            "blender",
            "--yield-action",
            "release",
            "--settle",
            "30",
            "--reserve-gpu",
            "0",
            "--yield-on-battery",
        ])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .env("GANTRY_SYSTEMCTL", "true")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let unit = std::fs::read_to_string(
        home.path()
            .join(".config/systemd/user/gantry-agent.service"),
    )
    .unwrap();
    assert!(
        unit.contains(
            "--quiet-hours \"sat,sun 00:00-24:00\" --exclusive-app blender --yield-action release \
             --settle 30 --reserve-gpu 0 --yield-on-battery"
        ),
        "{unit}"
    );
    // A bad rule is refused at install, not at each start in the journal.
    let output = gantry(
        home.path(),
        &[
            "service",
            "install",
            "--server",
            "http://127.0.0.1:9",
            "--token-file",
            token.to_str().unwrap(),
            "--no-start",
            "--yield-action",
            "nap",
        ],
    );
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--yield-action nap is not an action")
    );
}
