//! Settings' "When to step aside" in the built app, on the kit's private
//! desktop: the rules typed in the window reach the agent's settings (the
//! agent restarts with them), a spec it could not read is refused with how
//! to write it, and an always-quiet rule makes the tray and the Overview say
//! why work stopped, and says so in a notification when asked to.

mod support;

use gantry_testkit::desktop::{Desktop, desktop_ready};
use gantry_testkit::until;
use support::{Driver, choose_local_mode, kept_settings, open_screen, save_form};

/// Types `text` into the field `testid` in place of what it held.
async fn fill(driver: &Driver, testid: &str, text: &str) {
    let field = driver.wait(&format!("[data-testid={testid}]"), 30).await;
    driver.clear(&field).await;
    driver.type_text(&field, text).await;
}

/// The value of the form field `testid`, once it exists.
async fn value(driver: &Driver, testid: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector('[data-testid={testid}]'); return e ? e.value : null;"
    );
    driver.script(&script).await.as_str().map(str::to_owned)
}

/// Opens Settings in local mode, with the step-aside form filled.
async fn settings(desktop: &Desktop) -> Driver {
    let driver = Driver::start(desktop, &[]).await;
    choose_local_mode(&driver).await;
    open_screen(&driver, "settings").await;
    // Filled from the agent's settings.
    until(30, "the step-aside form filled", async || {
        value(&driver, "settings-yield-grace")
            .await
            .filter(|v| !v.is_empty())
    })
    .await;
    driver
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_aside_rules_reach_the_agent_and_a_bad_spec_is_said() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let driver = settings(&desktop).await;

    fill(&driver, "settings-quiet-hours", "weekdays 9 to 5").await;
    let refused = save_form(&desktop, &driver, "settings-yield")
        .await
        .expect_err("a bad spec is refused");
    assert!(
        refused.contains("write the days, a space and the hours, e.g. mon-fri 09:00-18:00"),
        "{refused}"
    );

    fill(&driver, "settings-quiet-hours", "sat,sun 22:00-07:00").await;
    fill(&driver, "settings-exclusive-apps", "blender").await;
    fill(&driver, "settings-yield-active-minutes", "5").await;
    let battery = driver
        .wait("[data-testid=settings-yield-battery]", 30)
        .await;
    driver.click(&battery).await;
    save_form(&desktop, &driver, "settings-yield")
        .await
        .expect("the rules are saved");
    let kept = kept_settings(&desktop);
    let rules = &kept["step_aside"];
    assert_eq!(
        rules["quiet_hours"],
        serde_json::json!(["sat,sun 22:00-07:00"])
    );
    assert_eq!(rules["exclusive_app"], serde_json::json!(["blender"]));
    assert_eq!(rules["yield_when_active"], 5);
    assert_eq!(rules["yield_on_battery"], true);
    // The agent restarted with them: Settings, opened again, shows what it
    // now runs with.
    open_screen(&driver, "overview").await;
    open_screen(&driver, "settings").await;
    until(30, "the agent's quiet hours shown", async || {
        (value(&driver, "settings-quiet-hours").await.as_deref() == Some("sat,sun 22:00-07:00"))
            .then_some(())
    })
    .await;
    driver.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_quiet_hours_make_the_tray_and_overview_say_why() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let driver = settings(&desktop).await;
    fill(&driver, "settings-quiet-hours", "mon-sun 00:00-24:00").await;
    let notify = driver.wait("[data-testid=settings-yield-notify]", 30).await;
    driver.click(&notify).await;
    save_form(&desktop, &driver, "settings-yield")
        .await
        .expect("the rule is saved");
    let line = until(60, "the tray to say why work stopped", async || {
        let status = desktop.tray.menu().await.into_iter().nth(1)?;
        status
            .label
            .starts_with("Paused for quiet hours")
            .then_some(status.label)
    })
    .await;
    // Hours that always hold have no end to name.
    assert_eq!(line, "Paused for quiet hours");
    open_screen(&driver, "overview").await;
    let overview = driver
        .wait_text("[data-testid=overview-yield-reason]", 30, |t| !t.is_empty())
        .await;
    assert_eq!(overview.trim(), line.split(" · ").next().unwrap());
    // Asked for, a notification says it once.
    let said = until(30, "the step-aside notification", async || {
        let log = desktop.notifications();
        log.contains("Gantry steps aside").then_some(log)
    })
    .await;
    assert!(said.contains("Paused for quiet hours"), "{said}");
    driver.quit().await;
}
