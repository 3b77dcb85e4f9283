//! `gantry node usage [NODE] [--since DATE] [--csv]`: what the tasks that
//! ended on the hub's nodes used (usage accounting), with the runs a node
//! gave back to the queue when it stepped aside, as a table by node, or
//! by day for one node; `--csv` for spreadsheets, in base units the header
//! names (seconds, watt-hours, bytes).

use std::process::ExitCode;

use anyhow::Context;
use gantry_agent::clock::now_ms;
use gantry_protocol::usage::{UsageTotals, parse_since};
use gantry_protocol::wire::Millis;

use crate::Remote;
use crate::task::client;

/// How far back the command looks without `--since`.
const DEFAULT_DAYS: i64 = 7;

/// The CSV columns after the first (`node` or `day`), in base units.
/// `released_runs` is last: it came later, and columns before it keep their places.
const CSV_FIGURES: &str = "tasks,wall_seconds,cpu_seconds,gpu_seconds,energy_wh,bytes_pulled,bytes_uploaded,bytes_downloaded,released_runs";

/// Reads `--since` (a date or RFC 3339 time); the last 7 days without one.
pub fn since(text: Option<&str>, now: Millis) -> anyhow::Result<Millis> {
    match text {
        Some(text) => parse_since(text).map_err(|why| anyhow::anyhow!("--since: {why}")),
        None => Ok(now - DEFAULT_DAYS * 86_400_000),
    }
}

/// Runs `gantry node usage`.
pub async fn run(
    node: Option<String>,
    since_text: Option<String>,
    csv: bool,
    remote: &Remote,
) -> anyhow::Result<ExitCode> {
    let since = since(since_text.as_deref(), now_ms())?;
    let hub = client(remote)?;
    let rows: Vec<(String, UsageTotals)> = match &node {
        Some(node) => {
            let usage = hub
                .node_usage(node, since)
                .await
                .with_context(|| format!("reading node {node}'s usage"))?;
            usage
                .days
                .into_iter()
                .map(|day| (day.day, day.totals))
                .collect()
        }
        None => {
            let mut rows = Vec::new();
            for listed in hub.nodes().await?.nodes {
                let usage = hub
                    .node_usage(&listed.id, since)
                    .await
                    .with_context(|| format!("reading node {}'s usage", listed.name))?;
                rows.push((listed.name, usage.totals));
            }
            rows
        }
    };
    let first = if node.is_some() { "day" } else { "node" };
    if csv {
        println!("{first},{CSV_FIGURES}");
        for (key, t) in &rows {
            println!("{}", csv_row(key, t));
        }
    } else {
        let since_text = gantry_protocol::clock_text::UtcTime::from_millis(since).to_minute();
        match &node {
            Some(node) => eprintln!("Usage of node {node} since {since_text}, by day (UTC):"),
            None => eprintln!("Usage by node since {since_text}:"),
        }
        print!("{}", table(first, &rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// One CSV line: the key (quoted when it must be) and the plain numbers.
fn csv_row(key: &str, t: &UsageTotals) -> String {
    let key = if key.contains([',', '"', '\n']) {
        format!("\"{}\"", key.replace('"', "\"\""))
    } else {
        key.to_owned()
    };
    format!(
        "{key},{},{},{},{},{},{},{},{},{}",
        t.tasks,
        t.wall_seconds,
        t.cpu_seconds,
        t.gpu_seconds,
        t.energy_wh,
        t.bytes_pulled,
        t.bytes_uploaded,
        t.bytes_downloaded,
        t.released_runs
    )
}

/// The table people read: hours, kWh and GB (10^9 bytes), and a total line.
fn table(first: &str, rows: &[(String, UsageTotals)]) -> String {
    let mut total = UsageTotals::default();
    for (_, t) in rows {
        total.add_totals(t);
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .chain([first.len(), "total".len()])
        .max()
        .unwrap_or(5);
    let header = [
        first.to_uppercase().as_str(),
        "TASKS",
        "GIVEN BACK",
        "WALL H",
        "CPU H",
        "GPU H",
        "KWH",
        "GB PULLED",
        "GB UPLOADED",
        "GB DOWNLOADED",
    ]
    .map(str::to_owned);
    let line = |cells: [String; 10]| {
        let mut text = format!("{:<width$}", cells[0]);
        for (cell, w) in cells[1..].iter().zip([5, 10, 8, 8, 8, 8, 9, 11, 13]) {
            text.push_str(&format!("  {cell:>w$}"));
        }
        text.trim_end().to_owned() + "\n"
    };
    let cells = |key: &str, t: &UsageTotals| {
        let gb = |b: u64| format!("{:.3}", b as f64 / 1e9);
        [
            key.to_owned(),
            t.tasks.to_string(),
            t.released_runs.to_string(),
            format!("{:.3}", t.wall_seconds / 3600.0),
            format!("{:.3}", t.cpu_seconds / 3600.0),
            format!("{:.3}", t.gpu_seconds / 3600.0),
            format!("{:.4}", t.energy_wh / 1000.0),
            gb(t.bytes_pulled),
            gb(t.bytes_uploaded),
            gb(t.bytes_downloaded),
        ]
    };
    let mut text = line(header);
    for (key, t) in rows {
        text.push_str(&line(cells(key, t)));
    }
    text.push_str(&line(cells("total", &total)));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_dates_and_defaults_to_a_week() {
        assert_eq!(since(None, 8 * 86_400_000).unwrap(), 86_400_000);
        assert_eq!(since(Some("1970-01-02"), 0).unwrap(), 86_400_000);
        assert!(
            since(Some("last week"), 0)
                .unwrap_err()
                .to_string()
                .starts_with("--since: \"last week\" is not a date")
        );
    }

    #[test]
    fn a_table_shows_hours_kwh_and_gb_with_a_total() {
        let t = UsageTotals {
            tasks: 2,
            released_runs: 1,
            wall_seconds: 7200.0,
            cpu_seconds: 1800.0,
            gpu_seconds: 3600.0,
            energy_wh: 500.0,
            bytes_pulled: 2_000_000_000,
            bytes_uploaded: 0,
            bytes_downloaded: 1_000_000,
        };
        let text = table("node", &[("gpu-box".into(), t.clone())]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("NODE"));
        let row: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(
            row,
            [
                "gpu-box", "2", "1", "2.000", "0.500", "1.000", "0.5000", "2.000", "0.000", "0.001"
            ]
        );
        assert!(lines[2].starts_with("total"));
        assert_eq!(
            csv_row("a,b", &t),
            "\"a,b\",2,7200,1800,3600,500,2000000000,0,1000000,1"
        );
    }
}
