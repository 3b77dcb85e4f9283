//! `bench console`: the hub's web console in Debian's Chromium against a
//! release hub holding 100,000 tasks: page load to the first tasks, a
//! filter by name, a log growing by 10,000 lines a second followed live,
//! and the console's weight. The browser part is ui/tests/console-e2e/bench.mjs,
//! which measures each figure beside its floor in the same page; this file
//! starts the hub, hands it the tokens and writes the section.

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, Result, bail};
use gantry_testkit::Scratch;
use serde_json::Value;

use crate::hub::{BenchHub, bench_hub, stop_hub};
use crate::record::{machine, stamp};
use crate::{built, say};

/// The options of `bench console`.
#[derive(Debug)]
pub struct Options {
    /// How many tasks the hub holds.
    pub tasks: u64,
    /// Whether to write the results into docs/benchmarks.md.
    pub record: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options {
            tasks: 100_000,
            record: true,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--tasks" => {
                    options.tasks = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .filter(|n| *n >= 2)
                        .context("--tasks needs a number of tasks, 2 or more")?;
                }
                "--no-record" => options.record = false,
                other => {
                    bail!("unknown option `{other}` for `bench console`; see `cargo xtask help`")
                }
            }
        }
        Ok(options)
    }
}

/// Runs the browser part against a fresh release hub; its figures as JSON.
pub async fn run(options: &Options) -> Result<Value> {
    let gantry = built("GANTRY_BENCH_CLI")?;
    let scratch = Scratch::named("bench-console")?;
    let BenchHub {
        hub,
        admin,
        mut nodes,
    } = bench_hub(&gantry, scratch.path(), &["bench-node"]).await?;
    let node = nodes.remove(0);
    let ui = Path::new("ui");
    say(format!(
        "bench console: {} tasks, then the browser",
        options.tasks
    ));
    // The browser part's progress goes to this stderr; its figures come on stdout.
    let child = tokio::process::Command::new("node")
        .arg("tests/console-e2e/bench.mjs")
        .current_dir(ui)
        .env("GANTRY_HUB_URL", hub.url(""))
        .env("GANTRY_ADMIN_TOKEN", &admin)
        .env("GANTRY_NODE_TOKEN", &node)
        .env("GANTRY_BENCH_TASKS", options.tasks.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run node (the console benchmark needs Node.js and ui/node_modules)")?;
    let output = child.wait_with_output().await?;
    stop_hub(hub, "bench console");
    if !output.status.success() {
        bail!(
            "the console benchmark's browser part failed ({})",
            output.status
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("the browser part printed {line:?}, not its figures"))
}

/// The section for docs/benchmarks.md.
pub fn report(figures: &Value) -> String {
    let ms = |value: &Value| value.as_f64().unwrap_or(f64::NAN);
    let ratio = |a: &Value, b: &Value| ms(a) / ms(b).max(0.1);
    let row = |what: &str, measured: &Value, floor: &Value, floor_what: &str| {
        format!(
            "| {what} | {:.0} ms | {:.1} ms ({floor_what}) | {:.1}x |\n",
            ms(measured),
            ms(floor),
            ratio(measured, floor)
        )
    };
    let load = &figures["load"];
    let filter = &figures["filter"];
    let log = &figures["log"];
    let weight = &figures["weight"];
    let kib = |value: &Value| ms(value) / 1024.0;
    format!(
        "<!-- bench console: begin (written by `cargo xtask bench console`; edits inside are overwritten) -->\n\
         ## Console: the hub's web console in Chromium\n\n\
         Recorded {stamp} on {machine}, {browser}, release hub with {tasks} tasks, all on loopback.\n\n\
         | measure | console | floor | ratio |\n|---|---:|---:|---:|\n\
         {load_row}{filter_row}\
         | a log of 10,000 lines/s for {secs} s: last line on screen behind the last sent (median / worst) | {lag:.0} ms / {lag_max:.0} ms | {floor_lag:.0} ms (a bare streaming fetch in the page) | |\n\
         | the same log: all {lines} lines on screen after the task ended | {caught:.0} ms | | |\n\
         | the same log: longest gap between frames | {gap:.0} ms | 16.7 ms (60 Hz) | {gap_ratio:.1}x |\n\
         | weight: JS + CSS, gzip | {console_kib:.1} KiB | {desktop_kib:.1} KiB (the desktop window's) | {weight_ratio:.2}x |\n\n\
         Median of 5 rounds each. Load: a new page at `#/tasks` (signed in) until its first task row shows, against \
         the same page's own `fetch('/v1/tasks?limit=100')`. Filter: typing the name one task in {tasks} carries \
         until the list holds only it (the field waits 300 ms after the last key), against that filtered fetch. \
         Log: the bench plays the node (node token, `POST /v1/tasks/{{id}}/log`) in 100 ms batches of 1,000 coloured \
         lines; the lag is read from the last `log-line` on screen every 500 ms.\n\
         <!-- bench console: end -->\n",
        stamp = stamp(),
        machine = machine(),
        browser = figures["browser"].as_str().unwrap_or("Chromium"),
        tasks = figures["tasks"],
        load_row = row(
            "page load to the first tasks",
            &load["console_ms"],
            &load["floor_ms"],
            "the page's fetch of 100 tasks"
        ),
        filter_row = row(
            "filter by name to the one match",
            &filter["console_ms"],
            &filter["floor_ms"],
            "the filtered fetch"
        ),
        secs = figures["log"]["lines"].as_f64().unwrap_or(0.0) / 10_000.0,
        lag = ms(&log["console_lag_ms"]),
        lag_max = ms(&log["console_lag_max_ms"]),
        floor_lag = ms(&log["floor_lag_ms"]),
        lines = log["lines"],
        caught = ms(&log["caught_up_ms"]),
        gap = ms(&log["longest_frame_gap_ms"]),
        gap_ratio = ms(&log["longest_frame_gap_ms"]) / 16.7,
        console_kib = kib(&weight["console_gzip_bytes"]),
        desktop_kib = kib(&weight["desktop_gzip_bytes"]),
        weight_ratio = ratio(&weight["console_gzip_bytes"], &weight["desktop_gzip_bytes"]),
    )
}
