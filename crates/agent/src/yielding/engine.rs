//! The rule engine: every rule about once a second, a verdict at once when
//! one fires, and "carry on" only after all have been clear for the settle
//! time (so a glance at mail does not thrash a task).
//!
//! The rules read real sources ([`Sources`]): the X display or logind for
//! activity, UPower for the battery, /proc for exclusive apps, the local
//! clock for quiet hours, and the agent's [`Probes`] for the GPUs. The
//! engine's timing is separate from them ([`Check`]), so it is tested with
//! tokio's paused clock.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::NaiveDateTime;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::quiet::{self, QuietHours};
use super::{Verdict, YieldSettings, bus, gpu, procs, x11};
use crate::monitor::GpuDevice;

/// How often the rules are read.
pub const TICK: Duration = Duration::from_secs(1);

/// What the agent tells the engine about its GPUs and its own tasks.
pub trait Probes: Send + Sync + 'static {
    /// The GPUs as NVML sees them now (blocking; called on the blocking pool).
    fn devices(&self) -> Vec<GpuDevice>;
    /// The host pids of Gantry's tasks (their descendants count too), as
    /// last read (cheap; may miss a task that started since).
    fn own_pids(&self) -> HashSet<u32>;
    /// The same read again now, before a process is called foreign: a task
    /// that just started must not be taken for another program.
    fn fresh_own_pids(&self) -> Pin<Box<dyn Future<Output = HashSet<u32>> + Send + '_>> {
        Box::pin(std::future::ready(self.own_pids()))
    }
}

impl<T: Probes + ?Sized> Probes for Arc<T> {
    fn devices(&self) -> Vec<GpuDevice> {
        (**self).devices()
    }
    fn fresh_own_pids(&self) -> Pin<Box<dyn Future<Output = HashSet<u32>> + Send + '_>> {
        (**self).fresh_own_pids()
    }
    fn own_pids(&self) -> HashSet<u32> {
        (**self).own_pids()
    }
}

/// One rule that holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firing {
    /// In the person's words: "on battery".
    pub reason: String,
    /// A GPU rule: only GPU work need yield.
    pub gpu_only: bool,
}

impl Firing {
    fn all(reason: impl Into<String>) -> Firing {
        Firing {
            reason: reason.into(),
            gpu_only: false,
        }
    }
}

/// Reads the rules once: those that hold now, the most telling first.
pub trait Check: Send {
    /// The rules holding now.
    fn firing(&mut self) -> impl Future<Output = Vec<Firing>> + Send;
}

/// Watches the person's rules until `stop`, sending `Some(verdict)` as soon
/// as a rule fires (its reason is the first firing rule's; `gpu_only` when
/// every firing rule is a GPU rule) and `None` once every rule has been
/// clear for `settings.settle`.
pub async fn watch<P: Probes>(
    settings: YieldSettings,
    probes: P,
    tx: watch::Sender<Option<Verdict>>,
    stop: CancellationToken,
) {
    let sources = match Sources::new(&settings, probes) {
        Ok(sources) => sources,
        Err(error) => {
            // The config refuses bad specs; this is a second guard.
            tracing::error!(%error, "the yield rules cannot be read; the node does not yield");
            return;
        }
    };
    watch_with(&settings, sources, tx, stop).await;
}

