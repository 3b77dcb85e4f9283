//! The built app, end to end: under Xvfb with a private D-Bus session, an
//! unlocked GNOME Keyring and a notification server, driven through
//! tauri-driver and WebKitWebDriver, against a real hub and the real Docker
//! engine. The tray's menu is read and clicked over D-Bus (dbusmenu).

mod support;

use std::process::Stdio;
use std::time::Duration;

use gantry_testkit::desktop::{Desktop, Keyring, desktop_ready};
use gantry_testkit::{Process, World, until};
use support::{Driver, choose_local_mode, open_screen, save_form};

/// A hub in this process, with a node token for the app and an admin token
/// for the CLI.
struct Hub {
    world: World,
    node_token: String,
    admin_token: String,
}

async fn hub() -> Hub {
    let world = World::start().await.expect("Docker is ready");
    let now = world.hub.now();
    let node_token = world.hub.db().add_node("desk", &[], now).await.unwrap();
    let admin_token = world.hub.db().create_admin_token("cli", now).await.unwrap();
    Hub {
        world,
        node_token,
        admin_token,
    }
}

fn job_file(desktop: &Desktop, name: &str, script: &str) -> std::path::PathBuf {
    let path = desktop.dir.path().join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "name: {name}\nimage: {}\ncommand: [sh, -c, '{script}']\n",
            gantry_testkit::image()
        ),
    )
    .unwrap();
    path
}

