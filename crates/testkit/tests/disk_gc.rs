//! `gantry agent gc [--dry-run] [--host-dir DIR]`, the built binary against
//! a host dir a real agent filled (images it pulled from the kit's registry,
//! finished task folders, a kept result) and the real engine: the dry run
//! removes nothing, the run removes exactly what the dry run printed, and
//! neither touches the person's image or a result the hub has not got.

mod disk_images;

use std::collections::BTreeSet;
use std::path::Path;

use disk_images::{build_and_push, forget, present, registry_login};
use gantry_agent::host::HostDir;
use gantry_protocol::TaskState;
use gantry_testkit::{World, image, until};

/// A budget of 1 kB, in GB.
const KB: &str = "0.000001";
/// A budget of 1 byte, in GB: the kept result (5 bytes) is over it.
const ONE_BYTE: &str = "0.000000001";

/// Runs `gantry agent gc` on `host_dir` with a budget of `max_gb` alone,
/// no config file and no hub; returns its stdout lines.
fn gc(host_dir: &Path, max_gb: &str, extra: &[&str]) -> Vec<String> {
    let config_home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(gantry_testkit::drive::built_gantry())
        .args(["agent", "gc", "--host-dir"])
        .arg(host_dir)
        .args([
            "--disk-max-gb",
            max_gb,
            "--disk-max-percent",
            "0",
            "--disk-min-free-gb",
            "0",
        ])
        .args(extra)
        .env("XDG_CONFIG_HOME", config_home.path())
        .env_remove("GANTRY_SERVER")
        .env_remove("GANTRY_TOKEN")
        .env_remove("GANTRY_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The lines naming things, without their verb; and the total line.
fn named(lines: &[String], verb: &str) -> (BTreeSet<String>, String) {
    let (total, items) = lines.split_last().expect("a total line");
    let items = items
        .iter()
        .map(|l| {
            l.strip_prefix(verb)
                .unwrap_or_else(|| panic!("{l:?} does not start with {verb:?}"))
                .to_owned()
        })
        .collect();
    (items, total.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dry_run_removes_nothing_and_a_run_removes_what_it_printed() {
    let Some((registry, login)) = registry_login() else {
        return;
    };
    let Some(mut world) = World::start().await else {
        return;
    };
    let a = build_and_push(&registry, &login, "gc-a", 2).await;
    let host_dir = world
        .agent("gc", &[], |config| {
            config.registries = vec![login.clone()];
            config.with_local_storage = true;
        })
        .await
        .host_dir
        .clone();
    let mut ids = Vec::new();
    for yaml in [
        format!("image: {}\ncommand: [\"true\"]\n", image()),
        format!("image: {}\ncommand: [\"true\"]\n", a.reference),
        format!(
            "image: {}\ncommand: [sh, -c, 'mkdir out && echo kept > out/r.txt']\noutputs: [out]\n",
            a.reference
        ),
    ] {
        let id = world.submit(&yaml).await;
        assert_eq!(world.finished(&id).await.state, TaskState::Succeeded);
        ids.push(id);
    }
    // gc runs beside the idle agent (the world's folder goes when it stops),
    // once it forgot the tasks (their records go after the hub's answer).
    let host = HostDir::open(&host_dir).unwrap();
    until(30, "the agent to forget the tasks", async || {
        ids.iter()
            .all(|id| !host.task_dir(id).join("task.json").exists())
            .then_some(())
    })
    .await;
    let kept = host.results(&ids[2]).join("out/r.txt");
    assert!(kept.is_file());

    let dry = gc(&host_dir, KB, &["--dry-run"]);
    let (would, total) = named(&dry, "would remove ");
    // Least recently used first, until within the budget: the first two
    // folders (nothing in them is kept: their logs are empty), then the
    // image (its last use was the third task's start), which is enough.
    assert!(total.starts_with("would remove 3 things"), "{dry:?}");
    let expected: Vec<String> = vec![
        format!("task folder {}", ids[0]),
        format!("task folder {}", ids[1]),
        format!("image {}", a.reference),
    ];
    let in_order: Vec<String> = dry[..dry.len() - 1]
        .iter()
        .map(|l| {
            let l = l.strip_prefix("would remove ").unwrap();
            l.rsplit_once(" (").unwrap().0.to_owned()
        })
        .collect();
    assert_eq!(in_order, expected, "{dry:?}");
    // Nothing went.
    assert!(present(&a.reference));
    for id in &ids {
        assert!(host.task_dir(id).exists());
    }

    let run = gc(&host_dir, KB, &[]);
    let (removed, _) = named(&run, "removed ");
    assert_eq!(removed, would, "gc removes what the dry run printed");
    assert!(!present(&a.reference));
    assert!(!host.task_dir(&ids[0]).exists() && !host.task_dir(&ids[1]).exists());
    assert!(host.task_dir(&ids[2]).exists(), "and nothing more");
    assert!(present(&image()), "the person's image stays");
    assert!(kept.is_file(), "a result the hub has not got stays");

    // Allowed, the result goes too.
    let run = gc(&host_dir, ONE_BYTE, &["--disk-evict-unsynced-results"]);
    let (removed, _) = named(&run, "removed ");
    assert!(
        removed
            .iter()
            .any(|l| l.starts_with(&format!("result {} (", ids[2]))),
        "{run:?}"
    );
    assert!(!kept.exists());
    world.stop().await;
    forget(&[&a]);
}
