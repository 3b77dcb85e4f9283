//! A node's image policy end to end (issue 19), with the real engine, a real
//! hub and the built `gantry`: a refused image fails with the sentence that
//! names the rule before anything is pulled; a node with a policy tells the
//! hub, which does not offer it the task but offers it to another node; and
//! `gantry node show` / `node list --json` show each node's policy.

use std::time::Duration;

use gantry_protocol::TaskState;
use gantry_protocol::image_policy::ImagePolicy;
use gantry_protocol::job::{Format, JobSpec};
use gantry_testkit::{World, image};
use tokio_util::sync::CancellationToken;

fn only(patterns: &[&str]) -> ImagePolicy {
    ImagePolicy {
        allowed: patterns.iter().map(|p| p.to_string()).collect(),
        pinned_only: false,
    }
}

/// Runs `gantry` with `args` against the world's hub as its admin.
async fn gantry(world: &World, args: &[&str]) -> String {
    let mut command = std::process::Command::new(gantry_testkit::drive::built_gantry());
    command
        .args(args)
        .env("GANTRY_SERVER", &world.url)
        .env("GANTRY_ADMIN_TOKEN", &world.admin_token);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_image_fails_before_any_pull_with_the_rule() {
    let Some(world) = World::start().await else {
        return;
    };
    let config = |policy: ImagePolicy| {
        let mut config = gantry_agent::config::AgentConfig::resolve(
            gantry_agent::config::Flags {
                host_dir: Some(world.dir.path().join("local")),
                ..Default::default()
            },
            &|name| std::env::var(name).ok().filter(|_| name == "DOCKER_HOST"),
            None,
        )
        .unwrap();
        config.image_policy = policy;
        config.pull_always = true;
        config
    };
    // An image no registry has: had it been pulled, the reason would be the pull's.
    let job = "image: gantry-test/never-pulled:1\ncommand: [\"true\"]\n";
    let spec = JobSpec::parse(job, Format::Yaml).unwrap();
    let refused = config(only(&["registry.example.com/**"]));
    let outcome = gantry_agent::node::run_local(refused, spec.clone(), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.state, TaskState::Failed);
    assert_eq!(
        outcome.reason.as_deref(),
        Some(
            "image docker.io/gantry-test/never-pulled:1 is not allowed here: this node takes only \
             images matching registry.example.com/**"
        )
    );
    let pinned = config(ImagePolicy {
        allowed: Vec::new(),
        pinned_only: true,
    });
    let outcome = gantry_agent::node::run_local(pinned, spec, CancellationToken::new())
        .await
        .unwrap();
    assert!(
        outcome.reason.as_deref().unwrap().ends_with(
            "this node takes only images pinned by digest (write the image as name@sha256:<64 hex digits>)"
        ),
        "{:?}",
        outcome.reason
    );
    // The image's own repository allowed: it runs.
    let repository = image().rsplit_once(':').map(|(r, _)| r.to_owned()).unwrap();
    let spec = JobSpec::parse(
        &format!("image: {}\ncommand: [\"true\"]\n", image()),
        Format::Yaml,
    )
    .unwrap();
    let mut allowed = config(only(&[&repository]));
    allowed.pull_always = false;
    let outcome = gantry_agent::node::run_local(allowed, spec, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(outcome.state, TaskState::Succeeded, "{:?}", outcome.reason);
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_hub_offers_a_refused_task_to_another_node() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world
        .agent("strict", &[], |config| {
            config.image_policy = only(&["registry.example.com/**"]);
        })
        .await;
    let id = world
        .submit(&format!(
            "image: {}\ncommand: [sh, -c, 'echo ran']\n",
            image()
        ))
        .await;
    let waiting = world
        .until(
            &id,
            |t| t.waiting.as_deref().is_some_and(|w| w.contains("images")),
            "to say the policy keeps it waiting",
        )
        .await;
    assert_eq!(waiting.state, TaskState::Queued);
    assert_eq!(
        waiting.waiting.as_deref(),
        Some(
            "no node can take it now (strict: it takes only images matching registry.example.com/**)"
        )
    );
    // A few polls later it is still queued: strict is never offered it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let task = world.admin.task(&id).await.unwrap();
    assert_eq!((task.state, task.node), (TaskState::Queued, None));

    let shown = gantry(&world, &["node", "show", "strict"]).await;
    assert!(
        shown.contains("images:       only registry.example.com/**"),
        "{shown}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&gantry(&world, &["node", "list", "--json"]).await).unwrap();
    assert_eq!(
        listed["nodes"][0]["image_policy"],
        serde_json::json!({"allowed": ["registry.example.com/**"]})
    );

    world.agent("open", &[], |_| {}).await;
    let task = world.finished(&id).await;
    assert_eq!(task.state, TaskState::Succeeded);
    assert_eq!(task.node.as_deref(), Some("open"));
    let shown = gantry(&world, &["node", "show", "open"]).await;
    assert!(shown.contains("images:       any image"), "{shown}");
    world.stop().await;
}

/// The flags reach the agent's settings: a bad value stops `gantry agent
/// start` with the sentence naming the flag, before it connects anywhere.
#[test]
fn bad_policy_and_hardening_flags_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, words) in [
        (&["--allowed-images", "Team/X"][..], "--allowed-images"),
        (&["--task-network", "lan"][..], "full, no-private or none"),
        (&["--task-pids-limit", "3"][..], "at least 16"),
        (
            &["--task-network-allow", "10.0.0.0/8"][..],
            "only --task-network no-private uses",
        ),
    ] {
        let out = std::process::Command::new(gantry_testkit::drive::built_gantry())
            .args([
                "agent",
                "start",
                "--server",
                "http://127.0.0.1:9",
                "--token",
                "x",
                "--host-dir",
            ])
            .arg(dir.path())
            .args(flags)
            .env("HOME", dir.path())
            .env_remove("GANTRY_CONFIG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(words),
            "{flags:?}: {stderr}"
        );
    }
}
