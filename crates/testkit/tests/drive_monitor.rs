//! The `gantry drive` monitor page in Chromium (playwright-core, as the
//! console's end-to-end test runs it): a real driver with real python3, a
//! real hub and agent and the real Docker engine; the page's rows appear and
//! change state live, and its alert shows when the driver stops.

use gantry_testkit::World;
use gantry_testkit::browser::{browser_ready, repo_root};
use gantry_testkit::drive::DriveRun;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_monitor_page_follows_the_jobs_and_says_when_the_driver_stops() {
    if !browser_ready("the monitor test") {
        return;
    }
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("usercode.py"),
        r#"import os
image = os.environ['GANTRY_TEST_IMAGE']
made = 0
def user_create(agent):
    global made
    if made == 0 or (made == 1 and os.path.exists('more')):
        made += 1
        return [{'command': ['sh', '-c', 'sleep 3'], 'image': image, 'name': 'job %d' % made}]
    return None if made == 2 else []
def user_update(agent, jobs):
    pass
"#,
    )
    .unwrap();
    let run = DriveRun::start(
        &world,
        dir.path(),
        "monitor",
        &[
            "-c",
            "usercode.py",
            "--monitor",
            "127.0.0.1:0",
            "--interval",
            "0.3",
        ],
    );
    let monitor = run.monitor().await;
    let node = tokio::process::Command::new("node")
        .arg(repo_root().join("ui/tests/drive/monitor.mjs"))
        .current_dir(repo_root().join("ui"))
        .env("GANTRY_DRIVE_MONITOR", &monitor)
        .env("GANTRY_HUB_URL", &world.url)
        .env("GANTRY_DRIVE_DIR", dir.path())
        .status();
    let status = node.await.expect("node runs");
    let ended = run.ended(60).await;
    assert!(
        status.success(),
        "the monitor's browser script failed (its output is above); the driver said: {}",
        ended.stderr
    );
    assert_eq!(ended.status.code(), Some(0), "{}", ended.stderr);
    world.stop().await;
}
