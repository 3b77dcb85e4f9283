//! Task containers hardened (issue 19), each setting checked twice against
//! the real engine: with `docker inspect` on the running container, and from
//! inside it (a dropped capability really refused, the pids limit reached by
//! a fork loop, the read-only root refusing a write, no network at all, and
//! under `no-private` the host and its LAN unreachable while the hub is
//! reached). Each check has a control that shows it could fail: the same
//! act succeeding where the setting is off.

use std::time::Duration;

use gantry_agent::docker::hardening::{Hardening, TaskNetwork};
use gantry_testkit::{World, docker, image};
use serde_json::Value;

/// Waits until the task's log says `checked`, and returns the log and the
/// running container's `docker inspect`; then cancels the task.
async fn checked(world: &World, id: &str) -> (String, Value) {
    world
        .until(id, |t| t.state.is_terminal() || t.log_size > 0, "to start")
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let log = loop {
        let log = String::from_utf8(world.log(id).await).unwrap();
        if log.contains("checked") {
            break log;
        }
        let task = world.admin.task(id).await.unwrap();
        assert!(
            !task.state.is_terminal() && tokio::time::Instant::now() < deadline,
            "task {id} ended or stalled before its checks: {task:?}\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let inspected: Value = serde_json::from_str(&docker(&["inspect", &format!("gantry-{id}")]))
        .expect("docker inspect gives JSON");
    world.admin.cancel(id).await.unwrap();
    world.finished(id).await;
    (log, inspected[0].clone())
}

fn job(node: &str, script: &str) -> String {
    format!(
        "image: {}\nnode: {node}\ncommand: [sh, -c, {}]\n",
        image(),
        serde_json::to_string(script).unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn capabilities_are_dropped_but_the_few_added_back() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world.agent("box", &[], |_| {}).await;
    let id = world
        .submit(&job(
            "box",
            "grep CapEff /proc/self/status; touch /task/f && chown 1:1 /task/f && echo chown-ok; \
             mknod /null c 1 3 2>&1 || echo mknod-refused; echo checked; exec sleep 60",
        ))
        .await;
    let (log, inspected) = checked(&world, &id).await;
    let host = &inspected["HostConfig"];
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    let mut added: Vec<&str> = host["CapAdd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().trim_start_matches("CAP_"))
        .collect();
    added.sort();
    assert_eq!(
        added,
        [
            "CHOWN",
            "DAC_OVERRIDE",
            "FOWNER",
            "KILL",
            "SETGID",
            "SETUID"
        ]
    );
    // Bits 0, 1, 3, 5, 6, 7: CHOWN, DAC_OVERRIDE, FOWNER, KILL, SETGID, SETUID.
    assert!(log.contains("CapEff:\t00000000000000eb"), "{log}");
    assert!(log.contains("chown-ok"), "CHOWN is added back: {log}");
    assert!(
        log.contains("Operation not permitted") && log.contains("mknod-refused"),
        "{log}"
    );
    // The control: Docker's own defaults give MKNOD, so the same act succeeds there.
    let control = docker(&[
        "run",
        "--rm",
        &image(),
        "sh",
        "-c",
        "mknod /null c 1 3 && echo mknod-ok",
    ]);
    assert_eq!(control, "mknod-ok");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pids_limit_stops_a_fork_loop() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world
        .agent("box", &[], |config| config.hardening.pids_limit = 40)
        .await;
    world.agent("roomy", &[], |_| {}).await;
    // The loop runs in a subshell, so the shell itself survives the failed fork.
    let script = "(i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo all-forked) 2>&1; \
                  echo checked; exec sleep 60";
    let id = world.submit(&job("box", script)).await;
    let (log, inspected) = checked(&world, &id).await;
    assert_eq!(inspected["HostConfig"]["PidsLimit"], 40);
    assert!(log.contains("can't fork"), "{log}");
    assert!(
        !log.contains("all-forked"),
        "200 processes under a limit of 40: {log}"
    );
    // The control: under the default limit (4096) the same loop forks them all.
    let id = world.submit(&job("roomy", script)).await;
    let (log, inspected) = checked(&world, &id).await;
    assert_eq!(inspected["HostConfig"]["PidsLimit"], 4096);
    assert!(
        log.contains("all-forked") && !log.contains("can't fork"),
        "{log}"
    );
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_only_root_refuses_writes_but_tmp_and_the_task_folder() {
    let Some(mut world) = World::start().await else {
        return;
    };
    world
        .agent("ro", &[], |config| config.hardening.read_only_root = true)
        .await;
    world.agent("rw", &[], |_| {}).await;
    let script = "touch /etc/gantry-x 2>&1 || echo root-refused; touch /tmp/x && echo tmp-ok; \
                  echo kept > /task/out.txt && echo task-ok; echo checked; exec sleep 60";
    let id = world.submit(&job("ro", script)).await;
    let (log, inspected) = checked(&world, &id).await;
    assert_eq!(inspected["HostConfig"]["ReadonlyRootfs"], true);
    assert!(
        inspected["HostConfig"]["Tmpfs"]["/tmp"].is_string(),
        "{inspected}"
    );
    assert!(
        log.contains("Read-only file system") && log.contains("root-refused"),
        "{log}"
    );
    assert!(log.contains("tmp-ok") && log.contains("task-ok"), "{log}");
    // The control: without the setting the same write succeeds.
    let id = world.submit(&job("rw", script)).await;
    let (log, inspected) = checked(&world, &id).await;
    assert_eq!(inspected["HostConfig"]["ReadonlyRootfs"], false);
    assert!(!log.contains("root-refused"), "{log}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn network_none_leaves_only_loopback() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let gateway = bridge_gateway();
    world
        .agent("cut", &[], |config| {
            config.hardening.network = TaskNetwork::None
        })
        .await;
    world.agent("open", &[], |_| {}).await;
    let script = format!(
        "echo interfaces: $(ls /sys/class/net); \
         echo gateway: $(nc -w 3 {gateway} 1 </dev/null 2>&1); echo checked; exec sleep 60"
    );
    let id = world.submit(&job("cut", &script)).await;
    let (log, inspected) = checked(&world, &id).await;
    assert_eq!(inspected["HostConfig"]["NetworkMode"], "none");
    assert!(log.contains("interfaces: lo\n"), "{log}");
    assert!(log.contains("Network is unreachable"), "{log}");
    // The control: on Docker's bridge the same container has eth0, and its
    // gateway answers (a refused port is an answer).
    let id = world.submit(&job("open", &script)).await;
    let (log, _) = checked(&world, &id).await;
    assert!(log.contains("eth0"), "{log}");
    assert!(!log.contains("Network is unreachable"), "{log}");

    // A task with a service still reaches it, on an internal network.
    let id = world
        .submit(&format!(
            "image: {image}\nnode: cut\n\
             services: [{{name: echo, image: {image}, command: [sh, -c, 'while true; do echo from-service | nc -l -p 7000; done']}}]\n\
             command: [sh, -c, 'sleep 1; echo service: $(nc -w 3 echo 7000 </dev/null); \
             echo gateway: $(nc -w 3 {gateway} 1 </dev/null 2>&1); echo checked; exec sleep 60']\n",
            image = image()
        ))
        .await;
    let (log, inspected) = checked(&world, &id).await;
    assert!(log.contains("service: from-service"), "{log}");
    assert!(
        log.contains("gateway: nc: timed out"),
        "an internal network leads nowhere, not even to the host: {log}"
    );
    assert_eq!(
        inspected["HostConfig"]["NetworkMode"],
        format!("gantry-{id}")
    );
    world.stop().await;
}

/// Docker's default bridge's gateway: the host's address on `docker0`.
fn bridge_gateway() -> String {
    docker(&[
        "network",
        "inspect",
        "bridge",
        "-f",
        "{{(index .IPAM.Config 0).Gateway}}",
    ])
}

/// A private LAN beside the host: a network namespace joined to it by a veth
/// pair, the host at `.1` and a web server (busybox httpd) in the namespace
/// at `.2`. Removed when dropped.
struct Lan {
    namespace: String,
    prefix: String,
    server: std::process::Child,
    _root: tempfile::TempDir,
}

impl Lan {
    fn start() -> Option<Lan> {
        if !gantry_testkit::netns::Hosts::available() {
            assert!(!gantry_testkit::required(), "no-private needs root and ip");
            eprintln!("skipped: making a LAN needs root and iproute2");
            return None;
        }
        let n = std::process::id() % 200 + 20;
        let (namespace, prefix) = (format!("gantry-lan-{n}"), format!("10.254.{n}"));
        let ip = |args: &[&str]| {
            let status = std::process::Command::new("ip")
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "ip {args:?}");
        };
        let host_end = format!("glan{n}h");
        // What a killed run of this test left behind.
        for args in [["netns", "del", &namespace], ["link", "del", &host_end]] {
            let _ = std::process::Command::new("ip")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status();
        }
        ip(&["netns", "add", &namespace]);
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", "eth-lan", "netns",
            &namespace,
        ]);
        ip(&["addr", "add", &format!("{prefix}.1/24"), "dev", &host_end]);
        ip(&["link", "set", &host_end, "up"]);
        ip(&[
            "-n",
            &namespace,
            "addr",
            "add",
            &format!("{prefix}.2/24"),
            "dev",
            "eth-lan",
        ]);
        ip(&["-n", &namespace, "link", "set", "eth-lan", "up"]);
        ip(&["-n", &namespace, "link", "set", "lo", "up"]);
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("banner"), "lan-listener\n").unwrap();
        let server = std::process::Command::new("ip")
            .args(["netns", "exec", &namespace, "busybox", "httpd", "-f", "-p"])
            .arg(format!("{prefix}.2:8078"))
            .arg("-h")
            .arg(root.path())
            .spawn()
            .unwrap();
        Some(Lan {
            namespace,
            prefix,
            server,
            _root: root,
        })
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.namespace])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_private_reaches_the_hub_but_not_the_host_nor_its_lan() {
    let Some(mut world) = World::start().await else {
        return;
    };
    let Some(lan) = Lan::start() else {
        return;
    };
    // The hub also on the host's docker0 address: the agent talks to it there,
    // so that address is the hub's host, which no-private lets tasks reach.
    let gateway = bridge_gateway();
    let listener = tokio::net::TcpListener::bind((gateway.as_str(), 0))
        .await
        .unwrap();
    let hub_address = listener.local_addr().unwrap();
    let serving = tokio::spawn(gantry_hub::serve(
        listener,
        world.hub.clone(),
        std::future::pending(),
    ));
    // A listener of the host's own on its LAN address.
    let host = tokio::net::TcpListener::bind((format!("{}.1", lan.prefix).as_str(), 0))
        .await
        .unwrap();
    let host_port = host.local_addr().unwrap().port();
    let answering = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = host.accept().await else {
                return;
            };
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"host-listener\n").await;
        }
    });
    world
        .agent("private", &[], |config| {
            config.server = Some(format!("http://{hub_address}"));
            config.allow_insecure_http = true;
            config.hardening = Hardening {
                network: TaskNetwork::NoPrivate,
                ..Hardening::default()
            };
        })
        .await;
    world.agent("full", &[], |_| {}).await;
    // nc may quit when its input ends: the input stays open while the answer comes.
    let script = format!(
        "get() {{ (printf 'GET /%s HTTP/1.0\\r\\n\\r\\n' $3; sleep 3) | nc -w 3 $1 $2 2>&1 | tr '\\r\\n' '  '; }}; \
         echo hub: $(get {hub_ip} {hub_port} v1/nodes); \
         echo host: $(nc -w 3 {prefix}.1 {host_port} </dev/null 2>&1); \
         echo lan: $(get {prefix}.2 8078 banner); echo checked; exec sleep 60",
        hub_ip = hub_address.ip(),
        hub_port = hub_address.port(),
        prefix = lan.prefix
    );

    let id = world.submit(&job("private", &script)).await;
    let (log, inspected) = checked(&world, &id).await;
    assert_eq!(inspected["HostConfig"]["NetworkMode"], "gantry-no-private");
    assert!(
        log.contains("hub: HTTP/1.0 401 Unauthorized"),
        "the hub answers: {log}"
    );
    assert!(
        !log.contains("host-listener"),
        "the host is not reachable: {log}"
    );
    assert!(
        !log.contains("lan-listener"),
        "the LAN is not reachable: {log}"
    );
    let rules = std::process::Command::new("iptables")
        .args(["-S", "DOCKER-USER"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&rules.stdout).contains("-i gantryp+ -j GANTRY-NO-PRIVATE"),
        "the jump is in DOCKER-USER"
    );

    // A firewall reload that drops the rules: the next task's container puts them back.
    for args in [
        &[
            "-D",
            "DOCKER-USER",
            "-i",
            "gantryp+",
            "-j",
            "GANTRY-NO-PRIVATE",
        ][..],
        &[
            "-D",
            "INPUT",
            "-i",
            "gantryp+",
            "-j",
            "GANTRY-NO-PRIVATE-HOST",
        ],
        &["-F", "GANTRY-NO-PRIVATE"],
        &["-F", "GANTRY-NO-PRIVATE-HOST"],
    ] {
        let status = std::process::Command::new("iptables")
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "iptables {args:?}");
    }
    let id = world.submit(&job("private", &script)).await;
    let (log, _) = checked(&world, &id).await;
    assert!(log.contains("hub: HTTP/1.0 401 Unauthorized"), "{log}");
    assert!(
        !log.contains("host-listener") && !log.contains("lan-listener"),
        "rules back: {log}"
    );

    // The control: on Docker's bridge both answer.
    let id = world.submit(&job("full", &script)).await;
    let (log, _) = checked(&world, &id).await;
    assert!(log.contains("host: host-listener"), "{log}");
    assert!(log.contains(" lan-listener"), "{log}");

    world.stop().await;
    serving.abort();
    answering.abort();
    let _ = docker(&["network", "rm", "gantry-no-private"]);
    drop(lan);
}
