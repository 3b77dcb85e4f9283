//! The engine's timing on tokio's paused clock: a verdict within a tick of
//! a rule firing, "carry on" only after every rule has been clear for the
//! settle time, and the settle time starting over when a rule fires again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{Check, Firing, TICK, watch_with};
use super::{Verdict, YieldAction, YieldSettings};

/// Rules the test sets by hand; the engine reads them each tick.
#[derive(Clone, Default)]
struct Script(Arc<Mutex<Vec<Firing>>>);

impl Script {
    fn set(&self, firing: &[(&str, bool)]) {
        *self.0.lock().unwrap() = firing
            .iter()
            .map(|(reason, gpu_only)| Firing {
                reason: (*reason).to_owned(),
                gpu_only: *gpu_only,
            })
            .collect();
    }
}

impl Check for Script {
    async fn firing(&mut self) -> Vec<Firing> {
        self.0.lock().unwrap().clone()
    }
}

async fn next(rx: &mut watch::Receiver<Option<Verdict>>) -> (Option<Verdict>, Duration) {
    let start = Instant::now();
    rx.changed().await.unwrap();
    (rx.borrow_and_update().clone(), start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn a_rule_yields_within_a_tick_and_work_returns_after_settle() {
    let settings = YieldSettings {
        action: YieldAction::Release,
        settle: Duration::from_secs(60),
        ..YieldSettings::default()
    };
    let script = Script::default();
    let (tx, mut rx) = watch::channel(None);
    let stop = CancellationToken::new();
    let engine = tokio::spawn(watch_with_owned(settings, script.clone(), tx, stop.clone()));

    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!rx.has_changed().unwrap(), "nothing fires, nothing is said");

    script.set(&[("on battery", false), ("blender uses the GPU", true)]);
    let (verdict, took) = next(&mut rx).await;
    let verdict = verdict.expect("a verdict");
    assert!(took <= TICK, "{took:?}");
    assert_eq!(verdict.reason, "on battery", "the first rule speaks");
    assert!(!verdict.gpu_only, "one rule stops all work");
    assert_eq!(verdict.action, YieldAction::Release);
    let since = verdict.since;

    script.set(&[("blender uses the GPU", true)]);
    let (verdict, took) = next(&mut rx).await;
    let verdict = verdict.unwrap();
    assert!(took <= TICK);
    assert_eq!(verdict.reason, "blender uses the GPU");
    assert!(verdict.gpu_only, "only GPU rules hold now");
    assert_eq!(verdict.since, since, "still the same yield");

    // Clear for 30 s, then a glance: the settle time starts over.
    script.set(&[]);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!rx.has_changed().unwrap(), "not before settle");
    script.set(&[("you are using this computer", false)]);
    let (verdict, _) = next(&mut rx).await;
    assert_eq!(verdict.unwrap().reason, "you are using this computer");
    script.set(&[]);
    let (verdict, took) = next(&mut rx).await;
    assert_eq!(verdict, None);
    assert!(
        took >= Duration::from_secs(60) && took <= Duration::from_secs(60) + 2 * TICK,
        "settle 60 s, back after {took:?}"
    );

    stop.cancel();
    engine.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn the_same_rule_holding_says_nothing_new() {
    let script = Script::default();
    let (tx, mut rx) = watch::channel(None);
    let stop = CancellationToken::new();
    let engine = tokio::spawn(watch_with_owned(
        YieldSettings::default(),
        script.clone(),
        tx,
        stop.clone(),
    ));
    script.set(&[("quiet hours until 18:00", false)]);
    assert!(next(&mut rx).await.0.is_some());
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(!rx.has_changed().unwrap(), "one verdict while it holds");
    stop.cancel();
    engine.await.unwrap();
}

async fn watch_with_owned(
    settings: YieldSettings,
    check: Script,
    tx: watch::Sender<Option<Verdict>>,
    stop: CancellationToken,
) {
    watch_with(&settings, check, tx, stop).await;
}

/// Probes whose last read of Gantry's own pids predates a task that just
/// started: its CUDA process is on the GPU, and only a fresh read knows it.
struct JustStarted {
    pid: u32,
    fresh_knows_it: bool,
}

impl super::Probes for JustStarted {
    fn devices(&self) -> Vec<crate::monitor::GpuDevice> {
        vec![crate::monitor::GpuDevice {
            index: 0,
            uuid: "GPU-0".into(),
            name: "Stand-in".into(),
            free_bytes: 10 << 30,
            total_bytes: 24 << 30,
            temperature_c: None,
            processes: vec![crate::monitor::GpuProcess {
                pid: self.pid,
                used_bytes: Some(1 << 30),
                graphics: false,
            }],
        }]
    }
    fn own_pids(&self) -> std::collections::HashSet<u32> {
        std::collections::HashSet::new()
    }
    fn fresh_own_pids(
        &self,
    ) -> std::pin::Pin<Box<dyn Future<Output = std::collections::HashSet<u32>> + Send + '_>> {
        let fresh = match self.fresh_knows_it {
            true => [self.pid].into(),
            false => std::collections::HashSet::new(),
        };
        Box::pin(std::future::ready(fresh))
    }
}

#[tokio::test]
async fn a_task_that_just_started_is_not_taken_for_another_program() {
    // A real process, so the rule can name it as it would name blender.
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let settings = YieldSettings {
        gpu_programs: true,
        ..YieldSettings::default()
    };
    for (fresh_knows_it, expected) in [(true, 0), (false, 1)] {
        let probes = JustStarted {
            pid: child.id(),
            fresh_knows_it,
        };
        let mut sources = super::engine::Sources::new(&settings, probes).unwrap();
        let firing = sources.firing().await;
        assert_eq!(
            firing.len(),
            expected,
            "{:?}",
            firing.iter().map(|f| &f.reason).collect::<Vec<_>>()
        );
        if let Some(firing) = firing.first() {
            assert!(firing.reason.contains("sleep"), "{}", firing.reason);
            assert!(firing.gpu_only);
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}