/// [`watch`] over any [`Check`].
pub async fn watch_with(
    settings: &YieldSettings,
    mut check: impl Check,
    tx: watch::Sender<Option<Verdict>>,
    stop: CancellationToken,
) {
    // Since when every rule has been clear, while a verdict still stands.
    let mut clear_since: Option<Instant> = None;
    loop {
        let firing = tokio::select! {
            _ = stop.cancelled() => return,
            firing = check.firing() => firing,
        };
        match firing.first() {
            Some(first) => {
                clear_since = None;
                let gpu_only = firing.iter().all(|f| f.gpu_only);
                tx.send_if_modified(|current| {
                    let since = current.as_ref().map_or_else(now_ms, |v| v.since);
                    let verdict = Verdict {
                        reason: first.reason.clone(),
                        gpu_only,
                        action: settings.action,
                        since,
                    };
                    let changed = current.as_ref() != Some(&verdict);
                    *current = Some(verdict);
                    changed
                });
            }
            None if tx.borrow().is_some() => {
                let since = *clear_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= settings.settle {
                    clear_since = None;
                    tx.send_replace(None);
                }
            }
            None => {}
        }
        // While the settle time runs, look again when it ends rather than at
        // the next whole tick, so work comes back settle + at most one tick
        // after the rules cleared.
        let wait = clear_since.map_or(TICK, |since| {
            TICK.min(settings.settle.saturating_sub(since.elapsed()))
        });
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The local time now (the person's quiet hours are in it).
pub type LocalClock = Arc<dyn Fn() -> NaiveDateTime + Send + Sync>;

/// The real sources of the rules.
pub struct Sources<P> {
    settings: YieldSettings,
    quiet: Vec<QuietHours>,
    clock: LocalClock,
    probes: Arc<P>,
    /// The X display, taken onto the blocking pool for each read.
    display: Option<x11::Display>,
    bus: bus::SystemBus,
}

impl<P> std::fmt::Debug for Sources<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("settings", &self.settings)
            .field("display", &self.display)
            .finish_non_exhaustive()
    }
}

impl<P: Probes> Sources<P> {
    /// The sources `settings` needs, with the local clock.
    pub fn new(settings: &YieldSettings, probes: P) -> Result<Sources<P>, quiet::SpecError> {
        Ok(Sources {
            settings: settings.clone(),
            quiet: settings
                .quiet_hours
                .iter()
                .map(|spec| QuietHours::parse(spec))
                .collect::<Result<_, _>>()?,
            clock: Arc::new(|| chrono::Local::now().naive_local()),
            probes: Arc::new(probes),
            display: std::env::var_os("DISPLAY")
                .filter(|d| !d.is_empty())
                .map(|_| x11::Display::new(None)),
            bus: bus::SystemBus::default(),
        })
    }

    /// The same with another clock (tests).
    pub fn with_clock(mut self, clock: LocalClock) -> Sources<P> {
        self.clock = clock;
        self
    }

    /// The same reading the X display `name` (`:3`) whatever DISPLAY says (tests).
    pub fn with_display(mut self, name: &str) -> Sources<P> {
        self.display = Some(x11::Display::new(Some(name.to_owned())));
        self
    }

    /// The same reading the D-Bus at `address` as the system bus (tests).
    pub fn with_system_bus(mut self, address: &str) -> Sources<P> {
        self.bus = bus::SystemBus::at(address);
        self
    }

    /// "You are using this computer" / "a full-screen window is open".
    async fn presence(&mut self, within: Duration) -> Option<Firing> {
        let (idle, full_screen) = match self.display.take() {
            Some(mut display) => {
                let (display, presence) = tokio::task::spawn_blocking(move || {
                    let presence = display.presence();
                    (display, presence)
                })
                .await
                .ok()?;
                self.display = Some(display);
                match presence {
                    Some(presence) => (Some(presence.idle), presence.full_screen),
                    // The display is gone (the session ended): ask logind.
                    None => (self.bus.idle().await, false),
                }
            }
            None => (self.bus.idle().await, false),
        };
        if idle.is_some_and(|idle| idle < within) {
            Some(Firing::all("you are using this computer"))
        } else if full_screen {
            Some(Firing::all("a full-screen window is open"))
        } else {
            None
        }
    }

    /// The GPU rules, from one NVML read.
    async fn gpus(&self) -> Vec<Firing> {
        let probes = self.probes.clone();
        let (gpu_programs, limit) = (self.settings.gpu_programs, self.settings.above_temp_c);
        let read = tokio::task::spawn_blocking(move || {
            let devices = probes.devices();
            let foreign = (gpu_programs && devices.iter().any(|d| !d.processes.is_empty()))
                .then(|| {
                    let own = procs::with_descendants(&probes.own_pids());
                    gpu::foreign_process(&devices, &own, procs::comm)
                })
                .flatten();
            let hot = limit.and_then(|limit| gpu::too_hot(&devices, limit));
            (devices, foreign, hot)
        });
        let Ok((devices, mut foreign, hot)) = read.await else {
            return Vec::new();
        };
        if foreign.is_some() {
            // Named only if it is still foreign once Gantry's own tasks are
            // read again: one that just started is not yet in the last read.
            let fresh = self.probes.fresh_own_pids().await;
            foreign = tokio::task::spawn_blocking(move || {
                let own = procs::with_descendants(&fresh);
                gpu::foreign_process(&devices, &own, procs::comm)
            })
            .await
            .unwrap_or_default();
        }
        foreign
            .into_iter()
            .chain(hot)
            .map(|reason| Firing {
                reason,
                gpu_only: true,
            })
            .collect()
    }
}

impl<P: Probes> Check for Sources<P> {
    async fn firing(&mut self) -> Vec<Firing> {
        let mut firing = Vec::new();
        if let Some(within) = self.settings.when_active {
            firing.extend(self.presence(within).await);
        }
        if !self.settings.exclusive_apps.is_empty() {
            let apps = self.settings.exclusive_apps.clone();
            if let Ok(Some(app)) =
                tokio::task::spawn_blocking(move || procs::running_app(&apps)).await
            {
                firing.push(Firing::all(format!("{app} is running")));
            }
        }
        if self.settings.gpu_programs || self.settings.above_temp_c.is_some() {
            firing.extend(self.gpus().await);
        }
        if self.settings.on_battery && self.bus.on_battery().await {
            firing.push(Firing::all("on battery"));
        }
        if !self.quiet.is_empty() {
            let now = (self.clock)();
            if let Some(until) = quiet::quiet_until(&self.quiet, now) {
                firing.push(Firing::all(quiet::reason(until, now)));
            }
        }
        // Rules that stop all work speak before GPU-only ones.
        firing.sort_by_key(|f| f.gpu_only);
        firing
    }
}
