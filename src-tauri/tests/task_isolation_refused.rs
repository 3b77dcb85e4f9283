//! Settings' "Task isolation" when the agent cannot take the choice: on a
//! machine where the app may not set firewall rules, saving `no-private`
//! is refused with the agent's reason, the previous choice stays (in
//! desktop.json too) and the embedded agent goes on with it, running tasks.
//!
//! The tests here run as root, where the real `iptables` would succeed: the
//! app is started with `PATH` beginning with a folder whose `iptables`
//! answers as it does for a user who is not root ("Permission denied (you
//! must be root)", exit status 4), a stand-in for a non-root machine.

mod support;

use std::os::unix::fs::PermissionsExt;

use gantry_testkit::desktop::{Desktop, desktop_ready};
use gantry_testkit::{docker, until};
use support::{
    Driver, Probe, cancel, choose_local_mode, kept_settings, open_screen, run_probe, save_form,
};

/// What `iptables` says to a user who is not root.
const REFUSAL: &str = "iptables: Permission denied (you must be root)";

/// Chooses `network` in the form and saves; the screen's answer: `Ok` for
/// "saved", `Err` with the sentence in the save bar.
async fn save_network(desktop: &Desktop, driver: &Driver, network: &str) -> Result<(), String> {
    let option = driver
        .wait(
            &format!("[data-testid=settings-task-network] option[value={network}]"),
            30,
        )
        .await;
    driver.click(&option).await;
    save_form(desktop, driver, "settings-isolation").await
}

/// desktop.json's task isolation network.
fn kept_network(desktop: &Desktop) -> serde_json::Value {
    kept_settings(desktop)["task_isolation"]["task_network"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_without_firewall_rights_is_not_kept_and_the_agent_goes_on() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let bin = desktop.dir.path().join("not-root-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let iptables = bin.join("iptables");
    std::fs::write(
        &iptables,
        format!("#!/bin/sh\necho '{REFUSAL}' >&2\nexit 4\n"),
    )
    .unwrap();
    std::fs::set_permissions(&iptables, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let driver = Driver::start_with_env(&desktop, &[], &[("PATH", &path)]).await;
    choose_local_mode(&driver).await;
    open_screen(&driver, "settings").await;
    until(30, "the isolation form filled", async || {
        let value = driver
            .script("const e = document.querySelector('[data-testid=settings-pids-limit]'); return e ? e.value : null;")
            .await;
        (value.as_str() == Some("4096")).then_some(())
    })
    .await;

    // A choice the agent takes: the one to fall back on.
    save_network(&desktop, &driver, "none")
        .await
        .expect("`none` needs no firewall rule");
    assert_eq!(kept_network(&desktop), "none");

    let refused = save_network(&desktop, &driver, "no-private")
        .await
        .expect_err("no-private cannot be kept without firewall rights");
    assert!(refused.contains("Not kept"), "says so: {refused}");
    assert!(
        refused.contains("CAP_NET_ADMIN") && refused.contains(REFUSAL),
        "with the agent's reason and iptables' own words: {refused}"
    );
    assert!(refused.contains("previous choice"), "{refused}");
    assert_eq!(
        kept_network(&desktop),
        "none",
        "desktop.json keeps the previous choice"
    );
    // And the form shows the choice the agent goes on with.
    let shown = driver
        .script("return document.querySelector('[data-testid=settings-task-network]').value")
        .await;
    assert_eq!(shown, "none", "the form shows the previous choice again");

    // The agent runs, with the previous choice: a task's container has no network.
    let Probe { id, container, log } = run_probe(
        &desktop,
        "after-refusal",
        "echo nets: $(ls /sys/class/net); sleep 300",
        "nets:",
    )
    .await;
    assert_eq!(
        docker(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &container]),
        "none",
        "the agent runs with the previous choice"
    );
    assert!(log.lines().any(|l| l.trim() == "nets: lo"), "{log}");
    cancel(&desktop, &id);
    driver.quit().await;
}
