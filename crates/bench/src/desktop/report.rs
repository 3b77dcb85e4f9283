//! The desktop benchmark's section of docs/benchmarks.md: the three cases
//! side by side, the app's programs one by one, and what the run saw of the
//! machine.

use gantry_testkit::procfs::TICKS_PER_SECOND;
use gantry_testkit::sampler::Footprint;

use super::{CHILDREN_LIMIT, Case, Figures, SETTLE};
use crate::record::{machine, stamp};

/// Busy CPU besides the measured tree, in % of one core, above which the
/// record says other work shared the machine.
const OTHER_WORK_PERCENT: f64 = 10.0;

/// The section for docs/benchmarks.md.
pub fn report(figures: &Figures) -> String {
    let Figures {
        seconds,
        floor,
        hidden,
        shown,
        docker,
        leftovers,
    } = figures;
    format!(
        "<!-- bench desktop: begin (written by `cargo xtask bench desktop`; edits inside are overwritten) -->\n\
         ## Desktop app: idle footprint with its webview processes, window hidden and shown\n\n\
         Recorded {stamp} on {machine}; release builds; hub on loopback; Docker: {docker}. \
         Command: `cargo xtask bench desktop --seconds {seconds}`.\n\n\
         {table}\n\
         By program, in the app's cases:\n\n\
         {breakdown}\n\
         {dominant}\n\n\
         {budgets}\n\n\
         Each case runs alone, in turn: first the floor, `gantry agent start` (the same agent core, headless), \
         then the app `gantry-desktop --hidden`, then `gantry-desktop` with its window shown, each connected \
         to the same release hub with its own node token and no tasks. The app runs on the private desktop \
         of its end-to-end tests: its own D-Bus session bus (no service started on demand) with an unlocked \
         GNOME Keyring, a notification server (python3-dbusmock), a StatusNotifierWatcher in the benchmark's \
         process as the tray host, an Xvfb display with no window manager, and \
         `GANTRY_SERVER`/`GANTRY_TOKEN` in the environment so that no wizard shows. Each case \
         waits until the agent's control socket says it reached the hub, sits {settle} s, then reads /proc \
         once a second for {seconds} s ({seconds} + 1 samples): the process and every process under it by \
         parent pid. RSS is the sum of each process's VmRSS, which counts shared libraries once per process; \
         PSS (from smaps_rollup) splits shared pages among their users, so its sum is closer to what the tree \
         costs the machine. CPU is utime + stime of every process in the tree between its first and last \
         sample, over the elapsed time, as a percentage of one core; Linux counts it in 10 ms ticks, so one \
         tick over {seconds} s is {tick:.3} %. The display server, the bus and the \
         other session services are not counted.{load_note} {leftover_note}\n\
         <!-- bench desktop: end -->\n",
        stamp = stamp(),
        machine = machine(),
        dominant = dominant(&hidden.footprint, &shown.footprint, &floor.footprint),
        budgets = budgets(&hidden.footprint, &shown.footprint),
        table = table(figures),
        breakdown = breakdown(&hidden.footprint, &shown.footprint),
        load_note = load_note(&[floor, hidden, shown]),
        leftover_note = leftover_note(leftovers),
        settle = SETTLE.as_secs(),
        tick = 100.0 / TICKS_PER_SECOND / *seconds as f64,
    )
}