fn submit(desktop: &Desktop, args: &[&str]) -> String {
    let out = desktop.gantry(args);
    assert!(
        out.status.success(),
        "gantry {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Submits a job file to `hub` with the CLI, as its admin.
fn submit_to(desktop: &Desktop, hub: &Hub, job: &std::path::Path) -> String {
    submit(
        desktop,
        &[
            "task",
            "submit",
            job.to_str().unwrap(),
            "--server",
            &hub.world.url,
            "--token",
            &hub.admin_token,
        ],
    )
}

/// With GANTRY_SCREENSHOTS set, saves the window as docs/screenshots/<name>.png
/// (the README shows the built app against the real agent this way).
async fn picture(driver: &Driver, name: &str) {
    if std::env::var_os("GANTRY_SCREENSHOTS").is_some() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/screenshots")
            .join(format!("{name}.png"));
        driver.screenshot(&path).await;
    }
}

fn row(id: &str) -> String {
    format!("[data-testid=task-row][data-task-id=\"{id}\"]")
}

async fn state_of(driver: &Driver, id: &str) -> Option<String> {
    let row = driver.find(&row(id)).await?;
    driver.attribute(&row, "data-state").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_wizard_keychain_live_log_notification_and_tray() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let hub = hub().await;
    let url = hub.world.url.clone();
    let driver = Driver::start(&desktop, &[]).await;

    // First run: the wizard.
    let server = driver.wait("[data-testid=wizard-server]", 60).await;
    let token = driver.wait("[data-testid=wizard-token]", 5).await;
    let connect = driver.wait("[data-testid=wizard-connect]", 5).await;
    assert!(
        driver.find("[data-testid=wizard-error]").await.is_none(),
        "no error before trying"
    );
    driver.type_text(&server, &url).await;
    driver
        .type_text(&token, "gantry_node_not-a-real-token")
        .await;
    driver.click(&connect).await;
    let error = driver
        .wait_text("[data-testid=wizard-error]", 30, |t| !t.is_empty())
        .await;
    assert!(
        error.contains("does not know this token"),
        "a wrong token says so: {error}"
    );
    assert_eq!(
        desktop.keychain_lookup(&url),
        None,
        "a wrong token is not kept"
    );

    // The right token connects.
    driver.clear(&token).await;
    driver.type_text(&token, &hub.node_token).await;
    driver.click(&connect).await;
    driver
        .wait_text("[data-testid=status-connection]", 60, |t| {
            t.trim() == "connected"
        })
        .await;

    // The token is in the keychain, read back through the Secret Service, and
    // in no file under the host dir or the config dir.
    assert_eq!(
        desktop.keychain_lookup(&url).as_deref(),
        Some(hub.node_token.as_str())
    );
    for root in [desktop.config_dir(), desktop.data_dir()] {
        let found = Desktop::files_containing(&root, &hub.node_token);
        assert!(found.is_empty(), "the token is written in {found:?}");
    }
    let page = driver
        .script("return document.documentElement.outerHTML")
        .await;
    assert!(
        !page.as_str().unwrap_or_default().contains(&hub.node_token),
        "the token is still in the page"
    );

    // A task submitted with the CLI appears, with its live log.
    let job = job_file(
        &desktop,
        "counting",
        "for i in $(seq 1 40); do echo line $i; sleep 0.1; done",
    );
    let id = submit_to(&desktop, &hub, &job);
    let task_row = driver.wait(&row(&id), 60).await;
    driver.click(&task_row).await;
    let live = driver
        .wait_text("[data-testid=log-view]", 60, |t| t.contains("line 3"))
        .await;
    assert!(
        !live.contains("line 40"),
        "the log is shown while the task runs, not only at its end"
    );
    driver
        .wait_text("[data-testid=log-view]", 60, |t| t.contains("line 40"))
        .await;
    open_screen(&driver, "tasks").await;
    until(60, "the task to succeed in the list", async || {
        (state_of(&driver, &id).await.as_deref() == Some("succeeded")).then_some(())
    })
    .await;

    // A notification went out on the session bus.
    let notified = until(30, "a Notify call for the task", async || {
        let log = desktop.notifications();
        log.contains("counting finished").then_some(log)
    })
    .await;
    assert!(notified.contains("Gantry"), "{notified}");

    // The tray: Pause all freezes the running container, Resume all thaws it.
    let job = job_file(
        &desktop,
        "long",
        "while true; do echo tick; sleep 0.2; done",
    );
    let id = submit_to(&desktop, &hub, &job);
    until(60, "the long task to run", async || {
        (state_of(&driver, &id).await.as_deref() == Some("running")).then_some(())
    })
    .await;
    let tray = &desktop.tray;
    assert_eq!(
        tray.menu().await[0].label,
        "Open Gantry",
        "Open comes first"
    );
    let status = until(30, "the status line to count the task", async || {
        let entry = tray.entry("1 task running").await;
        Some(entry)
    })
    .await;
    assert!(!status.enabled, "the status line is not clickable");
    let working_icon = tray.icon().await;
    let pause = tray.entry("Pause all").await;
    tray.click(pause.id).await;
    let container = until(30, "the container to be paused", async || {
        let ids =
            gantry_testkit::docker(&["ps", "-q", "--filter", &format!("label=gantry.task={id}")]);
        let first = ids.lines().next()?.to_owned();
        (gantry_testkit::docker(&["inspect", "-f", "{{.State.Paused}}", &first]) == "true")
            .then_some(first)
    })
    .await;
    until(30, "the tray to say paused", async || {
        let menu = tray.menu().await;
        (menu
            .iter()
            .any(|e| e.label.starts_with("Paused · 1 task running"))
            && menu.iter().any(|e| e.label == "Resume all"))
        .then_some(())
    })
    .await;
    let paused_icon = until(30, "the tray icon to change", async || {
        let icon = tray.icon().await;
        (icon != working_icon).then_some(icon)
    })
    .await;
    let resume = tray.entry("Resume all").await;
    tray.click(resume.id).await;
    until(30, "the container to run again", async || {
        (gantry_testkit::docker(&["inspect", "-f", "{{.State.Paused}}", &container]) == "false")
            .then_some(())
    })
    .await;
    until(30, "the tray to say running", async || {
        tray.menu()
            .await
            .iter()
            .any(|e| e.label.starts_with("1 task running"))
            .then_some(())
    })
    .await;
    until(30, "the tray icon to change back", async || {
        (tray.icon().await != paused_icon).then_some(())
    })
    .await;

    // Cancel from the window.
    let cancel = driver
        .wait(&format!("{} [data-testid=task-cancel]", row(&id)), 10)
        .await;
    driver.click(&cancel).await;
    until(60, "the long task to be canceled", async || {
        (state_of(&driver, &id).await.as_deref() == Some("canceled")).then_some(())
    })
    .await;

    // Clicking a notification opens that task's log.
    let id = until(30, "a notification for the canceled task", async || {
        desktop.notification_id("long was canceled")
    })
    .await;
    assert!(
        !driver
            .text_of("[data-testid=log-view]")
            .await
            .contains("tick"),
        "the log view still shows the first task"
    );
    desktop.click_notification(id).await;
    driver
        .wait_text("[data-testid=log-view]", 30, |t| t.contains("tick"))
        .await;
    driver.quit().await;
    hub.world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_start_then_a_second_launch_shows_the_first() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let hub = hub().await;
    // Configured through the environment, as a power user or a test can: no wizard.
    let mut first = Process(
        desktop
            .command(support::app_binary())
            .arg("--hidden")
            .env("GANTRY_SERVER", &hub.world.url)
            .env("GANTRY_TOKEN", &hub.node_token)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The agent is up when its control socket answers.
    let socket = desktop.host_dir().join("agent.sock");
    until(60, "the app's agent to listen", async || {
        tokio::net::UnixStream::connect(&socket).await.ok()
    })
    .await;
    desktop.tray.menu_address().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        desktop.visible_windows("^Gantry$"),
        0,
        "--hidden shows no window"
    );
    // Nor makes one: no webview, so none of WebKitGTK's processes runs.
    let app_pid = first.0.id();
    let webkit = || {
        gantry_testkit::procfs::tree(app_pid)
            .into_iter()
            .filter(|pid| gantry_testkit::procfs::program_name(*pid).starts_with("WebKit"))
            .count()
    };
    assert_eq!(webkit(), 0, "--hidden starts no WebKit process");

    let mut second = Process(
        desktop
            .command(support::app_binary())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let status = second.exited(30).await.expect("the second launch exits");
    assert!(
        status.success(),
        "the second launch exits cleanly: {status}"
    );
    until(30, "the first app's window to show", async || {
        (desktop.visible_windows("^Gantry$") > 0).then_some(())
    })
    .await;
    assert!(webkit() > 0, "the window shown is a webview made now");

    let pages_up = || desktop.app_log().matches("the window's page is up").count();
    until(60, "the window's page up", async || {
        (pages_up() == 1).then_some(())
    })
    .await;
    // Closed as a window manager closes it, the window is destroyed and its
    // WebKit processes end; the app and its agent go on in the tray.
    assert_eq!(desktop.close_windows("^Gantry$"), 1);
    until(30, "the closed window to go", async || {
        (desktop.visible_windows("^Gantry$") == 0).then_some(())
    })
    .await;
    if gantry_testkit::within(30, async || (webkit() == 0).then_some(()))
        .await
        .is_none()
    {
        let names: Vec<String> = gantry_testkit::procfs::tree(app_pid)
            .into_iter()
            .map(gantry_testkit::procfs::program_name)
            .collect();
        panic!(
            "WebKit processes left after the close: {names:?}\n{}",
            desktop.app_log()
        );
    }
    assert!(
        std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        "the agent goes on with the window closed"
    );
    // The tray makes it again, and its page runs (WebKit started a new
    // network process for it): it asks the app why it opened, as each
    // window's page does.
    let open = desktop.tray.entry("Open Gantry").await;
    desktop.tray.click(open.id).await;
    until(
        60,
        "the window made again from the tray, its page up",
        async || {
            (desktop.visible_windows("^Gantry$") > 0 && webkit() > 0 && pages_up() == 2)
                .then_some(())
        },
    )
    .await;

    // Launch at login is off until asked, and the tray switches it on and off.
    // The autostart plugin writes under $HOME/.config whatever XDG_CONFIG_HOME says.
    let autostart = desktop.home().join(".config/autostart");
    let entries = |dir: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(entries(&autostart).is_empty(), "launch at login is opt-in");
    let login = desktop.tray.entry("Launch at login").await;
    assert_eq!(login.toggled, Some(false));
    desktop.tray.click(login.id).await;
    let written = until(30, "an autostart entry", async || {
        entries(&autostart).into_iter().next()
    })
    .await;
    assert!(
        written.contains("--hidden"),
        "it starts in the tray: {written}"
    );
    until(30, "the tray to show it checked", async || {
        (desktop.tray.entry("Launch at login").await.toggled == Some(true)).then_some(())
    })
    .await;
    desktop.tray.click(login.id).await;
    until(30, "the autostart entry to go", async || {
        entries(&autostart).is_empty().then_some(())
    })
    .await;

    // Quit from the tray, with no task running, ends the app.
    let quit = desktop.tray.entry("Quit Gantry").await;
    desktop.tray.click(quit.id).await;
    let status = first.exited(60).await.expect("Quit ends the app");
    assert!(status.success(), "the app quits cleanly: {status}");
    let log = desktop.app_log();
    assert!(
        log.trim_end().ends_with("stopped"),
        "the app's log is flushed to its last line: {log}"
    );
    assert!(
        !desktop.host_dir().join("agent.sock").exists()
            || std::os::unix::net::UnixStream::connect(desktop.host_dir().join("agent.sock"))
                .is_err(),
        "the agent stopped with the app"
    );
    hub.world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_mode_runs_a_task_submitted_with_no_server() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let driver = Driver::start(&desktop, &[]).await;
    choose_local_mode(&driver).await;
    open_screen(&driver, "tasks").await;
    let job = job_file(&desktop, "here", "echo made on this computer");
    // No --server and no token: the CLI finds the app's local hub.
    let id = submit(
        &desktop,
        &["task", "submit", job.to_str().unwrap(), "--wait"],
    );
    let id = id.lines().next().unwrap().to_owned();
    until(60, "the task to succeed in the window", async || {
        (state_of(&driver, &id).await.as_deref() == Some("succeeded")).then_some(())
    })
    .await;
    let shown = desktop.gantry(&["task", "logs", &id]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        "made on this computer",
        "app log:\n{}",
        desktop.app_log()
    );
    // Each kind of notification can be switched off: with "failed" off, a
    // failing task raises none while a succeeding one still does.
    let settings = driver.wait("[data-testid=open-settings]", 10).await;
    driver.click(&settings).await;
    let failed = driver
        .wait("[data-testid=settings-notify-failed]:not([disabled])", 30)
        .await;
    driver.click(&failed).await;
    until(30, "the setting to be saved", async || {
        let saved =
            std::fs::read_to_string(desktop.config_dir().join("gantry/desktop.json")).ok()?;
        saved.contains("\"failed\": false").then_some(())
    })
    .await;
    open_screen(&driver, "tasks").await;
    let failing = job_file(&desktop, "broken", "exit 3");
    let broken = submit(&desktop, &["task", "submit", failing.to_str().unwrap()]);
    until(60, "the failing task to end", async || {
        (state_of(&driver, &broken).await.as_deref() == Some("failed")).then_some(())
    })
    .await;
    let fine = job_file(&desktop, "fine", "true");
    submit(&desktop, &["task", "submit", fine.to_str().unwrap()]);
    let notified = until(60, "the succeeding task's notification", async || {
        let log = desktop.notifications();
        log.contains("fine finished").then_some(log)
    })
    .await;
    assert!(
        !notified.contains("broken failed"),
        "a switched-off kind still notified: {notified}"
    );

    let file = desktop.host_dir().join("local-hub.json");
    let mode = std::fs::metadata(&file).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600,
        "the admin token's file is private"
    );
    driver.quit().await;
}

/// Without a usable keychain the wizard says so and how to fix it, and the
/// token is not kept anywhere else.
async fn keychain_problem_is_said(keyring: Keyring, words: &str) {
    let desktop = Desktop::start_with(keyring).await;
    let hub = hub().await;
    let driver = Driver::start(&desktop, &[]).await;
    let server = driver.wait("[data-testid=wizard-server]", 60).await;
    let token = driver.wait("[data-testid=wizard-token]", 5).await;
    driver.type_text(&server, &hub.world.url).await;
    driver.type_text(&token, &hub.node_token).await;
    let connect = driver.wait("[data-testid=wizard-connect]", 5).await;
    driver.click(&connect).await;
    let error = driver
        .wait_text("[data-testid=wizard-error]", 60, |t| !t.is_empty())
        .await;
    assert!(error.contains(words), "{keyring:?}: {error}");
    for root in [desktop.config_dir(), desktop.data_dir(), desktop.home()] {
        let found = Desktop::files_containing(&root, &hub.node_token);
        assert!(found.is_empty(), "the token is written in {found:?}");
    }
    assert!(
        driver
            .find("[data-testid=status-connection]")
            .await
            .is_none(),
        "the app did not go on without a keychain"
    );
    driver.quit().await;
    hub.world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_keychain_is_said_with_what_to_do() {
    if !desktop_ready() {
        return;
    }
    keychain_problem_is_said(Keyring::Missing, "install and start a keyring").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keychain_is_said_with_what_to_do() {
    if !desktop_ready() {
        return;
    }
    keychain_problem_is_said(Keyring::Locked, "locked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_brings_the_wizard_back_with_why() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let hub = hub().await;
    let driver = Driver::start_with_env(
        &desktop,
        &[],
        &[
            ("GANTRY_SERVER", hub.world.url.as_str()),
            ("GANTRY_TOKEN", "gantry_node_revoked-or-mistyped"),
        ],
    )
    .await;
    let error = driver
        .wait_text("[data-testid=wizard-error]", 60, |t| !t.is_empty())
        .await;
    assert!(error.contains("refused"), "{error}");
    driver.wait("[data-testid=wizard-token]", 5).await;
    driver.quit().await;
    hub.world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_screens_against_the_real_agent() {
    if !desktop_ready() {
        return;
    }
    let desktop = Desktop::start().await;
    let driver = Driver::start(&desktop, &[]).await;
    choose_local_mode(&driver).await;

    // Overview: this machine has no NVIDIA GPU, so the card says so; the
    // host's charts are drawn from the agent's samples.
    driver.wait("[data-testid=screen-overview]", 30).await;
    let no_gpu = driver
        .wait_text("[data-testid=no-gpu-card]", 30, |t| !t.is_empty())
        .await;
    assert!(no_gpu.to_lowercase().contains("gpu"), "{no_gpu}");
    assert!(driver.find("[data-testid=gpu-card]").await.is_none());
    driver.wait("[data-testid=host-cpu] canvas", 30).await;
    driver
        .wait_text("[data-testid=host-disk]", 30, |t| !t.is_empty())
        .await;
    // A few seconds of samples, for the picture.
    tokio::time::sleep(Duration::from_secs(3)).await;
    picture(&driver, "app-overview").await;

    // Settings: outputs kept in local storage, a new name; the agent
    // restarts with them.
    open_screen(&driver, "settings").await;
    let name = driver.wait("[data-testid=settings-name]", 30).await;
    driver.clear(&name).await;
    driver.type_text(&name, "desk-two").await;
    let keep = driver
        .wait("[data-testid=settings-local-storage]", 10)
        .await;
    if driver
        .script("return document.querySelector('[data-testid=settings-local-storage]').checked")
        .await
        .as_bool()
        != Some(true)
    {
        driver.click(&keep).await;
    }
    let outcome = save_form(&desktop, &driver, "settings").await;
    assert_eq!(
        outcome,
        Ok(()),
        "saving the settings; app log:\n{}",
        desktop.app_log()
    );
    let saved = std::fs::read_to_string(desktop.config_dir().join("gantry/desktop.json")).unwrap();
    assert!(saved.contains("\"with_local_storage\": true"), "{saved}");
    assert!(saved.contains("\"name\": \"desk-two\""), "{saved}");
    driver
        .wait_text("[data-testid=status-connection]", 60, |t| {
            t.trim() == "local"
        })
        .await;

    // New task: the form's task runs and its detail shows the log, the spec,
    // the timeline and the exit code.
    open_screen(&driver, "new-task").await;
    let image = driver.wait("[data-testid=new-task-image]", 10).await;
    driver.type_text(&image, &gantry_testkit::image()).await;
    let command = driver.wait("[data-testid=new-task-command]", 10).await;
    driver
        .type_text(&command, "sh -c 'echo greeting $WHO; echo done'")
        .await;
    let env = driver.wait("[data-testid=new-task-env]", 10).await;
    driver.type_text(&env, "WHO=from-the-form").await;
    let submit_button = driver.wait("[data-testid=new-task-submit]", 10).await;
    driver.click(&submit_button).await;
    driver.wait("[data-testid=screen-task-detail]", 60).await;
    driver
        .wait_text("[data-testid=log-view]", 60, |t| {
            t.contains("greeting from-the-form")
        })
        .await;
    driver
        .wait_text("[data-testid=task-timeline]", 60, |t| {
            t.contains("succeeded")
        })
        .await;
    let exit = driver
        .wait_text("[data-testid=task-exit]", 30, |t| t.contains('0'))
        .await;
    assert!(!exit.is_empty());
    let spec = driver
        .wait_text("[data-testid=task-spec]", 30, |t| !t.is_empty())
        .await;
    assert!(spec.contains(&gantry_testkit::image()), "{spec}");
    assert!(spec.contains("WHO"), "{spec}");
    picture(&driver, "app-task-detail").await;

    // A job with outputs (from the CLI): Task detail links them into
    // Storage, which opens at the file.
    let job = desktop.dir.path().join("outputs.yaml");
    std::fs::write(
        &job,
        format!(
            "name: results\nimage: {}\ncommand: [sh, -c, 'mkdir -p out && echo kept > out/r.txt']\noutputs: [out/r.txt]\n",
            gantry_testkit::image()
        ),
    )
    .unwrap();
    let id = submit(
        &desktop,
        &["task", "submit", job.to_str().unwrap(), "--wait"],
    );
    let id = id.lines().next().unwrap().to_owned();
    open_screen(&driver, "tasks").await;
    let task_row = driver.wait(&row(&id), 60).await;
    driver.click(&task_row).await;
    let link = driver.wait("[data-testid=output-link]", 60).await;
    let path = driver.attribute(&link, "data-path").await.unwrap();
    assert!(
        path.starts_with("storage/results/") && path.ends_with("out/r.txt"),
        "{path}"
    );
    assert!(desktop.host_dir().join(&path).is_file(), "{path}");
    driver.click(&link).await;
    driver.wait("[data-testid=screen-storage]", 30).await;
    driver
        .wait(
            &format!("[data-testid=storage-row][data-path=\"{path}\"][data-selected=true]"),
            30,
        )
        .await;
    driver
        .wait_text("[data-testid=storage-disk]", 30, |t| !t.is_empty())
        .await;
    picture(&driver, "app-storage").await;

    // Storage: a finished task's folder is deleted after confirmation.
    let folder = format!("tasks/{id}");
    assert!(desktop.host_dir().join(&folder).is_dir());
    let tasks = driver
        .wait("[data-testid=storage-row][data-path=tasks]", 30)
        .await;
    if driver
        .find(&format!(
            "[data-testid=storage-row][data-path=\"{folder}\"]"
        ))
        .await
        .is_none()
    {
        driver.click(&tasks).await;
    }
    let folder_row = driver
        .wait(
            &format!("[data-testid=storage-row][data-path=\"{folder}\"]"),
            30,
        )
        .await;
    driver.click(&folder_row).await;
    // The row is selected: Delete asks to delete it. (WebKitWebDriver
    // refuses to click the row's trash button as "not interactable" although
    // the page's own hit test finds the button there; the browser tests click
    // it in Chromium.)
    let tree = driver
        .wait("[data-testid=screen-storage] [role=tree]", 10)
        .await;
    let confirm = until(30, "the delete confirmation", async || {
        driver.type_text(&tree, "\u{E017}").await;
        driver.find("[data-testid=confirm-delete]").await
    })
    .await;
    let asked = driver.text(&confirm).await;
    assert!(
        asked.contains(&id),
        "the confirmation names the folder: {asked}"
    );
    let yes = driver.wait("[data-testid=confirm-delete-yes]", 10).await;
    driver.click(&yes).await;
    until(30, "the folder to be deleted", async || {
        (!desktop.host_dir().join(&folder).exists()).then_some(())
    })
    .await;
    until(30, "its row to go", async || {
        driver
            .find(&format!(
                "[data-testid=storage-row][data-path=\"{folder}\"]"
            ))
            .await
            .is_none()
            .then_some(())
    })
    .await;

    // Containers: a running task's container with its use.
    let long = job_file(
        &desktop,
        "spinning",
        "while true; do echo tick; sleep 0.2; done",
    );
    let long_id = submit(&desktop, &["task", "submit", long.to_str().unwrap()]);
    open_screen(&driver, "containers").await;
    let container = driver
        .wait_text("[data-testid=container-row][data-state=running]", 60, |t| {
            t.contains(&long_id)
        })
        .await;
    assert!(container.contains("spinning") || container.contains(&long_id));
    picture(&driver, "app-containers").await;
    let _ = desktop.gantry(&["task", "cancel", &long_id]);
    driver.quit().await;
}
