//! StatsD as the Semaphore agent publishes it, read on a real UDP socket:
//! the built `gantry agent start`, given the Semaphore agent's flag
//! spellings (`--stats-host`, `--stats-port`, `--statsd-namespace`), pulls
//! an image from the kit's registry (and fails to pull one that is not
//! there) and sends `compose_ci.docker_pull.*` tagged with the image, under
//! the namespace, beside Gantry's own names; its `--metrics-listen` page
//! counts the same pulls (cargo build -p gantry-cli first).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use gantry_protocol::TaskState;
use gantry_testkit::drive::built_gantry;
use gantry_testkit::prometheus::{parser_python, scrape};
use gantry_testkit::{AgentLaunch, Process, World, free_port, registry};

/// Every datagram that arrives within `within`, until `enough` holds.
fn receive(
    socket: &UdpSocket,
    within: Duration,
    enough: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut lines = Vec::new();
    let mut buffer = [0u8; 2048];
    while !enough(&lines) && Instant::now() < deadline {
        if let Ok(length) = socket.recv(&mut buffer) {
            lines.push(String::from_utf8_lossy(&buffer[..length]).into_owned());
        }
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pulls_go_to_statsd_under_the_semaphore_names_with_the_image() {
    let Some((address, user, password)) = registry() else {
        return;
    };
    let Some(world) = World::start().await else {
        return;
    };
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let token = world
        .hub
        .db()
        .add_node("statsd", &[], world.hub.now())
        .await
        .unwrap();
    let launch = AgentLaunch {
        gantry: built_gantry(),
        server: world.url.clone(),
        token,
        name: "statsd".into(),
        host_dir: world.dir.path().join("statsd"),
        config_home: world.dir.path().to_owned(),
        docker_host: std::env::var("DOCKER_HOST").ok(),
        args: [
            "--stats-host",
            "127.0.0.1",
            "--stats-port",
            &port,
            "--statsd-namespace",
            "agent.prod",
            "--stop-tasks-on-exit",
            "--metrics-listen",
            &listen,
        ]
        .map(str::to_owned)
        .to_vec(),
    };
    let mut command = launch.command();
    command
        .env("DOCKER_REGISTRY", &address)
        .env("DOCKER_LOGIN", &user)
        .env("DOCKER_PASSWORD", &password)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut agent = Process::spawn(&mut command).unwrap();

    let private = format!("{address}/gantry-test/busybox:1");
    let pulled = world
        .submit(&format!(
            "image: {private}\npull: always\ncommand: [echo, hi]\n"
        ))
        .await;
    assert_eq!(world.finished(&pulled).await.state, TaskState::Succeeded);
    let missing = format!("{address}/gantry-test/no-such-image:1");
    let refused = world
        .submit(&format!(
            "image: {missing}\npull: always\ncommand: ['true']\n"
        ))
        .await;
    assert_eq!(world.finished(&refused).await.state, TaskState::Failed);

    let success = format!("agent.prod.compose_ci.docker_pull.success.rate:1|c|#image:{private}");
    let failure = format!("agent.prod.compose_ci.docker_pull.failure.rate:1|c|#image:{missing}");
    // Gantry's own names go beside them, untagged.
    let mut expected: Vec<String> = vec![success, failure];
    expected.extend(
        [
            "agent.prod.docker.pull.success:1|c",
            "agent.prod.docker.pull.failure:1|c",
            "agent.prod.tasks.started:1|c",
            "agent.prod.tasks.finished:1|c",
            "agent.prod.tasks.failed:1|c",
        ]
        .map(str::to_owned),
    );
    // The time of each pull, in whole milliseconds, with its image.
    let timed = |lines: &[String], image: &str| {
        lines.iter().any(|line| {
            line.strip_prefix("agent.prod.compose_ci.docker_pull.duration:")
                .and_then(|rest| rest.strip_suffix(&format!("|ms|#image:{image}")))
                .is_some_and(|ms| ms.parse::<u64>().is_ok())
        })
    };
    let lines = receive(&socket, Duration::from_secs(20), |lines| {
        expected.iter().all(|line| lines.contains(line))
            && timed(lines, &private)
            && timed(lines, &missing)
    });
    for line in &expected {
        assert!(lines.contains(line), "{line} missing: {lines:#?}");
    }
    assert!(
        timed(&lines, &private),
        "no duration for {private}: {lines:#?}"
    );
    assert!(
        timed(&lines, &missing),
        "no duration for {missing}: {lines:#?}"
    );
    // The child's own page counts the same two pulls.
    if let Some(python) = parser_python() {
        let page = scrape(&python, &format!("http://{listen}/metrics")).await;
        for result in ["success", "failure"] {
            let pulls = page.value("gantry_agent_image_pulls_total", &[("result", result)]);
            assert_eq!(pulls, 1.0, "{result}");
        }
    }
    assert!(agent.terminate(Duration::from_secs(30)).is_some());
    world.stop().await;
}