/// The three cases side by side.
fn table(figures: &Figures) -> String {
    let Figures {
        seconds,
        floor,
        hidden,
        shown,
        ..
    } = figures;
    let cases = [floor, hidden, shown];
    let row = |label: &str, cell: &dyn Fn(&Case) -> String| {
        format!(
            "| {label} | {} |\n",
            cases
                .iter()
                .map(|c| cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        )
    };
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let mut table = String::from(
        "| measure | headless agent (floor) | app, `--hidden` | app, window shown |\n|---|---:|---:|---:|\n",
    );
    table.push_str(&row("processes in the tree (at the end)", &|c| {
        let names: Vec<String> = c
            .footprint
            .programs
            .iter()
            .map(|p| {
                if p.count > 1 {
                    format!("{} ×{}", p.name, p.count)
                } else {
                    p.name.clone()
                }
            })
            .collect();
        let seen = if c.footprint.processes_seen > c.footprint.processes {
            format!("; {} seen over the samples", c.footprint.processes_seen)
        } else {
            String::new()
        };
        format!("{} ({}){seen}", c.footprint.processes, names.join(", "))
    }));
    table.push_str(&row("RSS total, mean of 1 s samples", &|c| {
        format!("{:.1} MiB", mib(c.footprint.rss_mean_kb))
    }));
    table.push_str(&row("RSS total, max", &|c| {
        format!("{:.1} MiB", mib(c.footprint.rss_max_kb as f64))
    }));
    table.push_str(&row("**RSS total / floor**", &|c| {
        format!(
            "**{:.1}x**",
            ratio(c.footprint.rss_mean_kb, floor.footprint.rss_mean_kb)
        )
    }));
    table.push_str(&row("PSS total, mean (shared pages split)", &|c| {
        format!("{:.1} MiB", mib(c.footprint.pss_mean_kb))
    }));
    table.push_str(&row("PSS total / floor", &|c| {
        format!(
            "{:.1}x",
            ratio(c.footprint.pss_mean_kb, floor.footprint.pss_mean_kb)
        )
    }));
    table.push_str(&row(
        &format!("CPU over {seconds} s, % of one core"),
        &|c| format!("{:.2} %", c.footprint.cpu_percent),
    ));
    table.push_str(&row(
        "whole machine's busy CPU meanwhile, % of one core",
        &|c| format!("{:.1} %", c.footprint.machine_percent),
    ));
    table.push_str(&row("load average (1 min), start → end", &|c| {
        format!(
            "{:.2} → {:.2}",
            c.footprint.load_start, c.footprint.load_end
        )
    }));
    table.push_str(&row(
        "visible main windows / tray icon registered",
        &|c| match (c.visible_windows, c.tray) {
            (Some(windows), Some(tray)) => {
                format!("{windows} / {}", if tray { "yes" } else { "no" })
            }
            (None, Some(tray)) => format!("? / {}", if tray { "yes" } else { "no" }),
            _ => "-".to_owned(),
        },
    ));

    table
}

/// The app's programs one by one, in both of its cases.
fn breakdown(hidden: &Footprint, shown: &Footprint) -> String {
    let mut breakdown = String::from(
        "| case | program | processes | RSS mean | PSS mean | CPU |\n|---|---|---:|---:|---:|---:|\n",
    );
    for (case, footprint) in [("`--hidden`", hidden), ("window shown", shown)] {
        for p in &footprint.programs {
            breakdown.push_str(&format!(
                "| {case} | {} | {} | {:.1} MiB | {:.1} MiB | {:.2} % |\n",
                p.name,
                p.count,
                mib(p.rss_mean_kb),
                mib(p.pss_mean_kb),
                p.cpu_percent
            ));
        }
    }
    breakdown
}

/// What ran besides the measured trees, in a sentence.
fn load_note(cases: &[&Case]) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // What ran besides the measured tree: the display, the hub and the
    // sampling take well under 10 % of one core; more is other work.
    let busiest = cases
        .iter()
        .map(|c| c.footprint.machine_percent - c.footprint.cpu_percent)
        .fold(f64::NAN, f64::max);
    if busiest >= OTHER_WORK_PERCENT {
        format!(
            " Other work shared the machine during this run (besides the measured tree, up to \
             {busiest:.0} % of one core busy on {cores} cores), so the CPU figures, though small, may be \
             somewhat inflated by cache and scheduler contention; the memory figures are not affected."
        )
    } else {
        format!(
            " The machine was otherwise quiet while sampling (at most {busiest:.1} % of one core busy \
             besides the measured tree, on {cores} cores: the display, the hub, the sampling); the load \
             average lags, and at a window's start still shows the build before it."
        )
    }
}

