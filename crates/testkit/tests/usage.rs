//! Usage accounting on real parts: tasks on the real Docker engine (a
//! CPU-burning one and a sleeping one), their usage at the hub on SQLite and
//! PostgreSQL (`Task.usage`, `GET /v1/nodes/{node}/usage` with `since`), and
//! the built `gantry node usage` as text and CSV (cargo build -p gantry-cli
//! first, or set `GANTRY_BIN`). GPUs and pulls are in `usage_gpu.rs`.

use std::path::PathBuf;

use gantry_protocol::TaskState;
use gantry_protocol::usage::TaskUsage;
use gantry_testkit::desktop::cli_binary;
use gantry_testkit::services::{docker, image};
use gantry_testkit::{Backend, World, as_admin, on_both};

/// Burns one core for 3 to 4 s (busybox sh; whole seconds of `date`).
const BURN: &str = "end=$(($(date +%s)+4)); while [ $(date +%s) -lt $end ]; do :; done";

fn gantry() -> PathBuf {
    std::env::var_os("GANTRY_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(cli_binary)
}

async fn usage_of(world: &World, id: &str) -> TaskUsage {
    let task = world.finished(id).await;
    assert_eq!(task.state, TaskState::Succeeded, "{:?}", task.reason);
    task.usage
        .unwrap_or_else(|| panic!("task {id} has no usage at the hub"))
}

async fn cpu_and_sleep_usage_reach_the_hub_and_the_cli(backend: Backend) {
    let Some(mut world) = World::start_on(backend).await else {
        return;
    };
    world.agent("usage-node", &[], |_| {}).await;
    let cores: f64 = docker(&["info", "--format", "{{.NCPU}}"])
        .trim()
        .parse()
        .unwrap();
    let image = image();
    let burner = world
        .submit(&format!("image: {image}\ncommand: [sh, -c, '{BURN}']\n"))
        .await;
    let sleeper = world
        .submit(&format!("image: {image}\ncommand: [sleep, '3']\n"))
        .await;

    let burned = usage_of(&world, &burner).await;
    let cpu = burned.cpu_seconds.expect("a Docker task's CPU is measured");
    assert!(
        burned.wall_seconds >= 3.0,
        "it ran 3 s at least: {burned:?}"
    );
    assert!(
        cpu > 0.5 && cpu <= burned.wall_seconds * cores,
        "a busy loop uses CPU, at most wall × {cores} cores: {burned:?}"
    );
    assert!(burned.gpus.is_empty());
    let slept = usage_of(&world, &sleeper).await;
    let idle = slept.cpu_seconds.expect("a Docker task's CPU is measured");
    assert!(idle < 0.2, "sleeping uses next to no CPU: {slept:?}");
    assert!(slept.wall_seconds >= 3.0, "{slept:?}");

    // The node's totals and its day.
    let day_ago = world.hub.now() - 86_400_000;
    let usage = world.admin.node_usage("usage-node", day_ago).await.unwrap();
    assert_eq!(usage.totals.tasks, 2);
    assert!((usage.totals.cpu_seconds - (cpu + idle)).abs() < 1e-6);
    assert_eq!(usage.days.len(), 1);
    assert_eq!(
        usage.days[0].day,
        gantry_protocol::usage::utc_day(world.hub.now())
    );
    // Since a later time: nothing.
    let later = world
        .admin
        .node_usage("usage-node", world.hub.now() + 60_000)
        .await
        .unwrap();
    assert_eq!(later.totals.tasks, 0);
    assert!(later.days.is_empty());

    // `gantry node usage` and its CSV.
    let token = world
        .hub
        .db()
        .create_admin_token("cli", world.hub.now())
        .await
        .unwrap();
    let run = |args: &[&str]| {
        let output = as_admin(&gantry(), &world.url, &token)
            .args(["node", "usage"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let table = run(&[]);
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("usage-node"))
        .unwrap_or_else(|| panic!("no row for the node in\n{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], "2", "{table}");
    assert_eq!(row[2], "0", "no run given back: {table}");
    let cpu_hours: f64 = row[4].parse().unwrap();
    assert!((cpu_hours - (cpu + idle) / 3600.0).abs() < 0.001, "{table}");

    let csv = run(&["--csv"]);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "node",
            "tasks",
            "wall_seconds",
            "cpu_seconds",
            "gpu_seconds",
            "energy_wh",
            "bytes_pulled",
            "bytes_uploaded",
            "bytes_downloaded",
            "released_runs"
        ]
    );
    let row: Vec<&str> = lines
        .find(|l| l.starts_with("usage-node,"))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(row[1], "2");
    let csv_cpu: f64 = row[3].parse().unwrap();
    assert!((csv_cpu - (cpu + idle)).abs() < 1e-6, "{csv}");
    let wall: f64 = row[2].parse().unwrap();
    assert!(wall >= 6.0, "{csv}");

    // One node, by day; a date in the future counts nothing; nonsense is refused.
    let by_day = run(&["usage-node", "--csv", "--since", "2026-01-01"]);
    let rows: Vec<&str> = by_day.lines().collect();
    assert!(rows[0].starts_with("day,tasks,"), "{by_day}");
    assert_eq!(rows.len(), 2, "{by_day}");
    assert!(rows[1].starts_with(&format!(
        "{},2,",
        gantry_protocol::usage::utc_day(world.hub.now())
    )));
    let none = run(&["usage-node", "--csv", "--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(none.lines().count(), 1, "{none}");
    let refused = as_admin(&gantry(), &world.url, &token)
        .args(["node", "usage", "--since", "last tuesday"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("RFC 3339"), "{said}");
    world.stop().await;
}

on_both!(cpu_and_sleep_usage_reach_the_hub_and_the_cli);

/// The hub refuses figures no node could have measured, in words, and
/// answers an unknown node with how to list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_call_refuses_what_it_cannot_read() {
    let Some(world) = World::start().await else {
        return;
    };
    let unknown = world.admin.node_usage("nobody", 0).await.unwrap_err();
    assert!(
        unknown.to_string().contains("gantry node list"),
        "{unknown}"
    );
    let client = reqwest_free_get(&world, "/v1/nodes/nobody/usage?since=soon").await;
    assert!(client.contains("RFC 3339"), "{client}");
    world.stop().await;
}

/// A raw GET with the admin token, over a real socket (curl-less: the std
/// library's TcpStream), for a query the client would never send.
async fn reqwest_free_get(world: &World, path: &str) -> String {
    use std::io::{Read, Write};
    let address = world.url.trim_start_matches("http://").to_owned();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        world.admin_token
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap()
}
