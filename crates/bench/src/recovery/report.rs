//! The recovery benchmark's words: a line for the console as each part
//! ends, and its section of docs/benchmarks.md.

use std::time::Duration;

use gantry_testkit::procfs::Memory;

use super::{
    DOWNTIME, FLOOD_BATCHES, FLOOD_LINES, Figures, IDLE_SETTLE, Options, Outage, POLL, Reattach,
    TASKS,
};
use crate::record::{machine, ms, percentile, stamp};

impl Reattach {
    pub(super) fn summary(&self) -> String {
        format!(
            "re-attach median {:.0} ms, max {:.0} ms; agent boot median {:.0} ms; docker ps + logs median {:.0} ms; \
             {} lines checked, {} missing, {} doubled, {} garbled",
            percentile(&self.reattach_ms, 50.0),
            percentile(&self.reattach_ms, 100.0),
            percentile(&self.boot_ms, 50.0),
            percentile(&self.docker_ms, 50.0),
            self.lines.lines,
            self.lines.missing,
            self.lines.doubled,
            self.lines.garbled,
        )
    }
}

impl Outage {
    pub(super) fn summary(&self) -> String {
        format!(
            "agent RSS idle {:.1} MiB; before the outage {:.1} MiB; at its end {:.1} MiB; \
             after the catch-up {:.1} MiB; peak {:.1} MiB ({:.2}x idle RSS); spool {:.1} MiB of {:.1} MiB; \
             hub restart → first new byte {}, → agent connected {}, → log complete {:.2} s",
            mib(self.idle.rss_kb * 1024),
            mib(self.before.rss_kb * 1024),
            mib(self.end.rss_kb * 1024),
            mib(self.after.rss_kb * 1024),
            mib(self.peak_kb * 1024),
            self.peak_ratio(),
            mib(self.spool_bytes),
            mib(self.bytes),
            seconds(self.resumed),
            seconds(self.reconnect),
            self.catch_up.as_secs_f64(),
        )
    }

    /// The agent's peak over the whole run against its idle RSS.
    fn peak_ratio(&self) -> f64 {
        ratio(self.peak_kb as f64, self.idle.rss_kb as f64)
    }
}

/// The section for docs/benchmarks.md.
pub fn report(options: &Options, figures: &Figures) -> String {
    format!(
        "{}{}<!-- bench recovery: end -->\n",
        reattach_section(options, &figures.reattach),
        outage_section(&figures.outage),
    )
}

/// The section's heading and part 1.
fn reattach_section(options: &Options, figures: &Reattach) -> String {
    let Reattach {
        reattach_ms,
        listed_ms,
        boot_ms,
        docker_ms,
        lines,
    } = figures;
    let med = |values: &[f64]| percentile(values, 50.0);
    let max = |values: &[f64]| percentile(values, 100.0);
    let floor_med = med(boot_ms) + med(docker_ms);
    let floor_max = max(boot_ms) + max(docker_ms);
    format!(
        "<!-- bench recovery: begin (written by `cargo xtask bench recovery`; edits inside are overwritten) -->\n\
         ## Recovery: re-attaching after SIGKILL, and a flood while the hub is down\n\n\
         Recorded {stamp} on {machine}, Docker engine, hub and agent on the same machine, release builds.\n\n\
         ### Agent killed with SIGKILL and started again, {tasks} tasks running ({rounds} rounds)\n\n\
         | measure | median | max |\n|---|---:|---:|\n\
         | re-attach: restart → status lists all {tasks} running and every hub log grew | {r50:.0} ms | {rmax:.0} ms |\n\
         | of which: restart → status lists all {tasks} running | {l50:.0} ms | {lmax:.0} ms |\n\
         | floor: agent boot, spawn → connected with no tasks | {b50:.0} ms | {bmax:.0} ms |\n\
         | floor: `docker ps` by label + `docker logs` of the {tasks} containers | {d50:.0} ms | {dmax:.0} ms |\n\
         | floor: the two together | {f50:.0} ms | {fmax:.0} ms |\n\
         | **re-attach / floor** | **{rr:.2}x** | {rrmax:.2}x |\n\n\
         Lines at the hub after {rounds} kills, checked one by one: {checked} lines, {missing} missing, \
         {doubled} doubled, {garbled} garbled.\n\n\
         A release hub and agent (`--max-tasks {tasks}`) run {tasks} tasks, each printing a counter every 100 ms \
         in the FROM-scratch busybox image. Once the hub shows all {tasks} running with output and the agent's \
         status lists them running, the agent gets SIGKILL, stays down {down} s (about {down_lines} lines a task \
         go to Docker alone meanwhile), and is started again on the same host dir. The clock runs from that \
         spawn until the control socket's status (what `gantry agent status --json` shows) lists every task \
         `running` and every task's log at the hub has grown past both the hub's copy and the agent's spool at \
         the kill, so output written after the kill has arrived; a task prints every 100 ms, so up to that much \
         of the figure is waiting for a line. The same tasks go through every round; the status and the hub are \
         looked at every {poll} ms. Floor, in the same run: an agent with no tasks on the same host dir, spawn to \
         `connected` (after one to warm up), plus the raw Docker work a re-attach needs, timed from the docker \
         CLI's spawn: `docker ps --filter label=gantry.task` and `docker logs` of the {tasks} containers at once \
         (the max column adds the two maxima). After the last round every hub log must read `0`, `1`, `2`, … \
         with no number skipped (missing) or repeated (doubled).\n\n",
        stamp = stamp(),
        machine = machine(),
        tasks = TASKS,
        rounds = options.rounds,
        r50 = med(reattach_ms),
        rmax = max(reattach_ms),
        l50 = med(listed_ms),
        lmax = max(listed_ms),
        b50 = med(boot_ms),
        bmax = max(boot_ms),
        d50 = med(docker_ms),
        dmax = max(docker_ms),
        f50 = floor_med,
        fmax = floor_max,
        rr = ratio(med(reattach_ms), floor_med),
        rrmax = ratio(max(reattach_ms), floor_max),
        checked = lines.lines,
        missing = lines.missing,
        doubled = lines.doubled,
        garbled = lines.garbled,
        down = DOWNTIME.as_secs_f64(),
        down_lines = DOWNTIME.as_millis() / 100,
        poll = POLL.as_millis(),
    )
}