/// What the app left running after it quit, in a sentence.
fn leftover_note(leftovers: &[String]) -> String {
    if leftovers.is_empty() {
        "After SIGTERM the app quit and left no process behind in either case.".to_owned()
    } else {
        format!(
            "After SIGTERM these processes of the app were still running {} s later and were killed: {}.",
            CHILDREN_LIMIT.as_secs(),
            leftovers.join(", ")
        )
    }
}

/// The app's budgets (issue 17): the tree in the tray at most 150 MiB RSS;
/// shown on the Overview, at most 300 MiB and 1 % of one core.
const HIDDEN_BUDGET_MIB: f64 = 150.0;
const SHOWN_BUDGET_MIB: f64 = 300.0;
const SHOWN_BUDGET_CPU: f64 = 1.0;

/// A sentence on each budget: the figure, and whether it is kept.
fn budgets(hidden: &Footprint, shown: &Footprint) -> String {
    let kept = |value: f64, budget: f64| if value <= budget { "kept" } else { "over" };
    let hidden_mib = mib(hidden.rss_mean_kb);
    let shown_mib = mib(shown.rss_mean_kb);
    format!(
        "Budgets: the whole tree with `--hidden` at most {HIDDEN_BUDGET_MIB:.0} MiB RSS: {hidden_mib:.1} MiB, \
         {}; shown on the Overview at most {SHOWN_BUDGET_MIB:.0} MiB RSS: {shown_mib:.1} MiB, {}, and at \
         most {SHOWN_BUDGET_CPU:.0} % of one core while its charts update: {:.2} %, {}.",
        kept(hidden_mib, HIDDEN_BUDGET_MIB),
        kept(shown_mib, SHOWN_BUDGET_MIB),
        shown.cpu_percent,
        kept(shown.cpu_percent, SHOWN_BUDGET_CPU),
    )
}

/// A sentence on what dominates the app's footprint.
fn dominant(hidden: &Footprint, shown: &Footprint, floor: &Footprint) -> String {
    let largest = |f: &Footprint| f.programs.first().cloned().unwrap_or_default();
    let top = largest(shown);
    let app_rss = |f: &Footprint| {
        f.programs
            .iter()
            .find(|p| p.name == "gantry-desktop")
            .map_or(0.0, |p| p.rss_mean_kb)
    };
    let web = |f: &Footprint| {
        f.programs
            .iter()
            .filter(|p| p.name.starts_with("WebKit"))
            .map(|p| p.rss_mean_kb)
            .fold(0.0, |sum, kb| sum + kb)
    };
    let hidden_web = hidden.programs.iter().any(|p| p.name == "WebKitWebProcess");
    let hidden_note = if hidden_web {
        format!(
            " With `--hidden` the main window already exists, unmapped, so its web process runs too \
             and hiding saves only {:.1} MiB RSS.",
            mib(shown.rss_mean_kb - hidden.rss_mean_kb)
        )
    } else {
        " With `--hidden` no window exists (it is made when first shown), so no WebKit process runs."
            .to_owned()
    };
    format!(
        "With the window shown, the largest program is {} at {:.1} MiB RSS of {:.1} MiB; WebKitGTK's \
         helper processes hold {:.1} MiB RSS shown and {:.1} MiB hidden. The app's own process \
         (agent core, tray, GTK and the webview's UI side) holds {:.1} MiB shown and {:.1} MiB hidden, \
         against {:.1} MiB for the headless agent.{hidden_note}",
        top.name,
        mib(top.rss_mean_kb),
        mib(shown.rss_mean_kb),
        mib(web(shown)),
        mib(web(hidden)),
        mib(app_rss(shown)),
        mib(app_rss(hidden)),
        mib(floor.rss_mean_kb),
    )
}

/// Kilobytes in MiB.
pub(super) fn mib(kb: f64) -> f64 {
    kb / 1024.0
}
