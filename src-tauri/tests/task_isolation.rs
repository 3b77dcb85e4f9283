//! Settings' "Task isolation" in the built app, on the kit's private
//! desktop: no network, a read-only root and a pids limit chosen in the
//! window reach desktop.json and the embedded agent (which restarts with
//! them), and the next task's container runs with them, as `docker
//! inspect` and the task itself see it.

mod support;

use gantry_testkit::desktop::{Desktop, desktop_ready};
use gantry_testkit::{docker, until};
use support::{
    Driver, Probe, cancel, choose_local_mode, kept_settings, open_screen, run_probe, save_form,
};

/// The value of the form field `testid`, once it exists.
async fn value(driver: &Driver, testid: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector('[data-testid={testid}]'); return e ? e.value : null;"
    );
    driver.script(&script).await.as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_network_and_a_read_only_root_reach_the_next_tasks_container() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let driver = Driver::start(&desktop, &[]).await;
    choose_local_mode(&driver).await;
    open_screen(&driver, "settings").await;
    // Filled from the agent's settings: its defaults.
    until(30, "the isolation form filled", async || {
        (value(&driver, "settings-pids-limit").await.as_deref() == Some("4096")).then_some(())
    })
    .await;
    assert_eq!(
        value(&driver, "settings-task-network").await.as_deref(),
        Some("full")
    );

    let none = driver
        .wait("[data-testid=settings-task-network] option[value=none]", 30)
        .await;
    driver.click(&none).await;
    let read_only = driver
        .wait("[data-testid=settings-read-only-root]", 30)
        .await;
    driver.click(&read_only).await;
    let pids = driver.wait("[data-testid=settings-pids-limit]", 30).await;
    driver.clear(&pids).await;
    driver.type_text(&pids, "512").await;
    if let Err(error) = save_form(&desktop, &driver, "settings-isolation").await {
        panic!("the isolation was refused: {error}");
    }
    let kept = kept_settings(&desktop);
    assert_eq!(
        kept["task_isolation"],
        serde_json::json!({
            "task_network": "none",
            "task_network_allow": [],
            "read_only_root": true,
            "task_pids_limit": 512,
        })
    );

    // A task of the restarted agent: its container as the engine made it,
    // and what the task sees from inside.
    let Probe { id, container, log } = run_probe(
        &desktop,
        "isolated",
        "touch /probe 2>/dev/null && echo root-writable || echo root-read-only; echo nets: $(ls /sys/class/net); sleep 300",
        "nets:",
    )
    .await;
    let host = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.NetworkMode}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.PidsLimit}}",
        &container,
    ]);
    assert_eq!(
        host, "none true 512",
        "NetworkMode, ReadonlyRootfs, PidsLimit"
    );
    assert!(log.contains("root-read-only"), "{log}");
    assert!(
        log.lines().any(|l| l.trim() == "nets: lo"),
        "only loopback inside: {log}"
    );
    cancel(&desktop, &id);
    driver.quit().await;
}
