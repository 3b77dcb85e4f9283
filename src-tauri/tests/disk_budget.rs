//! The disk budget in the built app, on the kit's private desktop: Storage
//! shows the budget by kind and what would go next; Settings' three numbers
//! and the kept-results switch reach desktop.json and the agent (which
//! restarts with them), and Storage then shows the new limit.

mod support;

use gantry_testkit::desktop::{Desktop, desktop_ready};
use gantry_testkit::until;
use support::{Driver, choose_local_mode, kept_settings, open_screen, save_form};

/// The value of the form field `testid`, once it exists.
async fn value(driver: &Driver, testid: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector('[data-testid={testid}]'); return e ? e.value : null;"
    );
    driver.script(&script).await.as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_shows_the_budget_and_settings_change_it() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let driver = Driver::start(&desktop, &[]).await;
    choose_local_mode(&driver).await;

    open_screen(&driver, "storage").await;
    driver.wait("[data-testid=disk-budget]", 30).await;
    // Measured (or the reason it could not be, shown in the card).
    let card = driver
        .wait_text("[data-testid=disk-budget]", 60, |t| {
            !t.contains("Measuring")
        })
        .await;
    assert!(card.contains("Images Gantry pulled"), "{card}");
    for kind in ["image", "blob", "result", "task_folder"] {
        driver
            .wait(&format!("[data-testid=disk-used-{kind}]"), 30)
            .await;
    }
    driver.wait("[data-testid=disk-next]", 30).await;

    open_screen(&driver, "settings").await;
    // Filled from the agent's settings: the desktop's defaults.
    until(30, "the disk form filled", async || {
        (value(&driver, "settings-disk-max-percent").await.as_deref() == Some("50")).then_some(())
    })
    .await;
    let max_gb = driver.wait("[data-testid=settings-disk-max-gb]", 30).await;
    driver.clear(&max_gb).await;
    driver.type_text(&max_gb, "7.5").await;
    // No free space kept (0 leaves it out): the 7.5 GB is the tightest on
    // any test machine.
    let min_free = driver
        .wait("[data-testid=settings-disk-min-free-gb]", 30)
        .await;
    driver.clear(&min_free).await;
    driver.type_text(&min_free, "0").await;
    let switch = driver
        .wait("[data-testid=settings-disk-evict-unsynced]", 30)
        .await;
    driver.click(&switch).await;
    save_form(&desktop, &driver, "settings-disk")
        .await
        .expect("the disk budget saved");
    let kept = kept_settings(&desktop);
    assert_eq!(kept["disk"]["disk_max_gb"], 7.5);
    assert_eq!(kept["disk"]["disk_max_percent"], 50);
    assert_eq!(kept["disk"]["disk_min_free_gb"], 0.0);
    assert_eq!(kept["disk"]["disk_evict_unsynced_results"], true);

    // The agent runs with it: Storage's budget says 7.5 GB is the most.
    open_screen(&driver, "storage").await;
    driver
        .wait_text("[data-testid=disk-used-total]", 30, |t| {
            t.contains("of 7.5 GB") && t.contains("at most")
        })
        .await;
    driver.quit().await;
}