/// Part 2.
fn outage_section(o: &Outage) -> String {
    let rss = |m: Memory| format!("{:.1} MiB", mib(m.rss_kb * 1024));
    // The backlog the agent shipped once the hub was back, and how fast.
    let backlog = o.bytes.saturating_sub(o.hub_bytes_at_kill);
    let shipping = o
        .resumed
        .map(|resumed| o.catch_up.saturating_sub(resumed))
        .filter(|took| !took.is_zero());
    format!(
        "### Hub down for {outage} s while a task floods {lines} lines\n\n\
         | measure | value |\n|---|---:|\n\
         | agent RSS, idle | {idle} |\n\
         | agent RSS before the outage (flood started) | {before} |\n\
         | agent RSS at the end of the outage | {end} |\n\
         | agent RSS after the catch-up | {after} |\n\
         | agent peak over the run | {peak:.1} MiB |\n\
         | **agent peak / idle RSS** | **{peak_ratio:.2}x** |\n\
         | spool on disk at the end of the outage | {spool:.1} MiB of {total:.1} MiB |\n\
         | hub restart → listening | {hub_boot:.0} ms |\n\
         | hub restart → first byte past the kill at the hub | {resumed} |\n\
         | hub restart → agent's status says connected | {reconnect} |\n\
         | **hub restart → hub holds all {bytes} bytes, byte-exact** | **{catch_up:.2} s** |\n\
         | backlog shipped ({backlog:.1} MiB), first byte → complete | {shipped} |\n\n\
         One release agent and hub. The idle RSS is read after the agent has been connected for {settle} s with \
         nothing to do. A task prints `seq 1 {lines}` in {batches} batches with sleeps between, over about \
         {flood_secs:.0} s, so that it is done before the hub returns. Once its first bytes reach the hub \
         ({at_kill} bytes were in), the hub gets SIGKILL, stays down {outage} s, and starts again on the same \
         address and data dir. RSS is VmRSS from /proc; the peak is the highest VmRSS or VmHWM read, sampled \
         every 100 ms through the outage and every {poll} ms through the catch-up (the kernel updates VmHWM \
         lazily). The spool is the size of the task's files under `HOST_DIR/tasks/<id>/logs/`. The catch-up runs \
         from the hub's spawn until the hub's log size equals the flood's; the log is then read back and \
         compared with `seq 1 {lines}` byte for byte, and the task must end `succeeded`. The agent retries with \
         jittered backoff capped at 30 s, so the first byte waits for the retry the task's shipper was \
         sleeping in when the hub came back; `connected` is the heartbeat's view, on its own backoff, so either \
         may come first.\n",
        poll = POLL.as_millis(),
        outage = o.outage_secs,
        lines = FLOOD_LINES,
        idle = rss(o.idle),
        before = rss(o.before),
        end = rss(o.end),
        after = rss(o.after),
        peak = mib(o.peak_kb * 1024),
        peak_ratio = o.peak_ratio(),
        spool = mib(o.spool_bytes),
        total = mib(o.bytes),
        hub_boot = ms(o.hub_boot),
        resumed = seconds(o.resumed),
        reconnect = seconds(o.reconnect),
        bytes = o.bytes,
        catch_up = o.catch_up.as_secs_f64(),
        backlog = mib(backlog),
        shipped = shipping.map_or("-".to_owned(), |took| format!(
            "{:.2} s ({:.1} MiB/s)",
            took.as_secs_f64(),
            mib(backlog) / took.as_secs_f64()
        )),
        settle = IDLE_SETTLE.as_secs(),
        batches = FLOOD_BATCHES,
        flood_secs = o.flood_secs,
        at_kill = o.hub_bytes_at_kill,
    )
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map_or("not seen".to_owned(), |d| {
        format!("{:.2} s", d.as_secs_f64())
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
